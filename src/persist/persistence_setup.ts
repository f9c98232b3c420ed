import type { Registry } from "prom-client";
import type { ReadinessCheck } from "../api/context.ts";
import { errorResponse } from "../api/http_errors.ts";
import type { Config } from "../config/load_config.ts";
import { EdgecacheError } from "../core/errors.ts";
import type { HybridClock } from "../core/hybrid_clock.ts";
import type { Store, StoreChange } from "../core/store.ts";
import { compareVersions, type Version } from "../core/version.ts";
import type { Logger } from "../obs/logger.ts";
import { createPersistenceMetrics } from "../obs/persistence_metrics.ts";
import { createFileLog } from "./file_log.ts";
import type { FileSystem } from "./file_system.ts";
import { createHttpWriteBehind } from "./http_write_behind.ts";
import type { PersistenceAdapter } from "./persistence.ts";

/** What wiring persistence needs from the node. */
export interface PersistenceSetupDeps {
  store: Store;
  /** The store's write clock, advanced past every recovered version. */
  clock: HybridClock;
  registry: Registry;
  log: Logger;
  now: () => number;
  random: () => number;
  fetch: typeof fetch;
  /** The real one is `nodeFileSystem` (src/runtime/node_fs.ts). */
  fs: FileSystem;
}

/** Persistence as the node sees it: one feed, one recovery, one readiness check, one shutdown. */
export interface PersistenceSetup {
  /** The store's `onChange`: hands each change to every adapter, except the recovery's own replays. */
  record(change: StoreChange): void;
  /** Recovers every adapter into the store; resolves when done and never rejects. */
  recover(): Promise<void>;
  /** True from creation until `recover()` has finished, when an adapter is configured. */
  recovering(): boolean;
  /** The `persistence` check of `/readyz`: `down` while recovering, `degraded` while writes fail. */
  check(): ReadinessCheck;
  /** 503 `not_ready` for API requests (`/v1/...`) while recovering; undefined when the request may proceed. */
  gate(request: Request): Response | undefined;
  /** Flushes (bounded by `timeoutMs`) and closes every adapter: writes reach the file and are fsynced. */
  shutdown(timeoutMs: number): Promise<void>;
}

const RANK = { ok: 0, degraded: 1, down: 2 } as const;

/** A recovered flush: removes every entry at or below its version, leaving the same tombstones a delete would. */
function replayFlush(store: Store, version: Version): void {
  for (const [key, entry] of store.entries()) {
    if (compareVersions(entry.version, version) <= 0) store.applyDelete(key, version);
  }
}

/** Builds the adapters the configuration asks for (file log, HTTP write-behind, both or none). */
export function setupPersistence(config: Config, deps: PersistenceSetupDeps): PersistenceSetup {
  const settings = config.persistence;
  const adapters: PersistenceAdapter[] = [];
  const metrics = settings.dataDir !== undefined || settings.writeBehind.url !== undefined ? createPersistenceMetrics(deps.registry) : undefined;
  if (metrics !== undefined && settings.dataDir !== undefined) {
    adapters.push(createFileLog(
      { dir: settings.dataDir, fsync: settings.fsync, maxQueueBytes: settings.queueMaxBytes, snapshotIntervalMs: settings.snapshotIntervalMs, snapshotLogBytes: settings.snapshotLogBytes },
      { fs: deps.fs, now: deps.now, random: deps.random, entries: () => deps.store.entries(), log: deps.log, metrics },
    ));
  }
  if (metrics !== undefined && settings.writeBehind.url !== undefined) {
    adapters.push(createHttpWriteBehind(
      {
        url: settings.writeBehind.url,
        token: settings.writeBehind.token,
        nodeId: config.cluster.nodeId,
        maxQueueBytes: settings.queueMaxBytes,
        maxBatchRecords: settings.writeBehind.batchMaxRecords,
        timeoutMs: settings.writeBehind.timeoutMs,
      },
      { fetch: deps.fetch, now: deps.now, random: deps.random, log: deps.log, metrics },
    ));
  }
  let recovering = adapters.length > 0;
  /** True only while a recovered record is being applied (the store reports it synchronously). */
  let replaying = false;
  const requestIdOf = (request: Request) => request.headers.get("x-request-id")?.match(/^[A-Za-z0-9._:-]{1,128}$/)?.[0] ?? crypto.randomUUID();

  return {
    record(change) {
      // The store reports recovered records as changes too; they are on disk already. Anything
      // else (a replica write arriving while recovery runs) is recorded as usual.
      if (replaying) return;
      for (const adapter of adapters) adapter.record(change);
    },
    async recover() {
      const replay = <T>(apply: () => T): T => {
        replaying = true;
        try {
          return apply();
        } finally {
          replaying = false;
        }
      };
      try {
        for (const adapter of adapters) {
          await adapter.recover({
            entry: (key, entry) => replay(() => deps.store.applyEntry(key, entry)),
            delete: (key, version) => replay(() => deps.store.applyDelete(key, version)),
            flush: (version) => replay(() => replayFlush(deps.store, version)),
            observe: (version) => deps.clock.observe(version),
          }).catch((error) => deps.log.error({ err: error, adapter: adapter.name }, "persistence recovery failed: starting with what was recovered"));
        }
      } finally {
        recovering = false;
      }
    },
    recovering: () => recovering,
    check() {
      if (adapters.length === 0) return { status: "disabled", detail: "EDGECACHE_DATA_DIR and EDGECACHE_WRITE_BEHIND_URL not set" };
      if (recovering) return { status: "down", detail: "recovering from the data directory" };
      const healths = adapters.map((adapter) => ({ name: adapter.name, ...adapter.health() }));
      const worst = healths.reduce((a, b) => (RANK[b.status] > RANK[a.status] ? b : a));
      return { status: worst.status, detail: healths.map((h) => `${h.name}: ${h.detail}`).join("; ") };
    },
    gate(request) {
      if (!recovering) return undefined;
      const path = request.url.slice(request.url.indexOf("/", request.url.indexOf("//") + 2));
      if (!path.startsWith("/v1/")) return undefined;
      const error = new EdgecacheError("not_ready", "Cannot serve the request as the node must have recovered its persisted data first: current state is recovering");
      return errorResponse(error, { "x-request-id": requestIdOf(request), "retry-after": "1" });
    },
    async shutdown(timeoutMs) {
      const deadline = deps.now() + timeoutMs;
      const flushed = await withDeadline(Promise.all(adapters.map((adapter) => adapter.flush())), timeoutMs);
      if (!flushed) deps.log.warn({ timeoutMs }, "persistence flush did not finish in time at shutdown");
      // Closing waits for a snapshot in progress to stop; a hung disk must not hang the exit.
      const closed = await withDeadline(Promise.all(adapters.map((adapter) => adapter.close())), Math.max(1000, deadline - deps.now()));
      if (!closed) deps.log.warn("persistence did not close in time at shutdown");
    },
  };
}

/** Waits for `work` at most `ms`; true when it settled in time (a rejection counts as settled). */
async function withDeadline(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = await Promise.race([work.then(() => true, () => true), timeout]);
  clearTimeout(timer);
  return settled;
}
