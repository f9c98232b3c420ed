import type { StoredEntry } from "../core/entry.ts";
import type { StoreChange } from "../core/store.ts";
import type { Logger } from "../obs/logger.ts";
import type { PersistenceMetrics } from "../obs/persistence_metrics.ts";
import { backoffDelay } from "../origin/backoff.ts";
import { createChangeQueue } from "./change_queue.ts";
import { compact, listDataFiles, logName } from "./data_files.ts";
import { createFaultState } from "./fault_state.ts";
import { recoverDirectory } from "./file_recovery.ts";
import { errorCode, type AppendHandle, type FileSystem } from "./file_system.ts";
import { emptyRecoveryReport, type PersistenceAdapter, type PersistenceHealth, type RecoveryReport } from "./persistence.ts";
import { encodeFrames, LOG_MAGIC, type PersistRecord } from "./record_codec.ts";
import { writeSnapshot } from "./snapshot.ts";

/**
 * When the log is fsynced. `always`: after every batch. `interval`: at most every `intervalMs`
 * after a write. `never`: left to the operating system's writeback.
 */
export type FsyncPolicy = { mode: "always" } | { mode: "never" } | { mode: "interval"; intervalMs: number };

/** The file log's slice of the configuration. */
export interface FileLogConfig {
  /** The data directory (absolute; created when absent). */
  dir: string;
  /** @default { mode: "interval", intervalMs: 1000 } */
  fsync: FsyncPolicy;
  /** Bound of the write queue in estimated bytes; on overflow the oldest records are dropped. @default 64 MiB */
  maxQueueBytes: number;
  /** A snapshot is taken this often when anything was logged since the last one. @default 600000 (10 min) */
  snapshotIntervalMs: number;
  /** A snapshot is taken once the log since the last one exceeds this or the last snapshot's size, whichever is larger. @default 64 MiB */
  snapshotLogBytes: number;
  /** Bytes encoded per append. @default 4 MiB */
  maxBatchBytes?: number;
  /** First retry delay after a failed write; doubles per failure with full jitter. @default 100 */
  retryBaseMs?: number;
  /** Longest retry delay. @default 5000 */
  retryCapMs?: number;
}

/** What the file log takes from the node. */
export interface FileLogDeps {
  fs: FileSystem;
  /** Wall clock in Unix ms. */
  now: () => number;
  /** Uniform random in [0, 1), for retry jitter. */
  random: () => number;
  /** The store's retained entries (`store.entries()`), captured for snapshots. */
  entries: () => Array<[string, StoredEntry]>;
  log: Logger;
  metrics: PersistenceMetrics;
}

interface OpenLog {
  handle: AppendHandle;
  gen: number;
  /** Bytes known to be in the file: a failed append is truncated back to this. */
  size: number;
  dirty: boolean;
  /** The file is new: its directory entry is fsynced with its first fsync. */
  newFile: boolean;
}

const SNAPSHOT_RETRY_CAP_MS = 300_000;

function toRecord(change: StoreChange): PersistRecord {
  if (change.kind === "put") return { type: "put", key: change.key, entry: change.entry };
  if (change.kind === "delete") return { type: "delete", key: change.key, version: change.version };
  return { type: "flush", version: change.version };
}

/**
 * The embedded persistence: an append-only log of checksummed CBOR records behind a bounded,
 * coalescing queue, fsynced by policy, with periodic snapshots and compaction.
 *
 * Loss windows: a change reaches the file (write(2)) as soon as the writer drains the queue,
 * normally within milliseconds, so it survives `kill -9` from then on; it survives power loss
 * once fsynced (within `fsync.intervalMs`, 1 s by default). Faults (ENOSPC, EACCES, EIO) never
 * reach the caller: health turns `degraded`, one line is logged per state change, failed
 * batches are retried with backoff, and the queue stays bounded by dropping its oldest records.
 * Dropped records leave a gap that the next successful snapshot closes (it is taken from memory).
 */
