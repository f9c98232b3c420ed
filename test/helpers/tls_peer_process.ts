/**
 * A TLS transport in a child process, driven over stdin/stdout so a test on one runtime can run the
 * transport contract against `createTlsTransport` on the other (a Bun node talking to a Deno node).
 * Usage: `<runtime> tls_peer_process.ts <cert.pem> <key.pem> <ca.pem>`; the parent side is
 * `remote_transport.ts`. One JSON message per line; bytes travel as base64.
 *
 * Parent to child: {op:"listen", id, host, port} | {op:"unlisten", id, listener} |
 *   {op:"connect", id, host, port, timeoutMs} | {op:"write", conn, data} | {op:"close", conn}
 * Child to parent: {op:"ready"} | {op:"reply", id, port?, conn?, peerIdentity?, remoteAddress?, error?} |
 *   {op:"accepted", listener, conn, peerIdentity, remoteAddress} | {op:"data", conn, data} | {op:"closed", conn, error?}
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import type { Connection, TransportListener } from "../../src/cluster/transport.ts";
import { createTlsTransport } from "../../src/runtime/node_tls.ts";

const [certPath, keyPath, caPath] = process.argv.slice(2);
const transport = createTlsTransport({ cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), ca: readFileSync(caPath, "utf8") });
const listeners = new Map<number, TransportListener>();
const connections = new Map<number, Connection>();
let nextConn = 1;

function send(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function errorOf(error: unknown): { code?: string; message: string } {
  return { code: (error as { code?: string }).code, message: String((error as Error).message ?? error) };
}

/** Numbers a connection, announces it, and only then forwards its bytes, so the parent knows it first. */
function adopt(connection: Connection, announce: (conn: number) => void): void {
  const conn = nextConn++;
  connections.set(conn, connection);
  announce(conn);
  connection.onData((chunk) => send({ op: "data", conn, data: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("base64") }));
  connection.onClose((error) => {
    connections.delete(conn);
    send({ op: "closed", conn, error: error?.message });
  });
}

async function handle(message: Record<string, any>): Promise<void> {
  const { op, id } = message;
  try {
    if (op === "listen") {
      const listener = await transport.listen({ host: message.host, port: message.port }, (connection) =>
        adopt(connection, (conn) => send({ op: "accepted", listener: id, conn, peerIdentity: connection.peerIdentity, remoteAddress: connection.remoteAddress })));
      listeners.set(id, listener);
      send({ op: "reply", id, port: listener.port });
    } else if (op === "unlisten") {
      await listeners.get(message.listener)?.close();
      listeners.delete(message.listener);
      send({ op: "reply", id });
    } else if (op === "connect") {
      const connection = await transport.connect({ host: message.host, port: message.port }, message.timeoutMs);
      adopt(connection, (conn) => send({ op: "reply", id, conn, peerIdentity: connection.peerIdentity, remoteAddress: connection.remoteAddress }));
    } else if (op === "write") {
      connections.get(message.conn)?.write(Buffer.from(message.data, "base64"));
    } else if (op === "close") {
      connections.get(message.conn)?.close();
    }
  } catch (error) {
    send({ op: "reply", id, error: errorOf(error) });
  }
}

createInterface({ input: process.stdin }).on("line", (line) => void handle(JSON.parse(line))).on("close", () => process.exit(0));
send({ op: "ready" });
