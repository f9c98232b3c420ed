/**
 * A TCP proxy a test controls, for partitions between real processes: it forwards byte streams to
 * one target and can drop them (stop forwarding and discard, sockets kept open: a black hole),
 * delay them (order kept) or cut each open connection mid-chunk (forward half, then destroy both
 * sides). It sees only bytes, so on a TLS link a cut or a drop breaks the TLS record stream exactly
 * as a broken network path would.
 */
import { Buffer } from "node:buffer";
import { connect, createServer, type Server, type Socket } from "node:net";

/** What the proxy does with bytes. */
export type ProxyMode = { kind: "forward" } | { kind: "drop" } | { kind: "delay"; ms: number };

/** A running proxy. */
export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** "127.0.0.1:port", as nodes are configured with it. */
  readonly address: string;
  /** Connections accepted so far. */
  accepted(): number;
  /** Connections currently open (both sides up). */
  open(): number;
  /** Connections cut mid-chunk so far. */
  cuts(): number;
  /** Bytes forwarded so far, both directions. */
  forwarded(): number;
  /** Bytes discarded while dropping. */
  dropped(): number;
  /**
   * Turns every open connection into a black hole for good: its bytes are discarded and its sockets
   * kept, as when a middlebox forgets a connection's state. New connections are not affected.
   * Returns how many connections were affected.
   */
  blackholeOpen(): number;
  /** Sets what happens to bytes from now on, on open and new connections alike. */
  setMode(mode: ProxyMode): void;
  /**
   * Marks every open connection to be cut at its next chunk, in either direction: half of the
   * chunk is forwarded, then both sides are destroyed. Connections opened later are not affected.
   * Returns how many connections were marked.
   */
  cutMidChunk(): number;
  close(): Promise<void>;
}

/** One direction of a proxied connection: delivers chunks in order, each no earlier than its due time. */
class Pipe {
  #queue: Array<{ at: number; chunk: Uint8Array }> = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly to: Socket, private readonly onWrite: (bytes: number) => void) {}

  push(chunk: Uint8Array, delayMs: number): void {
    if (delayMs <= 0 && this.#queue.length === 0) return this.#write(chunk);
    // A chunk never overtakes an earlier delayed one, even when the delay shrinks meanwhile.
    const last = this.#queue[this.#queue.length - 1]?.at ?? 0;
    this.#queue.push({ at: Math.max(Date.now() + delayMs, last), chunk });
    this.#schedule();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      while (this.#queue.length > 0 && this.#queue[0].at <= Date.now()) this.#write((this.#queue.shift() as { chunk: Uint8Array }).chunk);
      this.#schedule();
    }, Math.max(0, this.#queue[0].at - Date.now()));
  }

  #write(chunk: Uint8Array): void {
    if (this.to.destroyed) return;
    this.to.write(chunk);
    this.onWrite(chunk.byteLength);
  }
}

/** Starts a proxy on 127.0.0.1 (ephemeral port) forwarding to `targetPort` on 127.0.0.1. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = { kind: "forward" };
  let accepted = 0;
  let cuts = 0;
  let forwarded = 0;
  let dropped = 0;
  const lingering = new Set<Socket>();
  const connections = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[]; cutNext: boolean; blackholed: boolean; up: boolean }>();

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(targetPort, "127.0.0.1");
    const count = (bytes: number) => (forwarded += bytes);
    const toUpstream = new Pipe(upstream, count);
    const toClient = new Pipe(client, count);
    const connection = { client, upstream, pipes: [toUpstream, toClient], cutNext: false, blackholed: false, up: false };
    connections.add(connection);
    // Bytes from the client wait here until the upstream connection exists.
    const early: Uint8Array[] = [];
    const destroy = () => {
      for (const pipe of connection.pipes) pipe.clear();
      client.destroy();
      upstream.destroy();
      connections.delete(connection);
    };
    const relay = (chunk: Uint8Array, pipe: Pipe, from: Socket, to: Socket) => {
      if (connection.cutNext) {
        cuts++;
        connection.cutNext = false;
        for (const pipe of connection.pipes) pipe.clear();
        connections.delete(connection);
        for (const socket of [from, to]) {
          socket.removeAllListeners("close");
          socket.removeAllListeners("error");
          socket.removeAllListeners("data");
          socket.removeAllListeners("end");
          socket.on("error", () => {});
        }
        // Half a chunk reaches the receiver, then the line goes dead from both ends: the sender is
        // reset, the receiver gets the partial record followed by end of stream.
        from.destroy();
        lingering.add(to);
        to.on("close", () => lingering.delete(to));
        to.end(chunk.subarray(0, Math.max(1, chunk.byteLength >> 1)));
        return;
      }
      if (mode.kind === "drop" || connection.blackholed) {
        dropped += chunk.byteLength;
        return;
      }
      pipe.push(chunk, mode.kind === "delay" ? mode.ms : 0);
    };
    client.on("data", (data: Buffer) => {
      const chunk = new Uint8Array(data);
      if (!connection.up) early.push(chunk);
      else relay(chunk, toUpstream, client, upstream);
    });
    upstream.on("connect", () => {
      connection.up = true;
      for (const chunk of early.splice(0)) relay(chunk, toUpstream, client, upstream);
    });
    upstream.on("data", (data: Buffer) => relay(new Uint8Array(data), toClient, upstream, client));
    let gone = false;
    const closed = (socket: Socket) => {
      if (gone) return;
      gone = true;
      if (!connection.blackholed) return destroy();
      // A black hole tells neither side: the other end stays open until the proxy closes.
      for (const pipe of connection.pipes) pipe.clear();
      connections.delete(connection);
      const other = socket === client ? upstream : client;
      lingering.add(other);
      other.once("close", () => lingering.delete(other));
    };
    client.on("end", () => connection.blackholed || upstream.end());
    upstream.on("end", () => connection.blackholed || client.end());
    client.on("close", () => closed(client));
    upstream.on("close", () => closed(upstream));
    client.on("error", () => closed(client));
    upstream.on("error", () => closed(upstream));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    accepted: () => accepted,
    open: () => [...connections].filter((connection) => connection.up).length,
    cuts: () => cuts,
    forwarded: () => forwarded,
    dropped: () => dropped,
    setMode(next) {
      mode = next;
    },
    blackholeOpen() {
      let affected = 0;
      for (const connection of connections) {
        if (!connection.up) continue;
        connection.blackholed = true;
        affected++;
      }
      return affected;
    },
    cutMidChunk() {
      let marked = 0;
      for (const connection of connections) {
        if (!connection.up) continue;
        connection.cutNext = true;
        marked++;
      }
      return marked;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const connection of connections) {
          for (const pipe of connection.pipes) pipe.clear();
          connection.client.destroy();
          connection.upstream.destroy();
        }
        connections.clear();
        for (const socket of lingering) socket.destroy();
        lingering.clear();
        server.close(() => resolve());
      }),
  };
}
