/**
 * An in-memory `Transport` for unit tests, with chaos controls (after bentocache's chaos bus):
 * delay, loss, reordering, cuts and partitions between node identities. Addresses are "host:port"
 * keys in the network's own table; `peerIdentity` is the identity the other end was created with.
 * Every delivery and timeout goes through an injectable scheduler, so a test can step time by hand.
 * Not a test file itself: its name does not end in `.test.ts`.
 */
import type { Connection, Transport, TransportAddress, TransportListener } from "../../src/cluster/transport.ts";
import { PeerUnavailable } from "../../src/core/errors.ts";

/** Runs `task` after `ms` milliseconds; returns a function that cancels it. */
export interface Scheduler {
  schedule(ms: number, task: () => void): () => void;
}

/** The real event loop (`setTimeout`). */
export const realScheduler: Scheduler = {
  schedule(ms, task) {
    const timer = setTimeout(task, ms);
    return () => clearTimeout(timer);
  },
};

/** A scheduler whose time moves only when the test says so. */
export interface ManualScheduler extends Scheduler {
  /** Milliseconds advanced so far. */
  now(): number;
  /** Moves time forward by `ms`, running every task that falls due in time order (including tasks they schedule). */
  advance(ms: number): void;
  /** Tasks waiting to run. */
  readonly pending: number;
}

/** Creates a ManualScheduler starting at time 0. */
export function createManualScheduler(): ManualScheduler {
  let current = 0;
  let seq = 0;
  const tasks: Array<{ at: number; seq: number; task: () => void }> = [];
  return {
    schedule(ms, task) {
      const entry = { at: current + Math.max(0, ms), seq: seq++, task };
      tasks.push(entry);
      return () => {
        const index = tasks.indexOf(entry);
        if (index >= 0) tasks.splice(index, 1);
      };
    },
    now: () => current,
    advance(ms) {
      const target = current + ms;
      for (;;) {
        let next: (typeof tasks)[number] | undefined;
        for (const entry of tasks) if (entry.at <= target && (!next || entry.at < next.at || (entry.at === next.at && entry.seq < next.seq))) next = entry;
        if (!next) break;
        tasks.splice(tasks.indexOf(next), 1);
        current = next.at;
        next.task();
      }
      current = target;
    },
    get pending() {
      return tasks.length;
    },
  };
}

/** Options of `createMemoryNetwork`. */
export interface MemoryNetworkOptions {
  /** Runs deliveries and timeouts. @default realScheduler */
  scheduler?: Scheduler;
  /** Undelivered bytes per direction at which `write` starts returning false. @default 65536 */
  highWaterMark?: number;
  /** With reordering on, a delivery picks at random among this many oldest pending writes. @default 4 */
  reorderWindow?: number;
}

/** Counters for assertions. */
export interface MemoryNetworkStats {
  /** Writes handed to the network (dropped ones included). */
  writes: number;
  /** Writes the network lost on purpose. */
  dropped: number;
}

/** A set of in-memory transports sharing one address table and one set of chaos controls. */
export interface MemoryNetwork {
  /** A transport whose connections show `identity` as their `peerIdentity` to the other end. */
  transport(identity: string): Transport;
  /** Delivers every later write and connection setup after `ms`. @default 0 */
  delay(ms: number): void;
  /** Loses each later write (whole writes, never part of one) with probability `p`. @default 0 */
  dropRate(p: number, random?: () => number): void;
  /**
   * Delivers whole writes out of order within `reorderWindow`. A real byte stream never does this;
   * it exists to prove that frame handling survives what a buggy or hostile peer could send.
   */
  reorder(on: boolean, random?: () => number): void;
  /** Closes every connection between identities `a` and `b` at once, undelivered bytes lost. */
  cut(a: string, b: string): void;
  /** Cuts `a` from `b` and makes connection attempts between them fail until `heal(a, b)`. */
  partition(a: string, b: string): void;
  /** Ends a partition. */
  heal(a: string, b: string): void;
  /** Makes connection attempts to `address` hang until their timeout, like a stopped process. */
  blackhole(address: TransportAddress): void;
  /** Open connections, all or only those involving `identity`. */
  openConnections(identity?: string): number;
  /** Write and loss counters. */
  readonly stats: MemoryNetworkStats;
}

type Item = { bytes: Uint8Array } | "end";

/** One end of an in-memory connection: receives what its peer end writes. */
interface End {
  identity: string;
  peer: End;
  inbound: Item[];
  /** Bytes this end wrote that the peer has not received yet. */
  outstanding: number;
  needsDrain: boolean;
  closed: boolean;
  ending: boolean;
  early: Uint8Array[] | undefined;
  onData: Array<(chunk: Uint8Array) => void>;
  onDrain: Array<() => void>;
  onClose: Array<(error?: Error) => void>;
  closeError?: Error;
}

const pairKey = (a: string, b: string) => (a < b ? `${a}\n${b}` : `${b}\n${a}`);
const addressKey = (address: TransportAddress) => `${address.host}:${address.port}`;
const networkError = (message: string, code: string) => Object.assign(new Error(message), { code });

