import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { describe, test } from "node:test";
import { createFileLog, type FileLogConfig } from "../../src/persist/file_log.ts";
import type { FileSystem } from "../../src/persist/file_system.ts";
import type { PersistenceAdapter } from "../../src/persist/persistence.ts";
import { applyTo, bytes, captureLog, type Faults, faultyFileSystem, makeStore, tempDirsRemovedAfter, testMetrics, text, waitFor } from "./helpers.ts";

const freshDir = tempDirsRemovedAfter();

async function startNode(dir: string, fs: FileSystem, config: Partial<FileLogConfig> = {}) {
  const capture = captureLog();
  const observed = testMetrics();
  let adapter: PersistenceAdapter | undefined;
  const node = makeStore(Date.now, (change) => adapter?.record(change));
  const log = createFileLog(
    { dir, fsync: { mode: "interval", intervalMs: 20 }, maxQueueBytes: 64 * 1024, snapshotIntervalMs: 3_600_000, snapshotLogBytes: 64 * 1024 * 1024, retryBaseMs: 5, retryCapMs: 20, ...config },
    { fs, now: Date.now, random: () => 0.5, entries: () => node.store.entries(), log: capture.log, metrics: observed.metrics },
  );
  const report = await log.recover(applyTo(node));
  adapter = log;
  const stop = async () => {
    await log.flush();
    await log.close();
  };
  const put = (key: string, value: string) => node.store.put(key, { value: bytes(value), contentType: "text/plain", tags: [], ttlMs: 0 });
  return { ...node, log, report, capture, metrics: observed, put, stop, get: (key: string) => text(node.store.peek(key)?.value) };
}

const warnings = (node: { capture: { lines: Array<Record<string, unknown>> } }, msg: string) => node.capture.lines.filter((line) => line.msg === msg).length;

