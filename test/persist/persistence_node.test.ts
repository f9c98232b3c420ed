/**
 * A whole node in-process (src/node.ts on this test's runtime, listening on 127.0.0.1:0) with
 * persistence wired as in production, but with a file system the test controls.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, describe, test } from "node:test";
import { SignJWT } from "jose";
import { loadConfig } from "../../src/config/load_config.ts";
import { type RunningNode, startNode } from "../../src/node.ts";
import type { FileSystem } from "../../src/persist/file_system.ts";
import { currentRuntime } from "../../src/runtime/select.ts";
import { readdirSync, readFileSync } from "node:fs";
import { scanBytes } from "../../src/persist/frame_scanner.ts";
import { LOG_MAGIC } from "../../src/persist/record_codec.ts";
import { Registry } from "prom-client";
import type { StoreChange } from "../../src/core/store.ts";
import { setupPersistence } from "../../src/persist/persistence_setup.ts";
import { bytes, captureLog, type Faults, faultyFileSystem, makeStore, tempDir, text, waitFor } from "./helpers.ts";

const SECRET = "persistence-node-test-secret-of-32-bytes+";
const dirs: Array<{ remove(): void }> = [];
after(() => dirs.forEach((dir) => dir.remove()));

async function token(): Promise<string> {
  return await new SignJWT({ scope: "cache:read cache:write cache:admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("t").setExpirationTime("10m")
    .sign(new TextEncoder().encode(SECRET));
}

async function boot(env: Record<string, string>, fileSystem: FileSystem): Promise<{ node: RunningNode; logs: Array<Record<string, unknown>>; auth: Record<string, string> }> {
  const result = loadConfig({ EDGECACHE_LISTEN: "127.0.0.1:0", EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_LOG_LEVEL: "debug", ...env }, { hostname: "test" });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  const logs: Array<Record<string, unknown>> = [];
  const node = await startNode(result.config, currentRuntime(), {
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line)) },
    collectProcessMetrics: false,
    announceDevToken: false,
    fileSystem,
  });
  return { node, logs, auth: { authorization: `Bearer ${await token()}` } };
}

async function readiness(node: RunningNode): Promise<{ status: number; body: any }> {
  const response = await fetch(`${node.url}/readyz`);
  return { status: response.status, body: await response.json() };
}

describe("persistence in a running node", () => {
  test("until recovery ends /readyz is 503 with persistence down and KV requests get 503 not_ready", async () => {
    const { dir, remove } = tempDir();
    dirs.push({ remove });
    const first = await boot({ EDGECACHE_DATA_DIR: dir }, faultyFileSystem({}));
    await waitFor(async () => (await readiness(first.node)).status === 200, 10_000, "the empty recovery");
    const put = await fetch(`${first.node.url}/v1/kv/warm`, { method: "PUT", headers: { ...first.auth, "content-type": "text/x-warm" }, body: "from the last run" });
    assert.equal(put.status, 201);
    await first.node.shutdown("test");

    let release = () => {};
    const faults: Faults = { readGate: new Promise<void>((resolve) => (release = resolve)) };
    const second = await boot({ EDGECACHE_DATA_DIR: dir }, faultyFileSystem(faults));
    try {
      const during = await readiness(second.node);
      assert.equal(during.status, 503);
      assert.equal(during.body.checks.persistence.status, "down");
      const kv = await fetch(`${second.node.url}/v1/kv/warm`, { headers: { ...second.auth, "x-request-id": "recovering-1" } });
      assert.equal(kv.status, 503);
      assert.equal((await kv.json()).error.code, "not_ready");
      assert.equal(kv.headers.get("x-request-id"), "recovering-1");
      assert.equal((await fetch(`${second.node.url}/healthz`)).status, 200, "liveness is not readiness");
      assert.equal((await fetch(`${second.node.url}/metrics`)).status, 200);

      release();
      await waitFor(async () => (await readiness(second.node)).status === 200, 10_000, "recovery to end");
      const after = await readiness(second.node);
      assert.equal(after.body.checks.persistence.status, "ok");
      const get = await fetch(`${second.node.url}/v1/kv/warm`, { headers: second.auth });
      assert.equal(await get.text(), "from the last run");
      assert.equal(get.headers.get("content-type"), "text/x-warm");
    } finally {
      release();
      await second.node.shutdown("test");
    }
  });

  test("a full disk keeps the node serving and ready, with persistence degraded in /readyz and in the metrics", async () => {
    const { dir, remove } = tempDir();
    dirs.push({ remove });
    const faults: Faults = {};
    const { node, logs, auth } = await boot({ EDGECACHE_DATA_DIR: dir, EDGECACHE_PERSIST_QUEUE_BYTES: "16KiB", EDGECACHE_SHUTDOWN_TIMEOUT: "300ms" }, faultyFileSystem(faults));
    try {
      await waitFor(async () => (await readiness(node)).status === 200, 10_000, "ready");
      faults.append = "ENOSPC";
      for (let i = 0; i < 100; i++) {
        const put = await fetch(`${node.url}/v1/kv/k${i}`, { method: "PUT", headers: auth, body: "x".repeat(500) });
        assert.equal(put.status, 201);
      }
      await waitFor(async () => (await readiness(node)).body.checks.persistence.status === "degraded", 10_000, "degraded");
      const ready = await readiness(node);
      assert.equal(ready.status, 200, "degraded persistence does not make the node unready");
      assert.match(ready.body.checks.persistence.detail, /ENOSPC/);
      assert.equal((await fetch(`${node.url}/v1/kv/k99`, { headers: auth })).status, 200);
      const metrics = await (await fetch(`${node.url}/metrics`)).text();
      assert.match(metrics, /edgecache_persistence_state\{adapter="file"\} 1/);
      const queued = Number(/edgecache_persistence_queue_bytes\{adapter="file"\} (\d+)/.exec(metrics)?.[1]);
      assert.ok(queued <= 16 * 1024, `queue ${queued}`);
      assert.ok(Number(/edgecache_persistence_dropped_records_total\{adapter="file"\} (\d+)/.exec(metrics)?.[1]) > 0);
      assert.equal(logs.filter((line) => line.msg === "persistence writes failing: serving from memory, retrying").length, 1);
    } finally {
      await node.shutdown("test");
    }
    assert.ok(logs.some((line) => line.msg === "persistence flush did not finish in time at shutdown"), "shutdown waits at most EDGECACHE_SHUTDOWN_TIMEOUT for a full disk");
    assert.ok(logs.some((line) => line.msg === "persistence closed with records not written"));
  });

  test("with EDGECACHE_WRITE_BEHIND_URL, writes and deletes reach the backing service and both adapters show in /readyz", async () => {
    const { dir, remove } = tempDir();
    dirs.push({ remove });
    const ops: Array<Record<string, unknown>> = [];
    const service = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        ops.push(...JSON.parse(body).ops);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", () => resolve()));
    const url = `http://127.0.0.1:${(service.address() as { port: number }).port}/ingest`;
    const { node, auth } = await boot({ EDGECACHE_DATA_DIR: dir, EDGECACHE_WRITE_BEHIND_URL: url }, faultyFileSystem({}));
    try {
      await waitFor(async () => (await readiness(node)).status === 200, 10_000, "ready");
      assert.equal((await fetch(`${node.url}/v1/kv/a?tags=x`, { method: "PUT", headers: auth, body: "1" })).status, 201);
      assert.equal((await fetch(`${node.url}/v1/kv/a`, { method: "DELETE", headers: auth })).status, 204);
      await waitFor(() => ops.length === 2, 10_000, "two forwarded operations");
      assert.deepEqual(ops.map((op) => `${op.op}:${op.key}`), ["put:a", "delete:a"]);
      const detail = (await readiness(node)).body.checks.persistence.detail as string;
      assert.match(detail, /^file: .*; http: /);
    } finally {
      await node.shutdown("test");
      await new Promise<void>((resolve) => service.close(() => resolve()));
    }
  });

  test("shutdown writes and fsyncs what is queued, even with EDGECACHE_FSYNC=never", async () => {
    const { dir, remove } = tempDir();
    dirs.push({ remove });
    const fs = faultyFileSystem({});
    const first = await boot({ EDGECACHE_DATA_DIR: dir, EDGECACHE_FSYNC: "never" }, fs);
    await waitFor(async () => (await readiness(first.node)).status === 200, 10_000, "ready");
    await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(`${first.node.url}/v1/kv/k${i}`, { method: "PUT", headers: first.auth, body: `v${i}` })));
    assert.equal(fs.calls.sync ?? 0, 0);
    await first.node.shutdown("test");
    assert.ok((fs.calls.sync ?? 0) >= 1, "fsynced at shutdown");
    assert.ok(first.logs.findIndex((line) => line.msg === "shutdown complete") > 0);

    const second = await boot({ EDGECACHE_DATA_DIR: dir }, faultyFileSystem({}));
    try {
      await waitFor(async () => (await readiness(second.node)).status === 200, 10_000, "ready");
      const stats = await (await fetch(`${second.node.url}/v1/admin/stats`, { headers: second.auth })).json();
      assert.equal(stats.entries, 200);
    } finally {
      await second.node.shutdown("test");
    }
  });

  test("a write that reaches the store while recovery runs (a replica write) is persisted; the recovered records are not logged again", async () => {
    const { dir, remove } = tempDir();
    dirs.push({ remove });
    const result = loadConfig({ EDGECACHE_DATA_DIR: dir }, { hostname: "test" });
    assert.ok(result.ok);
    const start = (fs: FileSystem) => {
      let record = (_change: StoreChange) => {};
      const node = makeStore(Date.now, (change) => record(change));
      const persistence = setupPersistence(result.config, { ...node, registry: new Registry(), log: captureLog().log, now: Date.now, random: Math.random, fetch: globalThis.fetch, fs });
      record = persistence.record;
      return { ...node, persistence };
    };
    const first = start(faultyFileSystem({}));
    await first.persistence.recover();
    for (let i = 0; i < 10; i++) first.store.put(`old-${i}`, { value: bytes("old"), contentType: "text/plain", tags: [], ttlMs: 0 });
    await first.persistence.shutdown(5000);

    let release = () => {};
    const fs = faultyFileSystem({ readGate: new Promise<void>((resolve) => (release = resolve)) });
    const second = start(fs);
    const recovering = second.persistence.recover();
    assert.equal(second.persistence.recovering(), true);
    second.store.applyEntry("replica", { value: bytes("from a peer"), contentType: "text/plain", version: second.clock.tick(), tags: [], storedAt: Date.now(), expiresAt: 0, size: 0 });
    release();
    await recovering;
    await second.persistence.shutdown(5000);

    const logs = readdirSync(dir).filter((name) => name.startsWith("log-")).sort();
    const recordsIn = (name: string) => scanBytes(new Uint8Array(readFileSync(`${dir}/${name}`)), LOG_MAGIC, () => {}).records;
    const third = start(faultyFileSystem({}));
    await third.persistence.recover();
    assert.equal(text(third.store.peek("replica")?.value), "from a peer");
    assert.equal(third.store.stats().entries, 11);
    // The first run's log holds its ten writes; the second run's holds the replica write only:
    // the ten records it replayed were not logged again.
    assert.deepEqual(logs.map(recordsIn), [10, 1]);
    await third.persistence.shutdown(5000);
  });
});
