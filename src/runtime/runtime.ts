/**
 * The only seam between edgecache and its JavaScript runtime. Everything outside `src/runtime/`
 * and `src/main.ts` is runtime-free and reaches Bun or Deno only through this interface
 * (test/unit/runtime_boundary.test.ts enforces that).
 */

import type { TlsCredentials, Transport } from "../cluster/transport.ts";

/** Per-connection facts the runtime knows about a request. */
export interface ConnectionInfo {
  /** The client's IP address, or "unknown". May be computed on first read: read it only when needed. */
  readonly remoteAddress: string;
}

/** A request handler in the web-standard shape both runtimes serve. */
export type FetchHandler = (request: Request, info: ConnectionInfo) => Response | Promise<Response>;

/** How to serve HTTP. */
export interface ServeOptions {
  hostname: string;
  /** 0 asks for an ephemeral port. */
  port: number;
  fetch: FetchHandler;
  /** Bodies above this are refused by the runtime before the handler reads them (where it can). */
  maxRequestBodyBytes: number;
  /** Idle keep-alive connections close after this many seconds (where the runtime can). */
  idleTimeoutSeconds: number;
}

/** A listening HTTP server. */
export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /**
   * Stops accepting new connections where the runtime can do so without disturbing in-flight
   * requests (Bun); elsewhere (Deno) a no-op, and the app refuses new requests while draining.
   */
  stopAccepting(): void;
  /** Closes every connection at once. */
  close(): Promise<void>;
}

/** The runtime's services, injected into the node. */
export interface Runtime {
  /** "bun" or "deno". */
  readonly name: string;
  /** The runtime's own version string. */
  readonly version: string;
  /** Command-line arguments after the program name. */
  args(): string[];
  /** A snapshot of the environment. */
  env(): Record<string, string | undefined>;
  /** The machine's host name. */
  hostname(): string;
  /** Starts an HTTP server. */
  serve(options: ServeOptions): Promise<HttpServer>;
  /** The mutual-TLS transport of peer links (node:tls on both runtimes; Deno's listenTls cannot ask for client certificates). */
  tlsTransport(credentials: TlsCredentials): Transport;
  /** Calls `handler` once per SIGTERM or SIGINT. */
  onShutdownSignal(handler: (signal: "SIGTERM" | "SIGINT") => void): void;
  /** Reads a UTF-8 file. */
  readTextFile(path: string): Promise<string>;
  /** Writes text to standard output. */
  writeStdout(text: string): void;
  /** Writes text to standard error. */
  writeStderr(text: string): void;
  /** Resident set size and JS heap in use, in bytes. */
  memoryUsage(): { rss: number; heapUsed: number };
  /** Ends the process. */
  exit(code: number): never;
}
