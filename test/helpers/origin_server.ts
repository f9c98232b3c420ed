import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** A real HTTP origin for read-through tests: counts requests per path and answers via `handler`. */
export interface OriginServer {
  url: string;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  /** Total requests seen. */
  total(): number;
  /** Replaces the request handler. */
  handle(handler: (request: IncomingMessage, response: ServerResponse) => void): void;
  close(): Promise<void>;
}

/** Starts an origin on 127.0.0.1 with an ephemeral port. */
export async function startOriginServer(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<OriginServer> {
  let current = handler;
  const hits = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const path = request.url ?? "/";
    hits.set(path, (hits.get(path) ?? 0) + 1);
    current(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    hits,
    total: () => [...hits.values()].reduce((sum, n) => sum + n, 0),
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
