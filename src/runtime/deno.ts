import { createTlsTransport } from "./node_tls.ts";
import type { HttpServer, Runtime } from "./runtime.ts";

// Typed loosely on purpose: this file is bundled by Bun too, which has no Deno types.
declare const Deno: any;

const encoder = new TextEncoder();

/** Writes all of `text`: writeSync may accept only part of a large buffer. */
function writeAll(stream: { writeSync(bytes: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

/** The Runtime on Deno: `Deno.serve` for HTTP, Deno signal listeners and file API. */
export const denoRuntime: Runtime = {
  name: "deno",
  version: typeof Deno === "undefined" ? "unknown" : Deno.version.deno,
  args: () => [...Deno.args],
  env: () => Deno.env.toObject(),
  hostname: () => Deno.hostname(),
  async serve(options): Promise<HttpServer> {
    const listening = Promise.withResolvers<number>();
    const server = Deno.serve(
      {
        hostname: options.hostname,
        port: options.port,
        onListen: (address: { port: number }) => listening.resolve(address.port),
        onError: () =>
          new Response('{"error":{"code":"internal","message":"internal error"}}', {
            status: 500,
            headers: { "content-type": "application/json", "x-request-id": crypto.randomUUID() },
          }),
      },
      (request: Request, info: { remoteAddr?: { hostname?: string } }) =>
        options.fetch(request, { remoteAddress: info.remoteAddr?.hostname ?? "unknown" }),
    );
    const port = await listening.promise;
    let shutdown: Promise<void> | undefined;
    return {
      port,
      stopAccepting() {
        // Deno cannot close its listener alone: shutdown() also cuts off the bodies of in-flight
        // requests ("underlying resource unavailable"). So the listener stays open while the node
        // drains and the app answers new requests with 503 and Connection: close instead.
      },
      async close() {
        shutdown ??= server.shutdown();
        // Deno has no forced close: bound the wait, the process exits right after anyway.
        await Promise.race([shutdown, new Promise((resolve) => setTimeout(resolve, 1000))]);
      },
    };
  },
  tlsTransport: (credentials) => createTlsTransport(credentials),
  onShutdownSignal(handler) {
    Deno.addSignalListener("SIGTERM", () => handler("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => handler("SIGINT"));
  },
  readTextFile: (path) => Deno.readTextFile(path),
  writeStdout: (text) => writeAll(Deno.stdout, text),
  writeStderr: (text) => writeAll(Deno.stderr, text),
  memoryUsage: () => {
    const usage = Deno.memoryUsage();
    return { rss: usage.rss, heapUsed: usage.heapUsed };
  },
  exit: (code) => Deno.exit(code) as never,
};