/** Creates an empty in-memory network. */
export function createMemoryNetwork(options: MemoryNetworkOptions = {}): MemoryNetwork {
  const scheduler = options.scheduler ?? realScheduler;
  const highWaterMark = options.highWaterMark ?? 65536;
  const reorderWindow = options.reorderWindow ?? 4;
  const listeners = new Map<string, { identity: string; onConnection: (connection: Connection) => void }>();
  /** The client end of every open connection. */
  const open = new Set<End>();
  const partitions = new Set<string>();
  const blackholes = new Set<string>();
  const stats: MemoryNetworkStats = { writes: 0, dropped: 0 };
  let delayMs = 0;
  let drop = { p: 0, random: Math.random };
  let shuffle: (() => number) | undefined;
  let nextPort = 40000;
  let nextSerial = 1;

  function finish(end: End, error?: Error): void {
    if (end.closed) return;
    end.closed = true;
    end.inbound.length = 0;
    end.closeError = error;
    open.delete(end);
    open.delete(end.peer);
    for (const listener of end.onClose) listener(error);
  }

  function deliverOne(to: End): void {
    if (to.closed || to.inbound.length === 0) return;
    let index = 0;
    if (shuffle) {
      const end = to.inbound.indexOf("end");
      const span = Math.min(reorderWindow, end < 0 ? to.inbound.length : end);
      index = span > 0 ? Math.floor(shuffle() * span) : 0;
    }
    const [item] = to.inbound.splice(index, 1);
    const from = to.peer;
    if (item === "end") {
      // A graceful close: everything written before it has arrived, now both ends are done.
      finish(to);
      finish(from);
      return;
    }
    from.outstanding -= item.bytes.byteLength;
    if (from.needsDrain && from.outstanding === 0 && !from.closed) {
      from.needsDrain = false;
      for (const listener of from.onDrain) listener();
    }
    if (to.ending) return;
    if (to.early) to.early.push(item.bytes);
    else for (const listener of to.onData) listener(item.bytes);
  }

  function send(from: End, item: Item): void {
    from.peer.inbound.push(item);
    scheduler.schedule(delayMs, () => deliverOne(from.peer));
  }

  function connection(end: End, remoteAddress: string): Connection {
    return {
      peerIdentity: end.peer.identity,
      remoteAddress,
      write(bytes) {
        if (end.closed || end.ending) return false;
        stats.writes++;
        if (drop.p > 0 && drop.random() < drop.p) {
          stats.dropped++;
          return !end.needsDrain;
        }
        end.outstanding += bytes.byteLength;
        // A copy, as a socket would take: the caller may reuse its buffer at once.
        send(end, { bytes: bytes.slice() });
        if (end.outstanding >= highWaterMark) end.needsDrain = true;
        return !end.needsDrain;
      },
      onData(listener) {
        end.onData.push(listener);
        const pending = end.early;
        end.early = undefined;
        if (pending) for (const chunk of pending) listener(chunk);
      },
      onDrain: (listener) => void end.onDrain.push(listener),
      onClose(listener) {
        if (end.closed) queueMicrotask(() => listener(end.closeError));
        else end.onClose.push(listener);
      },
      close() {
        if (end.closed || end.ending) return;
        end.ending = true;
        send(end, "end");
      },
    };
  }

  function newEnd(identity: string): End {
    return { identity, peer: undefined as unknown as End, inbound: [], outstanding: 0, needsDrain: false, closed: false, ending: false, early: [], onData: [], onDrain: [], onClose: [] };
  }

  function cut(a: string, b: string): void {
    const reset = networkError(`connection between ${a} and ${b} cut by the chaos transport`, "ECONNRESET");
    for (const end of [...open]) {
      if (pairKey(end.identity, end.peer.identity) !== pairKey(a, b)) continue;
      finish(end, reset);
      finish(end.peer, reset);
    }
  }

  function transport(identity: string): Transport {
    return {
      listen(address, onConnection): Promise<TransportListener> {
        let port = address.port;
        if (port === 0) do port = nextPort++; while (listeners.has(addressKey({ host: address.host, port })));
        const key = addressKey({ host: address.host, port });
        if (listeners.has(key)) return Promise.reject(networkError(`Cannot listen on ${key} as it must be free`, "EADDRINUSE"));
        const entry = { identity, onConnection };
        listeners.set(key, entry);
        return Promise.resolve({
          port,
          close: async () => {
            if (listeners.get(key) === entry) listeners.delete(key);
          },
        });
      },
      connect(address, timeoutMs): Promise<Connection> {
        const key = addressKey(address);
        return new Promise((resolve, reject) => {
          let settled = false;
          const fail = (reason: string, code: string) => {
            if (settled) return;
            settled = true;
            cancelTimeout();
            reject(new PeerUnavailable(`Cannot connect to peer ${key} as it must ${reason}`, { cause: networkError(reason, code) }));
          };
          const cancelTimeout = scheduler.schedule(timeoutMs, () => fail(`answer within ${timeoutMs}ms`, "ETIMEDOUT"));
          if (blackholes.has(key)) return;
          scheduler.schedule(delayMs, () => {
            if (settled) return;
            const listener = listeners.get(key);
            if (!listener) return fail("be listening", "ECONNREFUSED");
            if (partitions.has(pairKey(identity, listener.identity))) return fail("be reachable", "EHOSTUNREACH");
            settled = true;
            cancelTimeout();
            const client = newEnd(identity);
            const server = newEnd(listener.identity);
            client.peer = server;
            server.peer = client;
            open.add(client);
            listener.onConnection(connection(server, `${identity}:${nextSerial++}`));
            resolve(connection(client, key));
          });
        });
      },
    };
  }

  return {
    transport,
    delay: (ms) => void (delayMs = ms),
    dropRate: (p, random = Math.random) => void (drop = { p, random }),
    reorder: (on, random = Math.random) => void (shuffle = on ? random : undefined),
    cut,
    partition(a, b) {
      partitions.add(pairKey(a, b));
      cut(a, b);
    },
    heal: (a, b) => void partitions.delete(pairKey(a, b)),
    blackhole: (address) => void blackholes.add(addressKey(address)),
    openConnections: (identity) => [...open].filter((end) => identity === undefined || end.identity === identity || end.peer.identity === identity).length,
    stats,
  };
}
