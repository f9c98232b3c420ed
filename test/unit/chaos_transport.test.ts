import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Connection, Transport } from "../../src/cluster/transport.ts";
import { createManualScheduler, createMemoryNetwork, type ManualScheduler } from "../helpers/chaos_transport.ts";
import { seededRandom } from "./fakes.ts";
import { type Recorded, record } from "./transport.contract.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

/** A network on a hand-driven clock with node-a listening on "a:1". */
async function setup(options: { highWaterMark?: number } = {}) {
  const scheduler = createManualScheduler();
  const network = createMemoryNetwork({ scheduler, ...options });
  const accepted: Recorded[] = [];
  await network.transport("node-a").listen({ host: "a", port: 1 }, (connection) => void accepted.push(record(connection)));
  return { scheduler, network, accepted };
}

/** Connects and lets the connection setup run. */
async function connectNow(transport: Transport, scheduler: ManualScheduler, host = "a", port = 1): Promise<Recorded> {
  const connecting = transport.connect({ host, port }, 1000);
  scheduler.advance(0);
  return record(await connecting);
}

describe("manual scheduler", () => {
  test("manual scheduler runs due tasks in time order, including tasks they schedule, and cancel removes one", () => {
    const scheduler = createManualScheduler();
    const ran: string[] = [];
    scheduler.schedule(20, () => ran.push("20"));
    const cancel = scheduler.schedule(5, () => ran.push("cancelled"));
    scheduler.schedule(10, () => {
      ran.push("10");
      scheduler.schedule(5, () => ran.push(`15 at ${scheduler.now()}`));
    });
    cancel();
    scheduler.advance(19);
    assert.deepEqual(ran, ["10", "15 at 15"]);
    assert.equal(scheduler.pending, 1);
    scheduler.advance(1);
    assert.deepEqual(ran, ["10", "15 at 15", "20"]);
    assert.equal(scheduler.now(), 20);
  });
});

