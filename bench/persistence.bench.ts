/**
 * Persistence macro-benchmarks (too long-running for mitata's sampling, so timed directly):
 *
 * 1. Recovery time of 1,000,000 entries of 100 B value into a real store, from a snapshot and
 *    from a log (goal: under 3 s), on the real file system in a temp directory.
 * 2. Write throughput of the store with the file log on against off, in the same run, with the
 *    on-disk drain (flush + fsync) included in the "on" time; reported as a ratio.
 * 3. With --http: HTTP write throughput of the compiled binary (dist/edgecache; scripts/build
 *    first) with EDGECACHE_DATA_DIR against without, `edgecache bench --read-ratio 0` against
 *    each, alternating rounds; reported as the ratio of medians.
 *
 *   bun bench/persistence.bench.ts [--entries=1000000] [--http] [--rounds=3]
 *   (recovery runs in a fresh child process per round, `--recover-child=DIR [--instrument]`, on
 *   files another child wrote, `--write-fixtures=SNAPSHOT_DIR,LOG_DIR`)
 *   deno run -A bench/persistence.bench.ts [--entries=1000000] [--http]
 *
 * Ends with one JSON line (`{"bench":"persistence",...}`) for bench/RESULTS.md.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Registry } from "prom-client";
import type { StoredEntry } from "../src/core/entry.ts";
import { createHybridClock } from "../src/core/hybrid_clock.ts";
import { createStore, type StoreChange } from "../src/core/store.ts";
import { createLogger } from "../src/obs/logger.ts";
import { createPersistenceMetrics } from "../src/obs/persistence_metrics.ts";
import { logName } from "../src/persist/data_files.ts";
import { createFileLog } from "../src/persist/file_log.ts";
import { encodeFrames, LOG_MAGIC, type PersistRecord } from "../src/persist/record_codec.ts";
import { writeSnapshot } from "../src/persist/snapshot.ts";
import { nodeFileSystem } from "../src/runtime/node_fs.ts";

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const ENTRIES = Number(arg("entries", "1000000"));
const ROUNDS = Number(arg("rounds", "3"));
const VALUE = new Uint8Array(100).fill(0x61);
const runtime = "Deno" in globalThis ? "deno" : "bun";
const silent = createLogger({ level: "silent", nodeId: "bench" });

function newStore(onChange?: (change: StoreChange) => void) {
  const now = Date.now;
  const clock = createHybridClock({ nodeId: "bench", now });
  return { clock, store: createStore({ maxBytes: 4 * 1024 ** 3, eviction: "lru" }, { now, random: Math.random, clock, onChange }) };
}

function fileLog(dir: string, entries: () => Array<[string, StoredEntry]>) {
  return createFileLog(
    { dir, fsync: { mode: "interval", intervalMs: 1000 }, maxQueueBytes: 256 * 1024 * 1024, snapshotIntervalMs: 3_600_000, snapshotLogBytes: 64 * 1024 * 1024 },
    { fs: nodeFileSystem, now: Date.now, random: Math.random, entries, log: silent, metrics: createPersistenceMetrics(new Registry()) },
  );
}

function dirMiB(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0) / 1024 ** 2;
}

function syntheticEntries(count: number): Array<[string, StoredEntry]> {
  const now = Date.now();
  return Array.from({ length: count }, (_, i): [string, StoredEntry] => [
    `key:${i.toString().padStart(8, "0")}`,
    { value: VALUE, contentType: "application/octet-stream", version: { hlc: now * 1024 + i, node: 1 }, tags: [], storedAt: now, expiresAt: 0, size: 0 },
  ]);
}

/**
 * Recovers `dir` into a fresh store; wall seconds, CPU seconds of the process (all threads), and,
 * when `instrument` is set, the store's own share (timing each applyEntry slows the run, so the
 * timed rounds run without it).
 */
async function timeRecovery(dir: string, instrument: boolean): Promise<{ seconds: number; cpu: number; storeSeconds: number; recovered: number }> {
  const { store, clock } = newStore();
  const log = fileLog(dir, () => store.entries());
  let storeMs = 0;
  const entry = instrument
    ? (k: string, e: StoredEntry) => {
      const t = performance.now();
      const applied = store.applyEntry(k, e);
      storeMs += performance.now() - t;
      return applied;
    }
    : (k: string, e: StoredEntry) => store.applyEntry(k, e);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const report = await log.recover({ entry, delete: (k, v) => store.applyDelete(k, v), flush: () => {}, observe: (v) => clock.observe(v) });
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await log.close();
  return { seconds, cpu: (used.user + used.system) / 1e6, storeSeconds: storeMs / 1000, recovered: report.entriesRecovered };
}

