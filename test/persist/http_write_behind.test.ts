import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { after, describe, test } from "node:test";
import type { StoreChange } from "../../src/core/store.ts";
import { createHttpWriteBehind, type HttpWriteBehindConfig } from "../../src/persist/http_write_behind.ts";
import { captureLog, T0, testMetrics, waitFor } from "./helpers.ts";

/** One request as the backing service saw it. */
interface Received {
  key: string;
  auth: string | undefined;
  body: { node: string; run: string; batch: number; ops: Array<Record<string, any>> };
  status: number;
}

/** A real backing service on 127.0.0.1 whose behaviour each test sets. */
async function startService(port = 0) {
  const received: Received[] = [];
  let behave: (request: number, response: ServerResponse) => void = (_n, response) => response.writeHead(204).end();
  const sockets = new Set<import("node:net").Socket>();
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const n = received.length;
      const entry: Received = { key: String(request.headers["idempotency-key"]), auth: request.headers.authorization, body: JSON.parse(body), status: 0 };
      received.push(entry);
      const writeHead = response.writeHead.bind(response);
      response.writeHead = ((status: number, ...rest: unknown[]) => {
        entry.status = status;
        return (writeHead as (...args: unknown[]) => ServerResponse)(status, ...rest);
      }) as typeof response.writeHead;
      behave(n, response);
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${bound}/ingest`,
    port: bound,
    received,
    behave(next: typeof behave) {
      behave = next;
    },
    /** Operations of accepted requests, once per idempotency key, in arrival order. */
    accepted() {
      const seen = new Set<string>();
      return received.filter((r) => r.status >= 200 && r.status < 300 && !seen.has(r.key) && seen.add(r.key)).flatMap((r) => r.body.ops);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const services: Array<{ close(): Promise<void> }> = [];
after(async () => {
  for (const service of services) await service.close().catch(() => {});
});

function forwarder(url: string, config: Partial<HttpWriteBehindConfig> = {}) {
  const capture = captureLog();
  const observed = testMetrics();
  const adapter = createHttpWriteBehind(
    { url, nodeId: "node-a", maxQueueBytes: 1024 * 1024, maxBatchRecords: 50, timeoutMs: 2000, retryBaseMs: 5, retryCapMs: 40, ...config },
    { fetch: globalThis.fetch, now: Date.now, random: Math.random, log: capture.log, metrics: observed.metrics },
  );
  return { adapter, capture, metrics: observed };
}

let hlc = T0 * 1024;
function put(key: string, value = `value of ${key}`, tags: string[] = []): StoreChange {
  return { kind: "put", key, entry: { value: new TextEncoder().encode(value), contentType: "text/plain", version: { hlc: ++hlc, node: 9 }, tags, storedAt: T0, expiresAt: T0 + 60_000, size: 0 } };
}
const del = (key: string): StoreChange => ({ kind: "delete", key, version: { hlc: ++hlc, node: 9 } });

/** Asserts that every key's operations arrived in increasing version order. */
function assertOrderedPerKey(ops: Array<Record<string, any>>): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const op of ops) {
    const versions = byKey.get(op.key) ?? [];
    versions.push(op.version.hlc);
    byKey.set(op.key, versions);
  }
  for (const [key, versions] of byKey) {
    for (let i = 1; i < versions.length; i++) assert.ok(versions[i] > versions[i - 1], `${key} out of order: ${versions.join(", ")}`);
  }
  return byKey;
}

const lines = (capture: { lines: Array<Record<string, unknown>> }, msg: string) => capture.lines.filter((line) => line.msg === msg).length;

describe("http write-behind", () => {
  test("sends batches of JSON operations in the documented wire format", async () => {
    const service = await startService();
    services.push(service);
    const { adapter, metrics } = forwarder(service.url, { token: "s3cret-token" });
    for (let i = 0; i < 120; i++) adapter.record(put(`k${i}`, `v${i}`, i === 0 ? ["red"] : []));
    adapter.record(del("k5"));
    adapter.record({ kind: "flush", version: { hlc: ++hlc, node: 9 } });
    await adapter.flush();
    const ops = service.accepted();
    assert.equal(ops.length, 122);
    assert.ok(service.received.length >= 3 && service.received.every((r) => r.body.ops.length <= 50), "batches of at most 50");
    const first = service.received[0];
    assert.equal(first.auth, "Bearer s3cret-token");
    assert.match(first.key, /^node-a-[0-9a-f]{8}-1$/);
    assert.equal(first.body.node, "node-a");
    assert.equal(first.body.batch, 1);
    const op = ops[0];
    assert.deepEqual({ ...op, version: undefined }, { op: "put", key: "k0", version: undefined, value: btoa("v0"), content_type: "text/plain", tags: ["red"], stored_at: T0, expires_at: T0 + 60_000, negative: false });
    assert.equal(typeof op.version.hlc, "number");
    assert.equal(op.version.node, 9);
    assert.deepEqual(ops[120], { op: "delete", key: "k5", version: ops[120].version });
    assert.equal(ops[121].op, "flush");
    assert.equal(await metrics.value("edgecache_persistence_records_written_total", { adapter: "http" }), 122);
    assert.equal(adapter.health().status, "ok");
    await adapter.close();
  });

  test("a failing service (503) is retried with backoff until it accepts; every key's order holds", async () => {
    const service = await startService();
    services.push(service);
    service.behave((n, response) => response.writeHead(n < 5 ? 503 : 204).end());
    const { adapter, capture, metrics } = forwarder(service.url, { maxBatchRecords: 7 });
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 20; k++) adapter.record(put(`key-${k}`, `${round}`));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await waitFor(() => adapter.health().status === "degraded", 15_000, "degraded while failing");
    assert.match(adapter.health().detail, /HTTP 503/);
    await adapter.flush();
    const byKey = assertOrderedPerKey(service.accepted());
    assert.equal(byKey.size, 20);
    for (const versions of byKey.values()) assert.equal(versions.length, 10, "nothing lost, nothing duplicated");
    assert.equal(adapter.health().status, "ok");
    assert.equal(lines(capture, "write-behind forwarding failing: retrying with backoff"), 1);
    assert.equal(lines(capture, "write-behind forwarding recovered"), 1);
    assert.equal(await metrics.value("edgecache_write_behind_batches_total", { outcome: "retried" }), 5);
    assert.equal(await metrics.value("edgecache_persistence_dropped_records_total", { adapter: "http" }), 0);
    await adapter.close();
  });

  test("a slow service: batches grow while one is in flight, and nothing is reordered", async () => {
    const service = await startService();
    services.push(service);
    service.behave((_n, response) => setTimeout(() => response.writeHead(200).end("ok"), 150));
    const { adapter } = forwarder(service.url, { maxBatchRecords: 500 });
    for (let i = 0; i < 1000; i++) {
      adapter.record(put(`key-${i % 37}`, `${i}`));
      if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await adapter.flush();
    const ops = service.accepted();
    assert.equal(ops.length, 1000);
    assert.ok(service.received.length <= 12, `${service.received.length} requests for 1000 operations`);
    assertOrderedPerKey(ops);
    await adapter.close();
  });

  test("a service that is down: degraded, a bounded queue with counted drops, delivery resumes when it is back", async () => {
    const probe = await startService();
    const port = probe.port;
    await probe.close();
    const { adapter, capture, metrics } = forwarder(`http://127.0.0.1:${port}/ingest`, { maxQueueBytes: 16 * 1024, retryCapMs: 30 });
    for (let version = 0; version < 3; version++) {
      for (let k = 0; k < 200; k++) adapter.record(put(`key-${k}`, `${version}:${"x".repeat(100)}`));
    }
    await waitFor(() => adapter.health().status === "degraded", 15_000, "degraded while down");
    const queued = await metrics.value("edgecache_persistence_queue_bytes", { adapter: "http" });
    assert.ok(queued <= 16 * 1024, `queue holds ${queued} bytes, bound 16384`);
    const dropped = await metrics.value("edgecache_persistence_dropped_records_total", { adapter: "http" });
    assert.ok(dropped >= 400, `${dropped} dropped`);
    assert.equal(lines(capture, "write-behind queue full: dropping superseded, then oldest, operations"), 1);

    const service = await startService(port);
    services.push(service);
    await adapter.flush();
    assert.equal(adapter.health().status, "ok");
    const byKey = assertOrderedPerKey(service.accepted());
    // Superseded versions went first, so what arrives is the newest version of the keys kept.
    for (const versions of byKey.values()) assert.equal(versions.length, 1);
    const last = service.accepted().at(-1)!;
    assert.equal(last.key, "key-199");
    assert.equal(atob(last.value).slice(0, 2), "2:");
    assert.equal(await metrics.value("edgecache_persistence_records_written_total", { adapter: "http" }) + dropped, 600);
    await adapter.close();
  });

  test("a timed-out request is retried with the same idempotency key", async () => {
    const service = await startService();
    services.push(service);
    service.behave((n, response) => {
      if (n > 0) response.writeHead(204).end();
      // The first request is never answered.
    });
    const { adapter } = forwarder(service.url, { timeoutMs: 200 });
    adapter.record(put("k"));
    await adapter.flush();
    assert.equal(service.received.length, 2);
    assert.equal(service.received[0].key, service.received[1].key);
    assert.equal(service.accepted().length, 1);
    await adapter.close();
  });

  test("a rejected batch (400) is dropped, counted and logged, and later batches still flow", async () => {
    const service = await startService();
    services.push(service);
    service.behave((n, response) => response.writeHead(n === 0 ? 400 : 204).end());
    const { adapter, capture, metrics } = forwarder(service.url);
    adapter.record(put("bad"));
    await adapter.flush();
    adapter.record(put("good"));
    await adapter.flush();
    assert.deepEqual(service.accepted().map((op) => op.key), ["good"]);
    assert.equal(await metrics.value("edgecache_write_behind_batches_total", { outcome: "rejected" }), 1);
    assert.equal(await metrics.value("edgecache_persistence_dropped_records_total", { adapter: "http" }), 1);
    assert.equal(lines(capture, "write-behind batch rejected by the backing service: dropped"), 1);
    await adapter.close();
  });

  test("close() stops retrying and counts what was not forwarded", async () => {
    const service = await startService();
    services.push(service);
    service.behave((_n, response) => response.writeHead(503).end());
    const { adapter, capture, metrics } = forwarder(service.url);
    for (let i = 0; i < 10; i++) adapter.record(put(`k${i}`));
    await waitFor(() => service.received.length >= 2, 15_000, "retries");
    await adapter.close();
    assert.equal(await metrics.value("edgecache_persistence_dropped_records_total", { adapter: "http" }), 10);
    assert.equal(lines(capture, "write-behind closed with operations not forwarded"), 1);
    adapter.record(put("after-close"));
    assert.equal(await metrics.value("edgecache_persistence_queue_depth", { adapter: "http" }), 0, "a closed forwarder takes nothing");
    assert.equal(adapter.health().detail, "closed");
    await adapter.flush();
    assert.equal((await adapter.recover({ entry: () => true, delete: () => true, flush: () => {} })).entriesRecovered, 0, "recovery is a no-op");
  });
});
