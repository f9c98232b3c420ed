import { hostname } from "node:os";
import process from "node:process";
import { createTlsTransport } from "./node_tls.ts";
import type { HttpServer, Runtime } from "./runtime.ts";

// Typed loosely on purpose: this file is type-checked by Deno too, which has no Bun types.
declare const Bun: any;

/** The Runtime on Bun: `Bun.serve` for HTTP, process signals, Bun's file API. */
export const bunRuntime: Runtime = {
  name: "bun",
  version: typeof Bun === "undefined" ? "unknown" : Bun.version,
  args: () => process.argv.slice(2),
  env: () => ({ ...process.env }),
  hostname: () => hostname(),
  async serve(options): Promise<HttpServer> {
    const server = Bun.serve({
      hostname: options.hostname,
      port: options.port,
      maxRequestBodySize: options.maxRequestBodyBytes,
      idleTimeout: options.idleTimeoutSeconds,
      fetch(request: Request, bunServer: any) {
        // requestIP() costs more than the rest of a cache hit; only audits need it, so ask lazily.
        return options.fetch(request, {
          get remoteAddress() {
            return bunServer.requestIP(request)?.address ?? "unknown";
          },
        });
      },
    });
    return {
      port: server.port,
      stopAccepting() {
        // stop(false) closes the listener and lets in-flight requests finish.
        void server.stop(false);
      },
      async close() {
        await server.stop(true);
      },
    };
  },
  tlsTransport: (credentials) => createTlsTransport(credentials),
  onShutdownSignal(handler) {
    process.on("SIGTERM", () => handler("SIGTERM"));
    process.on("SIGINT", () => handler("SIGINT"));
  },
  readTextFile: (path) => Bun.file(path).text(),
  writeStdout: (text) => void process.stdout.write(text),
  writeStderr: (text) => void process.stderr.write(text),
  memoryUsage: () => {
    const usage = process.memoryUsage();
    return { rss: usage.rss, heapUsed: usage.heapUsed };
  },
  exit: (code) => process.exit(code),
};