export function createFileLog(config: FileLogConfig, deps: FileLogDeps): PersistenceAdapter {
  const { fs, log, metrics } = deps;
  const dir = config.dir;
  const maxBatchBytes = config.maxBatchBytes ?? 4 * 1024 * 1024;
  const queue = createChangeQueue(config.maxQueueBytes);
  let phase: "new" | "recovering" | "running" | "closed" = "new";
  let current: OpenLog | undefined;
  let nextGen = 0;
  let writing = false;
  let pumpScheduled = false;
  const writes = createFaultState({ log, now: deps.now, failing: "persistence writes failing: serving from memory, retrying", recovered: "persistence writes recovered" });
  const snapshots = createFaultState({ log, now: deps.now, failing: "persistence snapshots failing: the log grows until one succeeds", recovered: "persistence snapshots recovered" });
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let syncTimer: ReturnType<typeof setTimeout> | undefined;
  let lastSyncAt = 0;
  let snapshotTimer: ReturnType<typeof setInterval> | undefined;
  let snapshotting: Promise<void> | undefined;
  let snapshotNotBefore = 0;
  let lastSnapshotBytes = 0;
  let sinceSnapshot = { bytes: 0, records: 0 };
  /** Records were lost (dropped, or a failed fsync may have lost them): the next snapshot must close the gap. */
  let gap = false;
  let droppedTotal = 0;
  let dropping = false;
  const idleWaiters: Array<() => void> = [];

  // One file operation at a time on the open log: appends, fsyncs and the snapshot's rotation.
  let lane: Promise<unknown> = Promise.resolve();
  function exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = lane.then(operation);
    lane = result.catch(() => {});
    return result;
  }

  metrics.trackQueue("file", () => {
    const oldest = queue.oldestAt();
    return { depth: queue.depth, bytes: queue.bytes, oldestSeconds: oldest === undefined ? 0 : (deps.now() - oldest) / 1000 };
  });
  const health = (): PersistenceHealth => {
    if (phase === "new" || phase === "recovering") return { status: "down", detail: "recovering from the data directory" };
    if (phase === "closed") return { status: "degraded", detail: "closed" };
    const failure = writes.current ?? snapshots.current;
    if (failure !== undefined) {
      const what = writes.current !== undefined ? "writes" : "snapshots";
      return { status: "degraded", detail: `${what} failing (${failure.code}) since ${new Date(failure.since).toISOString()}; ${droppedTotal} records dropped; serving from memory` };
    }
    const fsync = config.fsync.mode === "interval" ? `every ${config.fsync.intervalMs}ms` : config.fsync.mode;
    return { status: "ok", detail: `log ${current === undefined ? "not open" : logName(current.gen)}, fsync ${fsync}, ${queue.depth} queued` };
  };
  metrics.trackState("file", () => health().status);

  function failed(state: typeof writes, error: unknown, op: string) {
    const code = errorCode(error);
    metrics.writeFailure("file", code);
    return state.fail(code, { op, dir, err: error });
  }

  function noteDropped(count: number): void {
    if (count === 0) return;
    droppedTotal += count;
    gap = true;
    metrics.dropped("file", count);
    if (!dropping) {
      dropping = true;
      log.warn({ dir, maxQueueBytes: config.maxQueueBytes }, "persistence queue full: dropping the oldest records until writes catch up");
    }
  }

  /** Opens a fresh log file of a generation above every file in the directory. */
  async function openLog(): Promise<OpenLog> {
    const files = await listDataFiles(fs, dir);
    const gen = Math.max(nextGen, ...files.map((file) => file.gen + 1));
    nextGen = gen + 1;
    const path = `${dir}/${logName(gen)}`;
    await fs.unlink(path);
    const handle = await fs.openAppend(path);
    try {
      await handle.append(LOG_MAGIC);
    } catch (error) {
      await handle.close().catch(() => {});
      await fs.unlink(path).catch(() => {});
      throw error;
    }
    return { handle, gen, size: LOG_MAGIC.byteLength, dirty: true, newFile: true };
  }

  async function syncLog(target: OpenLog): Promise<void> {
    if (!target.dirty) return;
    const started = performance.now();
    await target.handle.sync();
    if (target.newFile) {
      await fs.syncDir(dir);
      target.newFile = false;
    }
    target.dirty = false;
    lastSyncAt = deps.now();
    metrics.fsync((performance.now() - started) / 1000);
  }

  function scheduleSync(): void {
    if (config.fsync.mode !== "interval" || syncTimer !== undefined) return;
    syncTimer = setTimeout(() => {
      syncTimer = undefined;
      void exclusive(async () => {
        if (current === undefined) return;
        try {
          await syncLog(current);
        } catch (error) {
          // After a failed fsync the kernel may have dropped the dirty pages: treat them as lost.
          gap = true;
          failed(writes, error, "fsync");
        }
      });
    }, Math.max(0, lastSyncAt + config.fsync.intervalMs - deps.now()));
  }

  /** Appends one batch to the open log, putting it back in the queue if the append fails. */
  async function appendBatch(): Promise<void> {
    await exclusive(async () => {
      current ??= await openLog();
      const batch = queue.take(maxBatchBytes);
      if (batch === undefined) return;
      const bytes = encodeFrames(batch.changes.map(toRecord));
      const target = current;
      try {
        await target.handle.append(bytes);
      } catch (error) {
        noteDropped(queue.putBack(batch, deps.now()));
        // Cut the half-written batch off; if even that fails, abandon the file (recovery skips its torn tail).
        await target.handle.truncate(target.size).catch(async () => {
          current = undefined;
          await target.handle.close().catch(() => {});
        });
        throw error;
      }
      target.size += bytes.byteLength;
      target.dirty = true;
      sinceSnapshot = { bytes: sinceSnapshot.bytes + bytes.byteLength, records: sinceSnapshot.records + batch.changes.length };
      metrics.written("file", batch.changes.length, bytes.byteLength);
      if (config.fsync.mode === "always") await syncLog(target);
    });
  }

  async function pump(): Promise<void> {
    if (writing || phase !== "running" || retryTimer !== undefined) return;
    writing = true;
    try {
      while (queue.depth > 0 && phase === "running") {
        await appendBatch();
        if (writes.succeed({ dir, dropped: droppedTotal })) dropping = false;
        scheduleSync();
        maybeSnapshot();
      }
    } catch (error) {
      const fault = failed(writes, error, "append");
      const delay = backoffDelay(fault.attempts, config.retryBaseMs ?? 100, config.retryCapMs ?? 5000, deps.random);
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        void pump();
      }, delay);
    } finally {
      writing = false;
      for (const wake of idleWaiters.splice(0)) wake();
    }
  }

  /** Starts a snapshot when one is due: `due`, a gap to close, or a log grown past the threshold. */
  function maybeSnapshot(due = false): void {
    if (snapshotting !== undefined || phase !== "running" || writes.current !== undefined || deps.now() < snapshotNotBefore) return;
    if (due || gap || sinceSnapshot.bytes >= Math.max(config.snapshotLogBytes, lastSnapshotBytes)) void snapshot();
  }

  /**
   * Takes snapshot G: opens log G, then (in one synchronous step, with no append in flight)
   * switches to it and captures the store. So snapshot G holds everything written to the logs
   * before G, and every change after the capture goes to log G or later.
   */
  function snapshot(): Promise<void> {
    snapshotting ??= (async () => {
      const started = performance.now();
      let fresh: OpenLog | undefined;
      let gapAtCapture = false;
      try {
        fresh = await openLog();
        const next = fresh;
        const entries = await exclusive(async () => {
          const previous = current;
          current = next;
          const captured = deps.entries();
          gapAtCapture = gap;
          gap = false;
          sinceSnapshot = { bytes: 0, records: 0 };
          if (previous !== undefined) {
            await syncLog(previous).catch(() => {});
            await previous.handle.close().catch(() => {});
          }
          return captured;
        });
        fresh = undefined;
        const written = await writeSnapshot(fs, dir, next.gen, entries, { shouldStop: () => phase === "closed" });
        const removed = await compact(fs, dir, next.gen);
        lastSnapshotBytes = written.bytes;
        metrics.snapshot("ok", (performance.now() - started) / 1000, written.bytes);
        log.debug({ gen: next.gen, records: written.records, bytes: written.bytes, removed: removed.length }, "persistence snapshot written");
        snapshots.succeed({ dir });
      } catch (error) {
        if (fresh !== undefined) await fresh.handle.close().catch(() => {});
        if (phase === "closed") return;
        // The captured state was not saved: whatever gap it would have closed is still open.
        gap = gap || gapAtCapture;
        metrics.snapshot("failed", (performance.now() - started) / 1000, 0);
        const fault = failed(snapshots, error, "snapshot");
        snapshotNotBefore = deps.now() + Math.min(SNAPSHOT_RETRY_CAP_MS, 1000 * 2 ** fault.attempts);
      } finally {
        snapshotting = undefined;
      }
      // Writes that arrived while this snapshot ran may already call for the next one.
      maybeSnapshot();
    })();
    return snapshotting;
  }

  return {
    name: "file",
    async recover(apply) {
      phase = "recovering";
      let report: RecoveryReport;
      let logsRead = 0;
      try {
        const result = await recoverDirectory(fs, dir, apply, deps.now);
        report = result.report;
        logsRead = result.logsRead;
        nextGen = result.maxGen + 1;
        const damage = report.recordsSkipped + report.tornTails + report.filesSkipped.length;
        const figures = { dir, snapshot: report.snapshot, files: report.filesRead, entries: report.entriesRecovered, refused: report.entriesRefused, deletes: report.deletesRecovered, ms: report.durationMs };
        if (damage > 0) log.warn({ ...figures, skippedRecords: report.recordsSkipped, tornTails: report.tornTails, skippedFiles: report.filesSkipped }, "recovered with damaged data skipped (never served)");
        else log.info(figures, "recovered from the data directory");
        // A fresh snapshot after damage, or after many small logs (restarts), gives the next recovery a clean base.
        gap = damage > 0 || logsRead >= 4;
      } catch (error) {
        report = emptyRecoveryReport();
        report.filesSkipped.push({ name: dir, reason: "unreadable" });
        failed(writes, error, "recover");
      }
      metrics.recovery(report);
      if (phase === "recovering") {
        phase = "running";
        snapshotTimer = setInterval(() => {
          maybeSnapshot(sinceSnapshot.records > 0);
        }, config.snapshotIntervalMs);
        void pump();
        maybeSnapshot();
      }
      return report;
    },
    record(change) {
      if (phase === "closed") return;
      noteDropped(queue.push(change, deps.now()));
      if (!writing && !pumpScheduled) {
        pumpScheduled = true;
        queueMicrotask(() => {
          pumpScheduled = false;
          void pump();
        });
      }
    },
    async flush() {
      if (retryTimer !== undefined) {
        // Shutdown wants one more attempt now rather than after the backoff.
        clearTimeout(retryTimer);
        retryTimer = undefined;
      }
      while (phase === "running" && (queue.depth > 0 || writing)) {
        const idle = new Promise<void>((resolve) => idleWaiters.push(resolve));
        void pump();
        await idle;
      }
      await exclusive(async () => {
        if (current !== undefined) await syncLog(current);
      });
    },
    health,
    async close() {
      if (phase === "closed") return;
      phase = "closed";
      for (const timer of [retryTimer, syncTimer]) clearTimeout(timer);
      clearInterval(snapshotTimer);
      await snapshotting;
      await exclusive(async () => {
        if (current === undefined) return;
        await syncLog(current).catch(() => {});
        await current.handle.close().catch(() => {});
        current = undefined;
      });
      const left = queue.clear();
      if (left > 0) {
        metrics.dropped("file", left);
        log.warn({ dir, records: left }, "persistence closed with records not written");
      }
      for (const wake of idleWaiters.splice(0)) wake();
    },
  };
}