describe("chaos transport", () => {
  test("delay(ms) holds connection setup and every write for exactly ms", async () => {
    const { scheduler, network, accepted } = await setup();
    network.delay(100);
    let client: Connection | undefined;
    const opened = () => client;
    void network.transport("node-b").connect({ host: "a", port: 1 }, 1000).then((connection) => (client = connection));
    scheduler.advance(99);
    await Promise.resolve();
    assert.equal(opened(), undefined);
    scheduler.advance(1);
    await Promise.resolve();
    opened()!.write(bytes(1, 2, 3));
    scheduler.advance(99);
    assert.equal(accepted[0].bytes, 0);
    scheduler.advance(1);
    assert.deepEqual(accepted[0].received(), bytes(1, 2, 3));
  });

  test("later delay changes never reorder bytes of one connection", async () => {
    const { scheduler, network, accepted } = await setup();
    const client = await connectNow(network.transport("node-b"), scheduler);
    network.delay(50);
    client.connection.write(bytes(1));
    network.delay(0);
    client.connection.write(bytes(2));
    scheduler.advance(50);
    assert.deepEqual(accepted[0].received(), bytes(1, 2));
  });

  test("dropRate(1) loses every write and dropRate(0) none, and stats count them", async () => {
    const { scheduler, network, accepted } = await setup();
    const client = await connectNow(network.transport("node-b"), scheduler);
    network.dropRate(1);
    for (let i = 0; i < 5; i++) assert.equal(client.connection.write(bytes(i)), true);
    network.dropRate(0);
    client.connection.write(bytes(9));
    scheduler.advance(0);
    assert.deepEqual(accepted[0].received(), bytes(9));
    assert.deepEqual(network.stats, { writes: 6, dropped: 5 });
  });

  test("dropRate(p, random) loses whole writes at about rate p and keeps the rest in order", async () => {
    const { scheduler, network, accepted } = await setup();
    const client = await connectNow(network.transport("node-b"), scheduler);
    network.dropRate(0.3, seededRandom(42));
    for (let i = 0; i < 200; i++) client.connection.write(bytes(i));
    scheduler.advance(0);
    const got = [...accepted[0].received()];
    assert.equal(got.length, 200 - network.stats.dropped);
    assert.ok(network.stats.dropped > 40 && network.stats.dropped < 80, `dropped ${network.stats.dropped} of 200`);
    assert.deepEqual(got, [...got].sort((x, y) => x - y));
  });

  test("reorder(true) delivers every write once, out of order, never more than 3 places early", async () => {
    const { scheduler, network, accepted } = await setup();
    const client = await connectNow(network.transport("node-b"), scheduler);
    network.reorder(true, seededRandom(7));
    for (let i = 0; i < 40; i++) client.connection.write(bytes(i));
    client.connection.close();
    scheduler.advance(0);
    const got = [...accepted[0].received()];
    assert.notDeepEqual(got, [...got].sort((x, y) => x - y));
    assert.deepEqual([...got].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i));
    got.forEach((value, position) => assert.ok(position >= value - 3, `write ${value} delivered at ${position}`));
    assert.equal(accepted[0].closes.length, 1, "the close comes after every write");
  });

  test("cut(a, b) closes their connections at once with ECONNRESET, loses bytes in flight and spares others", async () => {
    const { scheduler, network, accepted } = await setup();
    const b = await connectNow(network.transport("node-b"), scheduler);
    const c = await connectNow(network.transport("node-c"), scheduler);
    network.delay(10);
    b.connection.write(bytes(1));
    network.cut("node-b", "node-a");
    for (const side of [b, accepted[0]]) {
      assert.equal(side.closes.length, 1);
      assert.equal((side.closes[0] as { code?: string }).code, "ECONNRESET");
    }
    scheduler.advance(10);
    assert.equal(accepted[0].bytes, 0);
    assert.equal(b.connection.write(bytes(2)), false);
    assert.equal(network.openConnections("node-b"), 0);
    assert.equal(network.openConnections(), 1);
    c.connection.write(bytes(3));
    scheduler.advance(10);
    assert.deepEqual(accepted[1].received(), bytes(3));
    assert.equal(c.closes.length, 0);
  });

  test("partition(a, b) closes their connections and fails new ones both ways until heal(a, b)", async () => {
    const { scheduler, network, accepted } = await setup();
    const b = await connectNow(network.transport("node-b"), scheduler);
    await network.transport("node-b").listen({ host: "b", port: 1 }, () => {});
    network.partition("node-a", "node-b");
    assert.equal(b.closes.length, 1);
    assert.equal(accepted[0].closes.length, 1);
    for (const [from, host] of [["node-b", "a"], ["node-a", "b"]]) {
      const attempt = network.transport(from).connect({ host, port: 1 }, 1000);
      scheduler.advance(0);
      await assert.rejects(attempt, (error: { code?: string; cause?: { code?: string } }) => error.code === "peer_unavailable" && error.cause?.code === "EHOSTUNREACH");
    }
    await connectNow(network.transport("node-c"), scheduler);
    network.heal("node-b", "node-a");
    await connectNow(network.transport("node-b"), scheduler);
    assert.equal(network.openConnections("node-a"), 2);
  });

  test("connect to nobody rejects with ECONNREFUSED; to a blackhole only when its timeout passes", async () => {
    const { scheduler, network } = await setup();
    const client = network.transport("node-b");
    const refused = client.connect({ host: "nobody", port: 1 }, 1000);
    scheduler.advance(0);
    await assert.rejects(refused, (error: { code?: string; cause?: { code?: string } }) => error.code === "peer_unavailable" && error.cause?.code === "ECONNREFUSED");
    network.blackhole({ host: "a", port: 1 });
    let outcome: string | undefined;
    client.connect({ host: "a", port: 1 }, 500).then(() => (outcome = "connected"), (error) => (outcome = error.cause.code));
    scheduler.advance(499);
    await Promise.resolve();
    assert.equal(outcome, undefined);
    scheduler.advance(1);
    await Promise.resolve();
    assert.equal(outcome, "ETIMEDOUT");
  });

  test("write() returns false once highWaterMark bytes are undelivered, and drain fires when they arrive", async () => {
    const { scheduler, network, accepted } = await setup({ highWaterMark: 10 });
    const client = await connectNow(network.transport("node-b"), scheduler);
    let drains = 0;
    client.connection.onDrain(() => drains++);
    assert.equal(client.connection.write(new Uint8Array(6)), true);
    assert.equal(client.connection.write(new Uint8Array(6)), false);
    scheduler.advance(0);
    assert.equal(drains, 1);
    assert.equal(accepted[0].bytes, 12);
    assert.equal(client.connection.write(new Uint8Array(1)), true);
  });

  test("listen on an address in use rejects with EADDRINUSE", async () => {
    const { network } = await setup();
    await assert.rejects(network.transport("node-z").listen({ host: "a", port: 1 }, () => {}), (error: { code?: string }) => error.code === "EADDRINUSE");
  });

  test("a write is copied, so the caller may reuse its buffer at once", async () => {
    const { scheduler, network, accepted } = await setup();
    const client = await connectNow(network.transport("node-b"), scheduler);
    const buffer = bytes(1, 2);
    client.connection.write(buffer);
    buffer.fill(0);
    scheduler.advance(0);
    assert.deepEqual(accepted[0].received(), bytes(1, 2));
  });
});