describe("file log: disk full and unwritable directories", () => {
  test("ENOSPC keeps the node serving from memory: degraded health, one log line, a bounded queue, counted drops", async () => {
    const dir = freshDir();
    const faults: Faults = {};
    const node = await startNode(dir, faultyFileSystem(faults));
    node.put("before", "written before the disk filled");
    await node.log.flush();

    faults.append = "ENOSPC";
    const value = "v".repeat(1000);
    for (let i = 0; i < 500; i++) {
      node.put(`k${i}`, `${i}:${value}`);
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await waitFor(() => node.log.health().status === "degraded", 15_000, "degraded health");
    assert.match(node.log.health().detail, /ENOSPC/);
    for (let i = 0; i < 500; i++) assert.equal(node.get(`k${i}`), `${i}:${value}`, "every write is served from memory");
    const queueBytes = await node.metrics.value("edgecache_persistence_queue_bytes", { adapter: "file" });
    assert.ok(queueBytes <= 64 * 1024, `queue holds ${queueBytes} bytes, bound 65536`);
    // A retry may hold a batch taken from the queue while this runs (neither queued nor dropped
    // yet); once it fails and is put back, the excess over the bound is dropped.
    await waitFor(
      async () => (await node.metrics.value("edgecache_persistence_dropped_records_total", { adapter: "file" })) > 400,
      15_000,
      "all but what fits the queue's bound dropped",
    );
    assert.ok((await node.metrics.value("edgecache_persistence_write_failures_total", { adapter: "file", code: "ENOSPC" })) >= 1);
    assert.equal(await node.metrics.value("edgecache_persistence_state", { adapter: "file" }), 1);
    assert.equal(warnings(node, "persistence writes failing: serving from memory, retrying"), 1, "one line per state change, not per write or retry");
    assert.equal(warnings(node, "persistence queue full: dropping the oldest records until writes catch up"), 1);

    // Space comes back: writes resume, one line says so, and a snapshot from memory closes the gap.
    delete faults.append;
    await waitFor(() => node.log.health().status === "ok", 15_000, "healthy again");
    assert.equal(warnings(node, "persistence writes recovered"), 1);
    await waitFor(() => readdirSync(dir).some((name) => name.endsWith(".ecs")), 15_000, "the resync snapshot");
    await node.stop();

    const again = await startNode(dir, faultyFileSystem({}));
    assert.equal(again.get("before"), "written before the disk filled");
    for (let i = 0; i < 500; i++) assert.equal(again.get(`k${i}`), `${i}:${value}`, `k${i} survives, dropped or not`);
    assert.equal(again.report.recordsSkipped, 0, "the half-written batches were cut off");
    await again.stop();
  });

  test("an unwritable directory: recovery reports it, health is degraded, writes are accepted and served", async () => {
    const dir = freshDir();
    const faults: Faults = { mkdir: "EACCES", openAppend: "EACCES" };
    const node = await startNode(`${dir}/nested`, faultyFileSystem(faults));
    assert.deepEqual(node.report.filesSkipped, [{ name: `${dir}/nested`, reason: "unreadable" }]);
    assert.equal(node.log.health().status, "degraded");
    assert.match(node.log.health().detail, /EACCES/);
    node.put("k", "v");
    assert.equal(node.get("k"), "v");
    await waitFor(async () => (await node.metrics.value("edgecache_persistence_write_failures_total", { adapter: "file", code: "EACCES" })) >= 2, 15_000, "a retried write");
    assert.equal(warnings(node, "persistence writes failing: serving from memory, retrying"), 1);
    // The operator fixes the permissions: the next retry writes.
    delete faults.mkdir;
    delete faults.openAppend;
    await waitFor(() => node.log.health().status === "ok", 15_000, "healthy");
    await node.stop();
    const again = await startNode(`${dir}/nested`, faultyFileSystem({}));
    assert.equal(again.get("k"), "v");
    await again.stop();
  });

  test("a failing fsync degrades health and the next healthy write resyncs with a snapshot", async () => {
    const dir = freshDir();
    const faults: Faults = { sync: "EIO" };
    const node = await startNode(dir, faultyFileSystem(faults));
    node.put("a", "1");
    await waitFor(() => node.log.health().status === "degraded", 15_000, "degraded");
    delete faults.sync;
    node.put("b", "2");
    await waitFor(() => readdirSync(dir).some((name) => name.endsWith(".ecs")), 15_000, "the resync snapshot");
    await node.stop();
    const again = await startNode(dir, faultyFileSystem({}));
    assert.deepEqual([again.get("a"), again.get("b")], ["1", "2"]);
    await again.stop();
  });
});

describe("file log: fsync policy", () => {
  test("always fsyncs every batch; never leaves it to flush() at shutdown", async () => {
    const synced = faultyFileSystem({});
    const always = await startNode(freshDir(), synced, { fsync: { mode: "always" } });
    for (let i = 0; i < 5; i++) {
      always.put(`k${i}`, "v");
      await waitFor(async () => (await always.metrics.value("edgecache_persistence_records_written_total", { adapter: "file" })) === i + 1, 15_000, "the write");
      assert.equal(synced.calls.sync, i + 1, "fsynced with the batch, before flush() is asked");
    }
    const histogram = await always.metrics.registry.getSingleMetric("edgecache_persistence_fsync_duration_seconds")?.get();
    assert.equal(histogram?.values.find((v) => (v as { metricName?: string }).metricName === "edgecache_persistence_fsync_duration_seconds_count")?.value, 5);
    await always.stop();

    const fs = faultyFileSystem({});
    const never = await startNode(freshDir(), fs, { fsync: { mode: "never" } });
    for (let i = 0; i < 5; i++) never.put(`k${i}`, "v");
    await waitFor(async () => (await never.metrics.value("edgecache_persistence_records_written_total", { adapter: "file" })) === 5, 15_000, "written");
    assert.equal(fs.calls.sync ?? 0, 0, "no fsync while running");
    await never.log.flush();
    assert.equal(fs.calls.sync, 1, "flush() fsyncs once");
    await never.stop();
  });

  test("the interval policy fsyncs at most once per interval", async () => {
    const fs = faultyFileSystem({});
    const node = await startNode(freshDir(), fs, { fsync: { mode: "interval", intervalMs: 200 } });
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      node.put(`k${i}`, "v");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await waitFor(() => (fs.calls.sync ?? 0) >= 1, 15_000, "the first fsync");
    const elapsed = Date.now() - started;
    assert.ok((fs.calls.sync ?? 0) <= Math.ceil(elapsed / 200) + 1, `${fs.calls.sync} fsyncs in ${elapsed} ms`);
    await node.stop();
  });
});
