/**
 * The behaviour every peer `Transport` must show (memory, TLS on Bun, TLS on Deno, TLS across the
 * two runtimes). `transport_memory.test.ts` and `test/cluster/transport_tls.test.ts` run it against
 * each implementation. Not a test file itself: its name does not end in `.test.ts`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Connection, Transport, TransportAddress, TransportListener } from "../../src/cluster/transport.ts";
import { waitFor } from "../helpers/node_process.ts";

/** Two transports with distinct identities, plus what the timeout test needs. */
export interface TransportPair {
  /** Listens in the tests; the connections it accepts must show `clientIdentity`. */
  server: Transport;
  /** The identity the client must see as `peerIdentity`. */
  serverIdentity: string;
  /** Connects in the tests; its connections must show `serverIdentity`. */
  client: Transport;
  /** The identity the server must see as `peerIdentity`. */
  clientIdentity: string;
  /** The host both sides use. */
  host: string;
  /** An address where a connection attempt hangs without ever completing. */
  unresponsive(): Promise<{ address: TransportAddress; close(): Promise<void> }>;
  /** Releases whatever the pair holds. */
  dispose?(): Promise<void>;
}

/** Builds the pair under test, once per contract run. */
export type TransportPairFactory = () => Promise<TransportPair>;

const text = (value: string) => new TextEncoder().encode(value);

/** A connection with everything it received and how often it closed, recorded from the start. */
export interface Recorded {
  connection: Connection;
  /** Everything received so far, joined. */
  received(): Uint8Array;
  /** How many bytes were received so far. */
  readonly bytes: number;
  /** One entry per onClose call, with its error. */
  closes: Array<Error | undefined>;
}

/** Records a connection's data and closes. */
export function record(connection: Connection): Recorded {
  const chunks: Uint8Array[] = [];
  const closes: Array<Error | undefined> = [];
  let bytes = 0;
  connection.onData((chunk) => {
    assert.ok(chunk instanceof Uint8Array, "chunks are Uint8Arrays");
    chunks.push(chunk.slice());
    bytes += chunk.byteLength;
  });
  connection.onClose((error) => closes.push(error));
  return {
    connection,
    closes,
    get bytes() {
      return bytes;
    },
    received() {
      const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
      let offset = 0;
      for (const chunk of chunks) out.set(chunk, (offset += chunk.byteLength) - chunk.byteLength);
      return out;
    },
  };
}

/** Writes `bytes` in `chunkSize` pieces, waiting for drain whenever the transport asks. */
export async function writeAll(connection: Connection, bytes: Uint8Array, chunkSize = 65536): Promise<void> {
  let waiting: (() => void) | undefined;
  connection.onDrain(() => waiting?.());
  for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
    if (!connection.write(bytes.subarray(offset, offset + chunkSize))) await new Promise<void>((resolve) => (waiting = resolve));
  }
}

/** `size` bytes whose value depends on their position, so loss, duplication and reordering all show. */
export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >>> 8) * 7 + seed) & 0xff;
  return out;
}

