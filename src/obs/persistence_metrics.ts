import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { RecoveryReport } from "../persist/persistence.ts";

/** Numeric adapter states for the gauge: 0 ok, 1 degraded, 2 down (recovering). */
const STATE_VALUE = { ok: 0, degraded: 1, down: 2 } as const;

/** A queue's figures, read at scrape time. */
export interface QueueFigures {
  depth: number;
  bytes: number;
  /** Age of the oldest queued record in seconds; 0 when empty. */
  oldestSeconds: number;
}

/** Metrics of persistence adapters, labelled by adapter ("file", "http"). */
export interface PersistenceMetrics {
  /** Reports an adapter's queue when scraped. */
  trackQueue(adapter: string, read: () => QueueFigures): void;
  /** Reports an adapter's health state when scraped. */
  trackState(adapter: string, read: () => keyof typeof STATE_VALUE): void;
  /** Records (and bytes) that reached their destination: the file, or the backing service. */
  written(adapter: string, records: number, bytes: number): void;
  /** One fsync of the log and how long it took. */
  fsync(seconds: number): void;
  /** A failed write, fsync, snapshot or forward, by errno or HTTP status. */
  writeFailure(adapter: string, code: string): void;
  /** Records dropped by the queue's overflow policy (or left unwritten at close). */
  dropped(adapter: string, count: number): void;
  /** The outcome of a start-up recovery. */
  recovery(report: RecoveryReport): void;
  /** One snapshot attempt. */
  snapshot(outcome: "ok" | "failed", seconds: number, bytes: number): void;
  /** One write-behind batch attempt. */
  batch(outcome: "ok" | "retried" | "rejected"): void;
}

/** Registers the persistence metrics on the node's registry. */
export function createPersistenceMetrics(registry: Registry): PersistenceMetrics {
  const registers = [registry];
  const queues = new Map<string, () => QueueFigures>();
  const states = new Map<string, () => keyof typeof STATE_VALUE>();
  const fromQueues = (name: string, help: string, pick: (figures: QueueFigures) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["adapter"] as const,
      registers,
      collect(this: Gauge<"adapter">) {
        for (const [adapter, read] of queues) this.labels(adapter).set(pick(read()));
      },
    });
  fromQueues("edgecache_persistence_queue_depth", "Records waiting to be written, by adapter", (f) => f.depth);
  fromQueues("edgecache_persistence_queue_bytes", "Estimated bytes waiting to be written, by adapter", (f) => f.bytes);
  fromQueues("edgecache_persistence_queue_oldest_seconds", "Age of the oldest record waiting to be written, by adapter", (f) => f.oldestSeconds);
  new Gauge({
    name: "edgecache_persistence_state",
    help: "Persistence adapter state: 0 ok, 1 degraded (not writing; serving from memory), 2 recovering",
    labelNames: ["adapter"] as const,
    registers,
    collect(this: Gauge<"adapter">) {
      for (const [adapter, read] of states) this.labels(adapter).set(STATE_VALUE[read()]);
    },
  });
  const records = new Counter({ name: "edgecache_persistence_records_written_total", help: "Records written (file) or forwarded (http)", labelNames: ["adapter"] as const, registers });
  const bytes = new Counter({ name: "edgecache_persistence_bytes_written_total", help: "Bytes written (file) or sent (http)", labelNames: ["adapter"] as const, registers });
  const fsync = new Histogram({
    name: "edgecache_persistence_fsync_duration_seconds",
    help: "Latency of fsync of the log",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const failures = new Counter({
    name: "edgecache_persistence_write_failures_total",
    help: "Failed writes, fsyncs, snapshots or forwards, by adapter and errno or HTTP status",
    labelNames: ["adapter", "code"] as const,
    registers,
  });
  const dropped = new Counter({ name: "edgecache_persistence_dropped_records_total", help: "Records dropped by a full queue (overflow policy) or unwritten at shutdown", labelNames: ["adapter"] as const, registers });
  const recovered = new Counter({ name: "edgecache_persistence_recovered_records_total", help: "Records recovered at start-up, by kind", labelNames: ["kind"] as const, registers });
  const skipped = new Counter({ name: "edgecache_persistence_skipped_records_total", help: "Damage skipped at recovery: bad frames, torn tails, whole files", labelNames: ["reason"] as const, registers });
  const recoverySeconds = new Gauge({ name: "edgecache_persistence_recovery_duration_seconds", help: "Duration of the start-up recovery", registers });
  const snapshotSeconds = new Histogram({
    name: "edgecache_persistence_snapshot_duration_seconds",
    help: "Duration of snapshot attempts",
    labelNames: ["outcome"] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const snapshotBytes = new Gauge({ name: "edgecache_persistence_snapshot_bytes", help: "Size of the newest snapshot", registers });
  const batches = new Counter({ name: "edgecache_write_behind_batches_total", help: "Write-behind batch attempts by outcome", labelNames: ["outcome"] as const, registers });
  // Children exist from the start, so a scrape shows 0 rather than nothing.
  for (const kind of ["entry", "refused", "delete"]) recovered.labels(kind);
  for (const reason of ["bad_frame", "torn_tail", "file"]) skipped.labels(reason);
  for (const outcome of ["ok", "retried", "rejected"]) batches.labels(outcome);
  return {
    trackQueue(adapter, read) {
      queues.set(adapter, read);
      records.labels(adapter);
      bytes.labels(adapter);
      dropped.labels(adapter);
    },
    trackState: (adapter, read) => void states.set(adapter, read),
    written(adapter, count, size) {
      records.labels(adapter).inc(count);
      bytes.labels(adapter).inc(size);
    },
    fsync: (seconds) => fsync.observe(seconds),
    writeFailure: (adapter, code) => failures.labels(adapter, code).inc(),
    dropped: (adapter, count) => void (count > 0 && dropped.labels(adapter).inc(count)),
    recovery(report) {
      recovered.labels("entry").inc(report.entriesRecovered);
      recovered.labels("refused").inc(report.entriesRefused);
      recovered.labels("delete").inc(report.deletesRecovered);
      skipped.labels("bad_frame").inc(report.recordsSkipped);
      skipped.labels("torn_tail").inc(report.tornTails);
      skipped.labels("file").inc(report.filesSkipped.length);
      recoverySeconds.set(report.durationMs / 1000);
    },
    snapshot(outcome, seconds, size) {
      snapshotSeconds.labels(outcome).observe(seconds);
      if (outcome === "ok") snapshotBytes.set(size);
    },
    batch: (outcome) => batches.labels(outcome).inc(),
  };
}
