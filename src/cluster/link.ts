import { EdgecacheError, isErrorCode, PeerUnavailable } from "../core/errors.ts";
import { decodeFrameBody, encodeFrame, FrameInvalid, FrameReader } from "./frame_codec.ts";
import { type Frame, type Op, parseFrame } from "./frames.ts";
import type { Connection } from "./transport.ts";

/** What a link reports to its owner. */
export interface LinkHandlers {
  /** Every valid frame that is not a response to this side's request. */
  onFrame(link: Link, frame: Frame): void;
  /** Sees every frame sent or received, responses included (for metrics). */
  observe?(direction: "in" | "out", type: string): void;
  /** Once, when the connection ends. */
  onClosed(link: Link, reason: string): void;
}

/** Limits of one link. */
export interface LinkLimits {
  maxFrameBytes: number;
  /** Bytes written but not yet taken by the transport before new requests are refused. */
  maxQueuedBytes: number;
}

interface Pending {
  resolve(body: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One multiplexed connection to a peer: length-prefixed CBOR frames, requests matched to
 * responses by id, a deadline on every request, and a bound on what may queue for sending.
 * Both sides send requests on the same connection; each side numbers its own.
 */
export class Link {
  /** The peer's node id once the handshake has proved it; undefined before. */
  nodeId: string | undefined;
  /** Peer and HTTP addresses the peer announced. */
  peerAddress = "";
  httpAddress = "";
  /** Round-trip time of the last heartbeat, ms. */
  rttMs = 0;
  #reader: FrameReader;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #queued = 0;
  #closed = false;

  constructor(
    readonly connection: Connection,
    /** The node id of whichever side dialled this connection. */
    public dialer: string,
    private readonly limits: LinkLimits,
    private readonly handlers: LinkHandlers,
  ) {
    this.#reader = new FrameReader(limits.maxFrameBytes);
    connection.onData((chunk) => this.#receive(chunk));
    connection.onDrain(() => (this.#queued = 0));
    connection.onClose((error) => this.#closedBy(error?.message ?? "connection closed"));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a frame; throws `overloaded` when too much is already waiting to be sent, and
   * `value_too_large` for a frame the peer would refuse (it would close the link, failing every
   * other request on it).
   */
  send(frame: Frame): void {
    if (this.#closed) throw new PeerUnavailable(`Cannot send to ${this.nodeId ?? this.connection.remoteAddress} as the link must be open: current link is closed`);
    const bytes = encodeFrame(frame);
    if (bytes.byteLength - 4 > this.limits.maxFrameBytes) {
      throw new EdgecacheError("value_too_large", `Cannot send the ${frame.t} frame as it must be at most ${this.limits.maxFrameBytes} bytes: current size is ${bytes.byteLength - 4}`);
    }
    if (this.#queued + bytes.byteLength > this.limits.maxQueuedBytes) {
      throw new EdgecacheError("overloaded", `Cannot send to ${this.nodeId} as at most ${this.limits.maxQueuedBytes} bytes may wait: current backlog is ${this.#queued}`);
    }
    if (!this.connection.write(bytes)) this.#queued += bytes.byteLength;
    this.handlers.observe?.("out", frame.t);
  }

  /** Sends a request and resolves with the response body, or rejects on error, close or timeout. */
  request(op: Op, rid: string, timeoutMs: number): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new PeerUnavailable(`Cannot complete ${op.op} on ${this.nodeId} as it must answer within ${timeoutMs}ms: current request timed out`, { attempted: true }));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      try {
        this.send({ t: "req", id, rid, op });
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(error);
      }
    });
  }

  /** Ends the link, failing every pending request. */
  close(reason: string): void {
    this.connection.close();
    this.#closedBy(reason);
  }

  #closedBy(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new PeerUnavailable(`Cannot complete the request to ${this.nodeId} as the link must stay open: current link closed (${reason})`, { attempted: true }));
      this.#pending.delete(id);
    }
    this.handlers.onClosed(this, reason);
  }

  #receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = this.#reader.push(chunk).map((body) => parseFrame(decodeFrameBody(body)));
    } catch (error) {
      // A peer that sends garbage is not a peer we can trust to frame anything after it.
      this.close(error instanceof FrameInvalid ? error.message : `invalid frame: ${(error as Error)?.message}`);
      return;
    }
    for (const frame of frames) {
      this.handlers.observe?.("in", frame.t);
      if (frame.t === "res" || frame.t === "err") this.#settle(frame);
      else this.handlers.onFrame(this, frame);
      if (this.#closed) return;
    }
  }

  #settle(frame: Extract<Frame, { t: "res" } | { t: "err" }>): void {
    const pending = this.#pending.get(frame.id);
    if (pending === undefined) return; // Timed out already; a late answer is dropped.
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.t === "res") pending.resolve(frame.body);
    else pending.reject(remoteError(frame.code, frame.message));
  }
}

/**
 * Rebuilds a peer's error with its code, if it is one of ours. A peer's `peer_unavailable` stays
 * a PeerUnavailable, so a read moves on to the next owner; it counts as attempted, because the
 * peer may have applied a write before it failed to reach its replicas.
 */
export function remoteError(code: string, message: string): EdgecacheError {
  if (code === "peer_unavailable") return new PeerUnavailable(message, { attempted: true, answered: true });
  return new EdgecacheError(isErrorCode(code) ? code : "internal", message);
}
