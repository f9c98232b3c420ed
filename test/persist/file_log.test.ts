import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { createFileLog, type FileLogConfig } from "../../src/persist/file_log.ts";
import type { FileSystem } from "../../src/persist/file_system.ts";
import type { PersistenceAdapter, RecoveryReport } from "../../src/persist/persistence.ts";
import { applyTo, bytes, captureLog, fakeClock, faultyFileSystem, makeStore, tempDirsRemovedAfter, testMetrics, text, waitFor } from "./helpers.ts";

const freshDir = tempDirsRemovedAfter();

/** A store with a file log wired the way persistence_setup wires it: recovery first, then changes. */
async function startNode(dir: string, options: { clock?: ReturnType<typeof fakeClock>; fs?: FileSystem; config?: Partial<FileLogConfig> } = {}) {
  const clock = options.clock ?? fakeClock();
  const capture = captureLog();
  const observed = testMetrics();
  let adapter: PersistenceAdapter | undefined;
  const node = makeStore(clock.now, (change) => adapter?.record(change));
  const log = createFileLog(
    { dir, fsync: { mode: "interval", intervalMs: 50 }, maxQueueBytes: 16 * 1024 * 1024, snapshotIntervalMs: 3_600_000, snapshotLogBytes: 64 * 1024 * 1024, ...options.config },
    { fs: options.fs ?? faultyFileSystem({}), now: clock.now, random: () => 0.5, entries: () => node.store.entries(), log: capture.log, metrics: observed.metrics },
  );
  const report: RecoveryReport = await log.recover(applyTo(node));
  adapter = log;
  const put = (key: string, value: string, ttlMs = 0, tags: string[] = [], contentType = "text/plain") =>
    node.store.put(key, { value: bytes(value), contentType, tags, ttlMs }).entry;
  /** Graceful stop, as shutdown does it: flush (write + fsync), then close. */
  const stop = async () => {
    await log.flush();
    await log.close();
  };
  return { ...node, log, stop, report, capture, metrics: observed, clock, put, get: (key: string) => text(node.store.peek(key)?.value) };
}

const files = (dir: string) => readdirSync(dir).sort();
/** Bytes in the directory; a file removed between listing and stat counts as 0. */
const dirBytes = (dir: string) =>
  files(dir).reduce((sum, name) => {
    try {
      return sum + statSync(`${dir}/${name}`).size;
    } catch {
      return sum;
    }
  }, 0);

describe("file log: restart", () => {
  test("a clean restart keeps values, content types, remaining TTLs, tags, negative entries and deletes", async () => {
    const dir = freshDir();
    const clock = fakeClock();
    const first = await startNode(dir, { clock });
    const a = first.put("a", "alpha", 100_000, ["red", "blue"], "application/x-alpha");
    first.put("b", "beta");
    first.store.put("c", { value: new Uint8Array(0), contentType: "", tags: [], ttlMs: 60_000, negative: true });
    first.store.delete("b");
    first.put("d", "old");
    const d = first.put("d", "new");
    await first.stop();

    clock.advance(30_000);
    const second = await startNode(dir, { clock });
    const recovered = second.store.peek("a")!;
    assert.equal(text(recovered.value), "alpha");
    assert.equal(recovered.contentType, "application/x-alpha");
    assert.deepEqual([...recovered.tags], ["red", "blue"]);
    assert.equal(recovered.expiresAt, a.expiresAt, "the absolute expiry is kept");
    assert.equal(recovered.expiresAt - clock.now(), 70_000, "so 70 s of the 100 s TTL remain");
    assert.deepEqual(recovered.version, a.version, "the ETag survives");
    assert.equal(second.store.peek("b"), undefined, "a deleted key stays deleted");
    assert.equal(second.store.applyEntry("b", { ...a, version: { hlc: a.version.hlc + 1, node: 1 } }), false, "the delete's tombstone refuses an older write");
    assert.equal(second.store.peek("c")?.negative, true);
    assert.equal(second.get("d"), "new");
    assert.ok(second.put("e", "later").version.hlc > d.version.hlc, "new writes order after every recovered version");
    assert.deepEqual({ entries: second.report.entriesRecovered, deletes: second.report.deletesRecovered, skipped: second.report.recordsSkipped }, { entries: 3, deletes: 1, skipped: 0 });
    assert.equal(second.store.invalidateTags(["blue"]), 1, "recovered tags are indexed");
    await second.stop();
  });

  test("entries that expired while the node was down are not resurrected", async () => {
    const dir = freshDir();
    const clock = fakeClock();
    const first = await startNode(dir, { clock });
    first.put("short", "gone soon", 10_000);
    first.put("long", "still here", 100_000);
    await first.stop();
    clock.advance(11_000);
    const second = await startNode(dir, { clock });
    assert.equal(second.store.peek("short"), undefined);
    assert.equal(second.get("long"), "still here");
    assert.equal(second.report.entriesRefused, 1);
    await second.stop();
  });

  test("a flush is not undone by recovery", async () => {
    const dir = freshDir();
    const first = await startNode(dir);
    first.put("a", "1");
    first.put("b", "2");
    first.store.flush();
    first.put("c", "3");
    await first.stop();
    const second = await startNode(dir);
    assert.deepEqual(second.store.entries().map(([key]) => key), ["c"]);
    await second.stop();
  });

  test("what was written survives a crash without close or fsync (kill -9 after the write)", async () => {
    const dir = freshDir();
    const first = await startNode(dir, { config: { fsync: { mode: "never" } } });
    for (let i = 0; i < 500; i++) first.put(`k${i}`, `v${i}`);
    await waitFor(async () => (await first.metrics.value("edgecache_persistence_records_written_total", { adapter: "file" })) === 500, 10_000, "500 records written");
    // No flush, no close: the process is gone. The page cache still holds the writes.
    const second = await startNode(dir);
    assert.equal(second.report.entriesRecovered, 500);
    assert.equal(second.get("k499"), "v499");
    await second.stop();
    await first.stop();
  });
});

