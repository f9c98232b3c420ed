/**
 * Shared pieces of the persistence tests: temp directories, a store on a hand-driven clock, a
 * log capture, metrics on a private registry, and a file system that fails on demand.
 * Not a test file itself: its name does not end in `.test.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { Registry } from "prom-client";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { createStore, type Store, type StoreChange } from "../../src/core/store.ts";
import { compareVersions } from "../../src/core/version.ts";
import { createLogger, type Logger } from "../../src/obs/logger.ts";
import { createPersistenceMetrics, type PersistenceMetrics } from "../../src/obs/persistence_metrics.ts";
import type { AppendHandle, FileSystem } from "../../src/persist/file_system.ts";
import { nodeFileSystem } from "../../src/runtime/node_fs.ts";

/** 2023-11-14T22:13:20Z, as in test/unit/fakes.ts. */
export const T0 = 1_700_000_000_000;

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = "edgecache-persist-"): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A maker of temp directories that are all removed after the test file: call it at the top level
 * of a test file (it registers an `after` hook), then call the result for each fresh directory.
 */
export function tempDirsRemovedAfter(): () => string {
  const dirs: Array<{ remove(): void }> = [];
  after(() => dirs.forEach((dir) => dir.remove()));
  return () => {
    const dir = tempDir();
    dirs.push(dir);
    return dir.dir;
  };
}

/** A hand-driven wall clock. */
export function fakeClock(start = T0) {
  let current = start;
  return { now: () => current, advance: (ms: number) => void (current += ms), set: (ms: number) => void (current = ms) };
}

/** A store on `now` whose changes go to `onChange`. */
export function makeStore(now: () => number, onChange?: (change: StoreChange) => void, maxBytes = 64 * 1024 * 1024, nodeId = "test-node") {
  const clock = createHybridClock({ nodeId, now });
  const store: Store = createStore({ maxBytes, eviction: "lru" }, { now, random: () => 0.5, clock, onChange: (change) => onChange?.(change) });
  return { store, clock };
}

/** The recovery sink for a store: its applyEntry / applyDelete, and its clock. */
export function applyTo(target: { store: Store; clock: { observe(v: { hlc: number; node: number }): void } }) {
  return {
    entry: (key: string, entry: Parameters<Store["applyEntry"]>[1]) => target.store.applyEntry(key, entry),
    delete: (key: string, version: Parameters<Store["applyDelete"]>[1]) => target.store.applyDelete(key, version),
    flush(version: { hlc: number; node: number }) {
      for (const [key, entry] of target.store.entries()) if (compareVersions(entry.version, version) <= 0) target.store.applyDelete(key, version);
    },
    observe: (version: { hlc: number; node: number }) => target.clock.observe(version),
  };
}

/** A logger that keeps its JSON lines in memory. */
export function captureLog(): { log: Logger; lines: Array<Record<string, unknown>>; messages(): string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "debug", nodeId: "test", destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return { log, lines, messages: () => lines.map((line) => String(line.msg)) };
}

/** Persistence metrics on a private registry, with a reader for one sample. */
export function testMetrics(): { metrics: PersistenceMetrics; registry: Registry; value(name: string, labels?: Record<string, string>): Promise<number> } {
  const registry = new Registry();
  const metrics = createPersistenceMetrics(registry);
  return {
    metrics,
    registry,
    async value(name, labels = {}) {
      const metric = await registry.getSingleMetric(name)?.get();
      const sample = metric?.values.find((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want));
      return sample?.value ?? 0;
    },
  };
}

/** Which operations a `FaultyFileSystem` fails. */
export interface Faults {
  /** errno code appends fail with, or undefined. */
  append?: string;
  sync?: string;
  openAppend?: string;
  mkdir?: string;
  readdir?: string;
  rename?: string;
  /** When set, rename() of a snapshot never settles: the process "crashes" before the rename. */
  hangRename?: boolean;
  /** When set, openRead() waits for this promise first (a slow disk at recovery). */
  readGate?: Promise<void>;
}

function fail(code: string): Error {
  return Object.assign(new Error(`${code}: injected fault`), { code });
}

/** The real file system with faults injected per operation; `faults` can be changed at any time. */
export function faultyFileSystem(faults: Faults, base: FileSystem = nodeFileSystem): FileSystem & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const count = (op: string) => void (calls[op] = (calls[op] ?? 0) + 1);
  return {
    calls,
    async mkdir(path) {
      count("mkdir");
      if (faults.mkdir !== undefined) throw fail(faults.mkdir);
      return await base.mkdir(path);
    },
    async readdir(path) {
      count("readdir");
      if (faults.readdir !== undefined) throw fail(faults.readdir);
      return await base.readdir(path);
    },
    async openRead(path) {
      count("openRead");
      if (faults.readGate !== undefined) await faults.readGate;
      return await base.openRead(path);
    },
    async openAppend(path): Promise<AppendHandle> {
      count("openAppend");
      if (faults.openAppend !== undefined) throw fail(faults.openAppend);
      const handle = await base.openAppend(path);
      return {
        async append(bytes) {
          count("append");
          if (faults.append !== undefined) {
            // A full disk often takes part of a write before refusing the rest.
            await handle.append(bytes.subarray(0, Math.floor(bytes.byteLength / 2)));
            throw fail(faults.append);
          }
          return await handle.append(bytes);
        },
        async sync() {
          count("sync");
          if (faults.sync !== undefined) throw fail(faults.sync);
          return await handle.sync();
        },
        truncate: (size) => handle.truncate(size),
        close: () => handle.close(),
      };
    },
    async rename(from, to) {
      count("rename");
      if (faults.hangRename === true && to.includes("snapshot-")) return await new Promise<void>(() => {});
      if (faults.rename !== undefined) throw fail(faults.rename);
      return await base.rename(from, to);
    },
    unlink: (path) => base.unlink(path),
    syncDir: (path) => base.syncDir(path),
  };
}

/** Polls `check` until true or the deadline passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** UTF-8 helpers. */
export const bytes = (text: string) => new TextEncoder().encode(text);
export const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));
