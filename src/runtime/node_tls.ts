/**
 * The production peer transport: mutual TLS 1.3 over `node:tls`, which both Bun and Deno implement
 * with client-certificate checks (Deno's own `listenTls` cannot ask for a client certificate).
 * Identity is the certificate's subject CN, never the host name: nodes are addressed by host:port
 * that certificates need not name, and the peer link compares the CN with the node id announced in
 * its handshake.
 */
import type { AddressInfo, Socket } from "node:net";
import { clearTimeout, setTimeout } from "node:timers";
import { connect as tlsConnect, createServer, type TLSSocket } from "node:tls";
import type { Connection, TlsCredentials, Transport, TransportAddress, TransportListener } from "../cluster/transport.ts";
import { PeerUnavailable } from "../core/errors.ts";

/** Idle time before the first TCP keep-alive probe: heartbeats find dead peers first, this is a backstop. */
const KEEP_ALIVE_DELAY_MS = 30_000;
/** After close(), a peer that does not finish the graceful shutdown is cut off after this long. */
const CLOSE_GRACE_MS = 2_000;

/** The subject CN of the peer's verified certificate, or undefined when there is none. */
function peerCommonName(socket: TLSSocket): string | undefined {
  const cn = socket.getPeerCertificate()?.subject?.CN as unknown;
  // A subject with several CNs identifies no one node.
  return typeof cn === "string" && cn !== "" ? cn : undefined;
}

/** Wraps an authenticated socket in the transport's Connection shape. */
function wrap(socket: TLSSocket): Connection {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
  const peerIdentity = peerCommonName(socket);
  const remoteAddress = `${socket.remoteAddress ?? "unknown"}:${socket.remotePort ?? 0}`;
  const dataListeners: Array<(chunk: Uint8Array) => void> = [];
  const closeListeners: Array<(error?: Error) => void> = [];
  // Bytes that arrive before anyone listens wait here instead of being lost.
  let early: Uint8Array[] | undefined = [];
  let closed = false;
  let closeError: Error | undefined;

  socket.on("data", (buffer: Uint8Array) => {
    // A plain view over the Buffer's memory: callers get a Uint8Array on every runtime, no copy.
    const chunk = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (early) early.push(chunk);
    else for (const listener of dataListeners) listener(chunk);
  });
  socket.on("error", (error: Error) => {
    closeError ??= error;
  });
  socket.on("close", () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener(closeError);
  });

  return {
    peerIdentity,
    remoteAddress,
    write(bytes) {
      if (closed || socket.destroyed) return false;
      return socket.write(bytes);
    },
    onData(listener) {
      dataListeners.push(listener);
      const pending = early;
      early = undefined;
      if (pending) for (const chunk of pending) listener(chunk);
    },
    onDrain(listener) {
      socket.on("drain", listener);
    },
    onClose(listener) {
      if (closed) queueMicrotask(() => listener(closeError));
      else closeListeners.push(listener);
    },
    close() {
      if (closed || socket.destroyed) return;
      // end() flushes what was written and sends close_notify; the timer bounds a peer that never answers.
      socket.end();
      const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
      timer.unref();
      socket.once("close", () => clearTimeout(timer));
    },
  };
}

/** Tuning of `createTlsTransport`. */
export interface TlsTransportOptions {
  /**
   * A client that has not completed the TLS handshake this long after connecting is dropped, so
   * silent or slow strangers cannot hold sockets open.
   * @default 10000
   */
  handshakeTimeoutMs?: number;
}

/**
 * Creates the mutual-TLS transport for one node. Both directions present `credentials.cert` and
 * accept only peers whose certificate chains to `credentials.ca`; TLS 1.3 only. `Connection.peerIdentity`
 * is the peer certificate's subject CN. `connect` rejects with `PeerUnavailable` (code
 * "peer_unavailable") when the peer is unreachable, refuses us or does not finish the handshake in time.
 */
export function createTlsTransport(credentials: TlsCredentials, options: TlsTransportOptions = {}): Transport {
  const handshakeTimeout = options.handshakeTimeoutMs ?? 10_000;
  const tlsOptions = {
    key: credentials.key,
    cert: credentials.cert,
    ca: credentials.ca,
    minVersion: "TLSv1.3" as const,
  };

  return {
    listen(address: TransportAddress, onConnection: (connection: Connection) => void): Promise<TransportListener> {
      const server = createServer({ ...tlsOptions, requestCert: true, rejectUnauthorized: true, handshakeTimeout });
      server.on("secureConnection", (socket: TLSSocket) => {
        // rejectUnauthorized already refuses bad client certificates; this guards the guarantee itself.
        if (socket.authorized !== true || peerCommonName(socket) === undefined) {
          socket.destroy();
          return;
        }
        onConnection(wrap(socket));
      });
      // Bun 1.4 and Deno 2.9 leave a socket whose handshake timed out open: close it here.
      server.on("tlsClientError", (_error: Error, socket: Socket) => socket.destroy());
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(address.port, address.host, () => {
          server.off("error", reject);
          server.on("error", () => {});
          const port = (server.address() as AddressInfo).port;
          resolve({
            port,
            // Stops accepting at once; connections already handed out stay open for their owner.
            // (Waiting for server.close's callback would wait for every one of them to end.)
            close: async () => void server.close(),
          });
        });
      });
    },

    connect(address: TransportAddress, timeoutMs: number): Promise<Connection> {
      return new Promise((resolve, reject) => {
        const target = `${address.host}:${address.port}`;
        let settled = false;
        const fail = (reason: string, cause?: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          reject(new PeerUnavailable(`Cannot connect to peer ${target} as it must ${reason}`, { cause }));
        };
        const socket = tlsConnect({
          ...tlsOptions,
          host: address.host,
          port: address.port,
          rejectUnauthorized: true,
          // Identity is the certificate CN, checked by the peer link, not the address we dialled.
          checkServerIdentity: () => undefined,
        });
        const timer = setTimeout(() => fail(`complete the TLS handshake within ${timeoutMs}ms`), timeoutMs);
        socket.on("error", (error: Error) => fail(`accept a TLS connection: ${error.message}`, error));
        socket.once("close", () => fail("keep the connection open during the handshake"));
        socket.once("secureConnect", () => {
          if (settled) return;
          if (socket.authorized !== true || peerCommonName(socket) === undefined) {
            fail(`present a certificate signed by the cluster CA: ${String(socket.authorizationError)}`);
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve(wrap(socket));
        });
      });
    },
  };
}