describe("file log: damaged files", () => {
  async function written(dir: string, count = 20) {
    const node = await startNode(dir);
    for (let i = 0; i < count; i++) node.put(`key-${String(i).padStart(2, "0")}`, `value-${String(i).padStart(2, "0")}`);
    await node.stop();
    const log = files(dir).find((name) => name.startsWith("log-"))!;
    return `${dir}/${log}`;
  }

  test("a flipped byte skips that one record, counts and logs it, and never serves it", async () => {
    const dir = freshDir();
    const path = await written(dir);
    const content = readFileSync(path);
    const at = content.indexOf("value-07");
    content[at + 6] ^= 0x01; // "value-17" would be a wrong value served if the checksum did not catch it
    writeFileSync(path, content);
    const node = await startNode(dir);
    assert.equal(node.store.peek("key-07"), undefined);
    assert.equal(node.get("key-06"), "value-06");
    assert.equal(node.get("key-08"), "value-08");
    assert.equal(node.report.recordsSkipped, 1);
    assert.equal(node.store.stats().entries, 19);
    const warning = node.capture.lines.find((line) => line.msg === "recovered with damaged data skipped (never served)");
    assert.equal(warning?.skippedRecords, 1);
    assert.equal(await node.metrics.value("edgecache_persistence_skipped_records_total", { reason: "bad_frame" }), 1);
    await node.stop();
  });

  test("a torn tail loses only the record that was being written", async () => {
    const dir = freshDir();
    const path = await written(dir);
    truncateSync(path, statSync(path).size - 3);
    const node = await startNode(dir);
    assert.equal(node.store.stats().entries, 19);
    assert.equal(node.store.peek("key-19"), undefined);
    assert.equal(node.report.tornTails, 1);
    await node.stop();
  });

  test("zero-length and foreign files are skipped, counted and set aside", async () => {
    const dir = freshDir();
    await written(dir);
    writeFileSync(`${dir}/log-0000000000000050.ecl`, "");
    writeFileSync(`${dir}/log-0000000000000051.ecl`, "#!/bin/sh\necho this is not a log\n");
    writeFileSync(`${dir}/snapshot-0000000000000052.ecs`, new Uint8Array(4096).fill(7));
    writeFileSync(`${dir}/notes.txt`, "an operator's file is left alone");
    const node = await startNode(dir);
    assert.equal(node.store.stats().entries, 20);
    assert.deepEqual(node.report.filesSkipped.map((file) => `${file.name}:${file.reason}`).sort(), [
      "log-0000000000000050.ecl:empty",
      "log-0000000000000051.ecl:foreign",
      "snapshot-0000000000000052.ecs:foreign",
    ]);
    assert.ok(existsSync(`${dir}/log-0000000000000051.ecl.corrupt`), "a foreign log is renamed aside");
    assert.ok(existsSync(`${dir}/notes.txt`));
    await node.stop();
    const again = await startNode(dir);
    assert.equal(again.store.stats().entries, 20);
    await again.stop();
  });
});