/** The index of the first byte where `a` and `b` differ, or -1 when they are equal. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : length;
}

/** Runs the shared behavioural tests against the pair `factory` builds, under a describe block named `name`. */
export function runTransportContract(name: string, factory: TransportPairFactory, options: { timeoutMs?: number } = {}): void {
  const deadline = options.timeoutMs ?? 10_000;

  describe(`${name} transport contract`, () => {
    let pair: TransportPair;
    const cleanup: Array<() => unknown> = [];

    before(async () => {
      pair = await factory();
    });
    after(async () => {
      for (const step of cleanup.reverse()) await step();
      await pair.dispose?.();
    });

    /** Listens on an ephemeral port; connections accepted are recorded in order. */
    async function listen(): Promise<{ listener: TransportListener; address: TransportAddress; accepted: Recorded[] }> {
      const accepted: Recorded[] = [];
      const listener = await pair.server.listen({ host: pair.host, port: 0 }, (connection) => accepted.push(record(connection)));
      cleanup.push(() => listener.close());
      return { listener, address: { host: pair.host, port: listener.port }, accepted };
    }

    /** Connects to a fresh listener and waits until the server side has the connection too. */
    async function connected(): Promise<{ client: Recorded; server: Recorded; listener: TransportListener }> {
      const { listener, address, accepted } = await listen();
      const client = record(await pair.client.connect(address, deadline));
      cleanup.push(() => client.connection.close());
      await waitFor(() => accepted.length === 1, deadline, "the server to accept");
      return { client, server: accepted[0], listener };
    }

    test(`${name}: listen on port 0 reports the bound port`, async () => {
      const { listener } = await listen();
      assert.ok(Number.isInteger(listener.port) && listener.port > 0, `port ${listener.port}`);
    });

    test(`${name}: bytes written on either side arrive on the other`, async () => {
      const { client, server } = await connected();
      assert.equal(client.connection.write(text("ping")), true);
      await waitFor(() => server.bytes === 4, deadline, "ping");
      assert.deepEqual(server.received(), text("ping"));
      server.connection.write(text("pong!"));
      await waitFor(() => client.bytes === 5, deadline, "pong");
      assert.deepEqual(client.received(), text("pong!"));
    });

    test(`${name}: 8 MiB each way at once arrive intact and in order`, async () => {
      const { client, server } = await connected();
      const up = patternBytes(8 * 1024 * 1024, 1);
      const down = patternBytes(8 * 1024 * 1024, 2);
      await Promise.all([writeAll(client.connection, up), writeAll(server.connection, down)]);
      await waitFor(() => server.bytes >= up.byteLength && client.bytes >= down.byteLength, 4 * deadline, "8 MiB each way");
      assert.equal(firstDifference(server.received(), up), -1, "client to server bytes intact");
      assert.equal(firstDifference(client.received(), down), -1, "server to client bytes intact");
    });

    test(`${name}: peerIdentity names the other end on both sides`, async () => {
      const { client, server } = await connected();
      assert.equal(client.connection.peerIdentity, pair.serverIdentity);
      assert.equal(server.connection.peerIdentity, pair.clientIdentity);
      assert.equal(typeof client.connection.remoteAddress, "string");
      assert.ok(server.connection.remoteAddress.length > 0);
    });

    test(`${name}: bytes that arrive before onData is registered are kept`, async () => {
      const raw: Connection[] = [];
      const listener = await pair.server.listen({ host: pair.host, port: 0 }, (connection) => raw.push(connection));
      cleanup.push(() => listener.close());
      const client = record(await pair.client.connect({ host: pair.host, port: listener.port }, deadline));
      cleanup.push(() => client.connection.close());
      client.connection.write(text("early"));
      await waitFor(() => raw.length === 1, deadline, "the server to accept");
      // A reply that reaches the client was sent after "early" most likely arrived: let it wait unread.
      raw[0].write(text("x"));
      await waitFor(() => client.bytes === 1, deadline, "the reply");
      const server = record(raw[0]);
      await waitFor(() => server.bytes === 5, deadline, "the early bytes");
      assert.deepEqual(server.received(), text("early"));
    });

    test(`${name}: close() on the client ends both sides, each onClose firing exactly once`, async () => {
      const { client, server } = await connected();
      client.connection.close();
      await waitFor(() => server.closes.length > 0 && client.closes.length > 0, deadline, "both sides to close");
      client.connection.close();
      server.connection.close();
      assert.equal(client.connection.write(text("after")), false, "a closed connection takes no bytes");
      // Another connection's round trip lets any duplicate close event surface first.
      const barrier = await connected();
      barrier.client.connection.write(text("b"));
      await waitFor(() => barrier.server.bytes === 1, deadline, "the barrier");
      assert.equal(server.closes.length, 1);
      assert.equal(client.closes.length, 1);
    });

    test(`${name}: close() on the server ends the client, and a late onClose still fires once`, async () => {
      const { client, server } = await connected();
      server.connection.close();
      await waitFor(() => client.closes.length === 1 && server.closes.length === 1, deadline, "both sides to close");
      const late: Array<Error | undefined> = [];
      client.connection.onClose((error) => late.push(error));
      await waitFor(() => late.length === 1, deadline, "the late listener");
      assert.equal(client.closes.length, 1);
    });

    test(`${name}: bytes written just before close() are delivered before the close`, async () => {
      const { client, server } = await connected();
      const payload = patternBytes(1024 * 1024, 3);
      client.connection.write(payload);
      client.connection.close();
      await waitFor(() => server.closes.length === 1, deadline, "the server side to close");
      assert.equal(firstDifference(server.received(), payload), -1);
    });

    test(`${name}: connect to a port nobody listens on rejects with peer_unavailable`, async () => {
      const { listener, address } = await listen();
      await listener.close();
      await assert.rejects(pair.client.connect(address, deadline), (error: { code?: string }) => error.code === "peer_unavailable");
    });

    test(`${name}: connect to a peer that never answers rejects within its timeout`, async () => {
      const { address, close } = await pair.unresponsive();
      cleanup.push(close);
      const timeoutMs = 300;
      const started = Date.now();
      await assert.rejects(pair.client.connect(address, timeoutMs), (error: { code?: string }) => error.code === "peer_unavailable");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= timeoutMs - 50, `rejected after ${elapsed}ms, before the timeout`);
      assert.ok(elapsed < timeoutMs + 2000, `rejected after ${elapsed}ms`);
    });

    test(`${name}: a closed listener accepts nothing new and leaves open connections alone`, async () => {
      const { client, server, listener } = await connected();
      await listener.close();
      await assert.rejects(pair.client.connect({ host: pair.host, port: listener.port }, deadline), (error: { code?: string }) => error.code === "peer_unavailable");
      client.connection.write(text("still"));
      await waitFor(() => server.bytes === 5, deadline, "bytes over the old connection");
      assert.deepEqual(server.received(), text("still"));
    });
  });
}