/**
 * Recovers `dir` in a new process of this runtime, as a restarted node does: nothing else is on
 * its heap (the bench's own million synthetic entries would double the collector's work).
 */
function recoverInChild(dir: string, instrument: boolean): Awaited<ReturnType<typeof timeRecovery>> {
  return child([`--recover-child=${dir}`, ...(instrument ? ["--instrument"] : [])]);
}

/** Writes the snapshot and the log that recovery is timed on (run in a child: see recoveryBench). */
async function writeFixtures(fromSnapshot: string, fromLog: string): Promise<void> {
  const entries = syntheticEntries(ENTRIES);
  await writeSnapshot(nodeFileSystem, fromSnapshot, 1, entries);
  const handle = await nodeFileSystem.openAppend(join(fromLog, logName(0)));
  await handle.append(LOG_MAGIC);
  for (let i = 0; i < entries.length; i += 10_000) {
    const records: PersistRecord[] = entries.slice(i, i + 10_000).map(([key, entry]) => ({ type: "put", key, entry }));
    await handle.append(encodeFrames(records));
  }
  await handle.sync();
  await handle.close();
}

/** Runs this script in a new process of this runtime with `args`; its last stdout line as JSON. */
function child<T>(args: string[]): T {
  const script = new URL(import.meta.url).pathname;
  const argv = runtime === "deno" ? ["run", "-A", script, ...args] : [script, ...args];
  const run = spawnSync(process.execPath, argv, { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`bench child ${args.join(" ")} failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").at(-1)!) as T;
}

async function recoveryBench(): Promise<Record<string, number>> {
  const fromSnapshot = mkdtempSync(join(tmpdir(), "edgecache-bench-snap-"));
  const fromLog = mkdtempSync(join(tmpdir(), "edgecache-bench-log-"));
  try {
    // Written by a child too: a million synthetic entries here would leave this process's
    // collector busy on the other core while the timed children run.
    child([`--write-fixtures=${fromSnapshot},${fromLog}`, `--entries=${ENTRIES}`]);
    const measure = (dir: string) => {
      const rounds = Array.from({ length: ROUNDS }, () => recoverInChild(dir, false));
      for (const round of rounds) if (round.recovered !== ENTRIES) throw new Error(`recovered ${round.recovered} of ${ENTRIES}`);
      return { seconds: median(rounds.map((r) => r.seconds)), cpu: median(rounds.map((r) => r.cpu)), storeSeconds: recoverInChild(dir, true).storeSeconds, all: rounds.map((r) => r.seconds) };
    };
    const snap = measure(fromSnapshot);
    const log = measure(fromLog);
    const line = (name: string, r: typeof snap, dir: string) =>
      `${name} ${r.seconds.toFixed(2)} s wall (rounds: ${r.all.map((s) => s.toFixed(2)).join(", ")}), ${r.cpu.toFixed(2)} s CPU, store.applyEntry ${r.storeSeconds.toFixed(2)} s in an instrumented round (${dirMiB(dir).toFixed(0)} MiB)`;
    console.log(`recovery of ${ENTRIES} entries of 100 B, each round a fresh process, median of ${ROUNDS}:\n  ${line("snapshot", snap, fromSnapshot)}\n  ${line("log", log, fromLog)}`);
    return {
      recovery_snapshot_s: snap.seconds,
      recovery_snapshot_cpu_s: snap.cpu,
      recovery_snapshot_store_s: snap.storeSeconds,
      recovery_log_s: log.seconds,
      recovery_log_cpu_s: log.cpu,
      recovery_log_store_s: log.storeSeconds,
      snapshot_mib: dirMiB(fromSnapshot),
    };
  } finally {
    rmSync(fromSnapshot, { recursive: true, force: true });
    rmSync(fromLog, { recursive: true, force: true });
  }
}

/** Puts `count` 100 B values into a store; with a file log, the time includes draining it to disk and fsync. */
async function writeRun(persist: boolean, count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "edgecache-bench-write-"));
  try {
    let record = (_change: StoreChange) => {};
    const { store, clock } = newStore((change) => record(change));
    const log = persist ? fileLog(dir, () => store.entries()) : undefined;
    if (log !== undefined) {
      await log.recover({ entry: (k, e) => store.applyEntry(k, e), delete: (k, v) => store.applyDelete(k, v), flush: () => {}, observe: (v) => clock.observe(v) });
      record = log.record;
    }
    const input = { value: VALUE, contentType: "application/octet-stream", tags: [] as string[], ttlMs: 0 };
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      store.put(`key:${i % 200_000}`, input);
      // Let the writer run the way it does between HTTP requests.
      if (i % 1000 === 999) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await log?.flush();
    const seconds = (performance.now() - started) / 1000;
    await log?.close();
    return count / seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function writeBench(): Promise<Record<string, number>> {
  const count = Math.min(ENTRIES, 500_000);
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    off.push(await writeRun(false, count));
    on.push(await writeRun(true, count));
  }
  const ratio = median(on) / median(off);
  console.log(`store writes/s (${count} puts, median of ${ROUNDS}): off ${median(off).toFixed(0)}, on ${median(on).toFixed(0)}, on/off ${ratio.toFixed(2)}`);
  return { store_puts_per_s_off: median(off), store_puts_per_s_on: median(on), store_ratio_on_off: ratio };
}

/** Starts dist/edgecache on an ephemeral port and returns its URL and a stop function. */
async function startBinary(env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn("dist/edgecache", ["serve"], { env: { PATH: process.env.PATH ?? "", EDGECACHE_LISTEN: "127.0.0.1:0", EDGECACHE_LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout?.on("data", (chunk) => (out += chunk));
  const deadline = Date.now() + 10_000;
  while (!/"url":"([^"]+)"/.test(out)) {
    if (Date.now() > deadline) throw new Error("the binary did not start");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const url = /"url":"([^"]+)"/.exec(out)![1];
  while ((await fetch(`${url}/readyz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
  return { url, stop: () => new Promise((resolve) => (child.on("close", () => resolve()), child.kill("SIGTERM"))) };
}

async function httpBench(): Promise<Record<string, number>> {
  const secret = "bench-secret-bench-secret-bench-secret-123";
  const measure = async (env: Record<string, string>) => {
    const node = await startBinary({ EDGECACHE_JWT_SECRET: secret, ...env });
    const run = spawnSync("dist/edgecache", ["bench", "--url", node.url, "--read-ratio", "0", "--duration", "5s", "--keys", "100000", "--value-size", "100", "--json"], {
      env: { PATH: process.env.PATH ?? "", EDGECACHE_JWT_SECRET: secret },
      encoding: "utf8",
    });
    await node.stop();
    return JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { ops_per_sec: number; p99_ms: number };
  };
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    off.push((await measure({})).ops_per_sec);
    const dir = mkdtempSync(join(tmpdir(), "edgecache-bench-http-"));
    on.push((await measure({ EDGECACHE_DATA_DIR: dir })).ops_per_sec);
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = median(on) / median(off);
  console.log(`HTTP PUT/s of dist/edgecache (median of ${ROUNDS}): off ${median(off).toFixed(0)}, on ${median(on).toFixed(0)}, on/off ${ratio.toFixed(2)}`);
  return { http_puts_per_s_off: median(off), http_puts_per_s_on: median(on), http_ratio_on_off: ratio };
}

const recoverDir = arg("recover-child", "");
if (recoverDir !== "") {
  console.log(JSON.stringify(await timeRecovery(recoverDir, process.argv.includes("--instrument"))));
  process.exit(0);
}
const fixtureDirs = arg("write-fixtures", "");
if (fixtureDirs !== "") {
  const [snapshotDir, logDir] = fixtureDirs.split(",");
  await writeFixtures(snapshotDir, logDir);
  console.log("{}");
  process.exit(0);
}
const results = { ...(await recoveryBench()), ...(await writeBench()), ...(process.argv.includes("--http") ? await httpBench() : {}) };
const rounded = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(v * 100) / 100]));
console.log(JSON.stringify({ bench: "persistence", runtime, entries: ENTRIES, ...rounded }));