describe("file log: snapshots and compaction", () => {
  const small = { snapshotLogBytes: 64 * 1024 };

  test("a crash between writing a snapshot and renaming it leaves a loadable state", async () => {
    const dir = freshDir();
    const fs = faultyFileSystem({ hangRename: true });
    const first = await startNode(dir, { fs, config: small });
    const value = "v".repeat(1000);
    for (let i = 0; i < 100; i++) first.put(`k${i}`, `${i}:${value}`);
    await waitFor(() => files(dir).some((name) => name.endsWith(".ecs.tmp")) && (fs.calls.rename ?? 0) > 0, 10_000, "the snapshot to reach its rename");
    for (let i = 100; i < 120; i++) first.put(`k${i}`, `${i}:${value}`);
    first.store.delete("k0");
    await waitFor(async () => (await first.metrics.value("edgecache_persistence_records_written_total", { adapter: "file" })) >= 121, 10_000, "later writes");
    // The process dies here, its snapshot never renamed.
    const second = await startNode(dir);
    assert.equal(second.report.snapshot, undefined, "the unrenamed snapshot is not used");
    assert.equal(second.store.stats().entries, 119);
    assert.equal(second.get("k119")?.startsWith("119:"), true);
    assert.equal(second.store.peek("k0"), undefined);
    assert.ok(!files(dir).some((name) => name.endsWith(".tmp")), "the leftover .tmp is removed");
    await second.stop();
  });

  test("a damaged newest snapshot falls back to the previous snapshot and the logs after it", async () => {
    const dir = freshDir();
    const first = await startNode(dir, { config: small });
    const value = "w".repeat(2000);
    for (let round = 0; round < 3; round++) {
      // Twice over (the queue coalesces per key, so flush between): the log must outgrow the
      // last snapshot's size to trigger the next one.
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < 40; i++) first.put(`k${i}`, `${round}:${value}`);
        await first.log.flush();
      }
      await waitFor(() => files(dir).filter((name) => name.endsWith(".ecs")).length >= Math.min(2, round + 1), 10_000, "snapshots");
    }
    await first.stop();
    const snapshots = files(dir).filter((name) => name.endsWith(".ecs"));
    assert.equal(snapshots.length, 2, `kept ${files(dir).join(", ")}`);
    const newest = `${dir}/${snapshots[1]}`;
    const content = readFileSync(newest);
    content[Math.floor(content.length / 2)] ^= 0xff;
    writeFileSync(newest, content);
    const second = await startNode(dir);
    assert.equal(second.report.snapshot, Number(snapshots[0].slice(9, 25)), "the previous snapshot is the base");
    assert.equal(second.store.stats().entries, 40);
    for (let i = 0; i < 40; i++) assert.equal(second.get(`k${i}`)?.slice(0, 2), "2:", `k${i} has its newest value`);
    assert.ok(existsSync(`${newest}.corrupt`), "the damaged snapshot is set aside");
    await second.stop();
  });

  test("compaction keeps the directory bounded however long the node writes", async () => {
    const dir = freshDir();
    const node = await startNode(dir, { config: small });
    const value = "x".repeat(1000);
    let peak = 0;
    let mostFiles = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 50; i++) node.put(`k${i}`, `${round}:${value}`);
      await node.log.flush();
      peak = Math.max(peak, dirBytes(dir));
      mostFiles = Math.max(mostFiles, files(dir).length);
    }
    const logged = await node.metrics.value("edgecache_persistence_bytes_written_total", { adapter: "file" });
    await node.stop();
    // ~10 MB were logged over a live state of ~50 KB. The directory holds two snapshots and the
    // logs since the older one; those logs grow only while a snapshot is being taken.
    assert.ok(logged > 10_000_000, `logged ${logged}`);
    assert.ok(peak < logged / 4, `peak directory size ${peak} of ${logged} logged`);
    assert.ok(mostFiles <= 8, `at most ${mostFiles} files at once`);
    assert.ok(files(dir).filter((name) => name.endsWith(".ecs")).length <= 2, files(dir).join(", "));
    const again = await startNode(dir);
    assert.equal(again.store.stats().entries, 50);
    assert.equal(again.get("k7")?.slice(0, 4), "199:");
    await again.stop();
  });

  test("many restarts do not pile up logs: recovery of four or more logs is followed by a snapshot", async () => {
    const dir = freshDir();
    for (let i = 0; i < 6; i++) {
      const node = await startNode(dir);
      node.put(`k${i}`, `v${i}`);
      await node.log.flush();
      await waitFor(() => node.log.health().status === "ok");
      await node.stop();
    }
    assert.ok(files(dir).filter((name) => name.startsWith("log-")).length <= 5, files(dir).join(", "));
    const last = await startNode(dir);
    assert.equal(last.store.stats().entries, 6);
    await last.stop();
  });
});
