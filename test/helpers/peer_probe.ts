/**
 * A hostile peer for tests: connects to a node's peer port (over TLS with any certificate, or in
 * plaintext), sends hand-built frames and records everything that comes back. Frames are built
 * with cbor-x directly, not with the code under test, so a bug in the node's encoder cannot hide a
 * bug in its decoder.
 */
import { Buffer } from "node:buffer";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Decoder, Encoder } from "cbor-x";
import { PROTOCOL_VERSION } from "../../src/cluster/frames.ts";

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });

/** A length-prefixed (4-byte big-endian) CBOR frame, as peers exchange them. */
export function frame(value: unknown): Uint8Array {
  const body = encoder.encode(value);
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength);
  out.set(body, 4);
  return out;
}

/** The handshake a dialling node sends first. */
export function helloFrame(fields: { node: string; cluster?: string; v?: number; peer?: string; http?: string }): Uint8Array {
  return frame({
    t: "hello",
    v: fields.v ?? PROTOCOL_VERSION,
    cluster: fields.cluster ?? "edgecache",
    node: fields.node,
    peer: fields.peer ?? "127.0.0.1:9",
    http: fields.http ?? "127.0.0.1:9",
  });
}

/**
 * Every complete frame in `bytes`, decoded. Bytes that do not form a whole frame (a TLS alert read
 * as a length prefix, a truncated tail) yield nothing; a body that is not CBOR yields an error marker.
 */
export function parseFrames(bytes: Uint8Array): unknown[] {
  const frames: unknown[] = [];
  let offset = 0;
  while (bytes.byteLength - offset >= 4) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0);
    if (length === 0 || bytes.byteLength - offset - 4 < length) break;
    try {
      frames.push(new Decoder({ useRecords: false, mapsAsObjects: true }).decode(bytes.subarray(offset + 4, offset + 4 + length)));
    } catch {
      frames.push({ t: "<undecodable>" });
    }
    offset += 4 + length;
  }
  return frames;
}

/** What a probe saw. */
export interface ProbeResult {
  /** The client finished its side of the TLS handshake (TLS 1.3 lets it, before the server checks the client certificate). */
  secure: boolean;
  /** Bytes received in total. */
  received: number;
  /** Complete frames received, decoded. */
  frames: unknown[];
  /** True when the node ended the connection; false when the probe gave up waiting. */
  closedByPeer: boolean;
  /** The socket error's code, when there was one. */
  errorCode?: string;
}

/** How to probe. */
export interface ProbeOptions {
  /** Client certificate and key (PEM); none means a client without a certificate. */
  cert?: string;
  key?: string;
  /** CA to verify the node with; none means the node's certificate is not checked. */
  ca?: string;
  /** Bytes to send once connected (after the TLS handshake for TLS). */
  send?: Uint8Array[];
  /** How long to wait for the node to close. @default 5000 */
  timeoutMs?: number;
}

function watch(socket: Socket, connectEvent: string, send: Uint8Array[], timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let secure = false;
    let errorCode: string | undefined;
    const finish = (closedByPeer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const bytes = new Uint8Array(Buffer.concat(chunks));
      resolve({ secure, received: bytes.byteLength, frames: parseFrames(bytes), closedByPeer, errorCode });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on(connectEvent, () => {
      secure = connectEvent === "secureConnect";
      for (const bytes of send) if (!socket.destroyed) socket.write(bytes);
    });
    socket.on("data", (data: Buffer) => chunks.push(new Uint8Array(data)));
    socket.on("error", (error: NodeJS.ErrnoException) => (errorCode ??= error.code ?? "unknown"));
    socket.on("close", () => finish(true));
  });
}

/** Connects over TLS 1.3 to a peer port on 127.0.0.1 and records the node's answer. */
export function probeTls(port: number, options: ProbeOptions): Promise<ProbeResult> {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port,
    cert: options.cert,
    key: options.key,
    ca: options.ca,
    rejectUnauthorized: options.ca !== undefined,
    // Node certificates name a node id, not an address.
    checkServerIdentity: () => undefined,
    minVersion: "TLSv1.3",
  });
  return watch(socket, "secureConnect", options.send ?? [], options.timeoutMs ?? 5000);
}

/** Connects in plaintext TCP to a peer port on 127.0.0.1 and records the node's answer. */
export function probePlain(port: number, send: Uint8Array[], timeoutMs = 5000): Promise<ProbeResult> {
  return watch(netConnect(port, "127.0.0.1"), "connect", send, timeoutMs);
}
