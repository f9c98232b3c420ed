import type { StoreChange } from "../core/store.ts";
import type { Logger } from "../obs/logger.ts";
import type { PersistenceMetrics } from "../obs/persistence_metrics.ts";
import { backoffDelay } from "../origin/backoff.ts";
import { changeBytes } from "./change_queue.ts";
import { emptyRecoveryReport, type PersistenceAdapter, type PersistenceHealth } from "./persistence.ts";

/**
 * Write-behind to a backing service. Wire format (one HTTP request per batch):
 *
 * ```
 * POST <EDGECACHE_WRITE_BEHIND_URL>
 * Content-Type: application/json
 * Idempotency-Key: <node>-<run>-<batch>        (the same on every retry of a batch)
 * Authorization: Bearer <EDGECACHE_WRITE_BEHIND_TOKEN>   (only when set)
 *
 * {"node":"<node id>","run":"<random id of this process>","batch":<1, 2, 3...>,"ops":[
 *   {"op":"put","key":"k","version":{"hlc":N,"node":N},"value":"<base64>","content_type":"text/plain",
 *    "tags":["a"],"stored_at":<unix ms>,"expires_at":<unix ms, 0 = never>,"negative":false},
 *   {"op":"delete","key":"k","version":{"hlc":N,"node":N}},
 *   {"op":"flush","version":{"hlc":N,"node":N}}
 * ]}
 * ```
 *
 * The service applies `ops` in order; versions order writes (a higher `hlc`, then `node`, is
 * newer), so a service that keeps the newer version is safe against any duplicate. Any 2xx
 * accepts the whole batch. 408, 425, 429, 5xx, timeouts and connection errors are retried with
 * exponential backoff and full jitter (honouring a `Retry-After` in seconds), the same batch
 * again, before anything after it: one batch is in flight at a time, so every key's operations
 * arrive in the order they happened. Any other status rejects the batch: it is dropped, counted
 * and logged (retrying a request the service calls malformed would block the queue forever).
 *
 * Overflow policy, when the queue exceeds its byte bound: first the queue is compacted, dropping
 * operations superseded by a newer one for the same key or by a later flush (the service still
 * gets every key's newest state); if it is still over, the oldest operations are dropped. Both
 * are counted in `edgecache_persistence_dropped_records_total{adapter="http"}`.
 */

/** The write-behind slice of the configuration. */
export interface HttpWriteBehindConfig {
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** This node's id, in every batch. */
  nodeId: string;
  /** Bound of the queue in estimated bytes. @default 64 MiB */
  maxQueueBytes: number;
  /** Operations per request. @default 500 */
  maxBatchRecords: number;
  /** Estimated bytes per request (at least one operation is always sent). @default 4 MiB */
  maxBatchBytes?: number;
  /** Per request. @default 5000 */
  timeoutMs: number;
  /** First retry delay. @default 100 */
  retryBaseMs?: number;
  /** Longest retry delay. @default 30000 */
  retryCapMs?: number;
}

/** What the forwarder takes from the node. */
export interface HttpWriteBehindDeps {
  fetch: typeof fetch;
  now: () => number;
  random: () => number;
  log: Logger;
  metrics: PersistenceMetrics;
}

interface Queued {
  change: StoreChange;
  bytes: number;
  at: number;
}

interface Batch {
  seq: number;
  items: Queued[];
  body: string;
}

const RETRYABLE = new Set([408, 425, 429]);

/** Base64 of bytes with web globals only (btoa), in chunks so large values do not overflow the stack. */
function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function toOp(change: StoreChange): Record<string, unknown> {
  if (change.kind === "flush") return { op: "flush", version: change.version };
  if (change.kind === "delete") return { op: "delete", key: change.key, version: change.version };
  const e = change.entry;
  return {
    op: "put",
    key: change.key,
    version: e.version,
    value: base64(e.value),
    content_type: e.contentType,
    tags: e.tags,
    stored_at: e.storedAt,
    expires_at: e.expiresAt,
    negative: e.negative === true,
  };
}

/** Creates the HTTP write-behind forwarder. Recovery is a no-op: the service is the system of record. */
export function createHttpWriteBehind(config: HttpWriteBehindConfig, deps: HttpWriteBehindDeps): PersistenceAdapter {
  const { log, metrics } = deps;
  const run = crypto.randomUUID().slice(0, 8);
  const maxBatchBytes = config.maxBatchBytes ?? 4 * 1024 * 1024;
  let queue: Queued[] = [];
  let head = 0;
  let bytes = 0;
  let inflight: Batch | undefined;
  let seq = 0;
  let sending = false;
  let closed = false;
  let failure: { reason: string; since: number; attempts: number } | undefined;
  let dropping = false;
  let droppedTotal = 0;
  let wakeSleep: (() => void) | undefined;
  const stop = new AbortController();
  const idleWaiters: Array<() => void> = [];

  metrics.trackQueue("http", () => ({
    depth: queue.length - head + (inflight?.items.length ?? 0),
    bytes,
    oldestSeconds: (() => {
      const oldest = inflight?.items[0] ?? queue[head];
      return oldest === undefined ? 0 : (deps.now() - oldest.at) / 1000;
    })(),
  }));
  const health = (): PersistenceHealth => {
    const depth = queue.length - head + (inflight?.items.length ?? 0);
    if (closed) return { status: "degraded", detail: "closed" };
    if (failure !== undefined) {
      return { status: "degraded", detail: `forwarding failing (${failure.reason}) since ${new Date(failure.since).toISOString()}; ${depth} queued, ${droppedTotal} dropped` };
    }
    return { status: "ok", detail: `${depth} queued, ${droppedTotal} dropped` };
  };
  metrics.trackState("http", () => health().status);

  function drop(count: number, reason: string): void {
    if (count === 0) return;
    droppedTotal += count;
    metrics.dropped("http", count);
    if (!dropping && reason === "overflow") {
      dropping = true;
      log.warn({ url: config.url, maxQueueBytes: config.maxQueueBytes }, "write-behind queue full: dropping superseded, then oldest, operations");
    }
  }

  /** Keeps each key's newest operation after the last flush; returns how many it removed. */
  function compactQueue(): number {
    const live = queue.slice(head);
    const seen = new Set<string>();
    const kept: Queued[] = [];
    let flushSeen = false;
    for (let i = live.length - 1; i >= 0; i--) {
      const item = live[i];
      if (flushSeen) continue;
      if (item.change.kind === "flush") flushSeen = true;
      else if (seen.has(item.change.key)) continue;
      else seen.add(item.change.key);
      kept.push(item);
    }
    kept.reverse();
    queue = kept;
    head = 0;
    bytes = kept.reduce((sum, item) => sum + item.bytes, 0) + (inflight === undefined ? 0 : inflight.items.reduce((sum, item) => sum + item.bytes, 0));
    return live.length - kept.length;
  }

  function enforceBound(): void {
    if (bytes <= config.maxQueueBytes) return;
    let removed = compactQueue();
    while (bytes > config.maxQueueBytes && head < queue.length) {
      bytes -= queue[head].bytes;
      head++;
      removed++;
    }
    drop(removed, "overflow");
  }

  function takeBatch(): Batch | undefined {
    if (head >= queue.length) return undefined;
    const items: Queued[] = [];
    let size = 0;
    while (head < queue.length && items.length < config.maxBatchRecords && (items.length === 0 || size + queue[head].bytes <= maxBatchBytes)) {
      size += queue[head].bytes;
      items.push(queue[head++]);
    }
    // Reclaim the consumed front now and then, so the array does not grow without bound.
    if (head > 4096 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    seq++;
    const body = JSON.stringify({ node: config.nodeId, run, batch: seq, ops: items.map((item) => toOp(item.change)) });
    return { seq, items, body };
  }

  /** One attempt: "ok", "rejected" (drop the batch) or a retry delay in ms. */
  async function attempt(batch: Batch): Promise<"ok" | "rejected" | { retryAfterMs: number; reason: string }> {
    const headers: Record<string, string> = { "content-type": "application/json", "idempotency-key": `${config.nodeId}-${run}-${batch.seq}` };
    if (config.token !== undefined) headers.authorization = `Bearer ${config.token}`;
    let response: Response;
    try {
      response = await deps.fetch(config.url, { method: "POST", headers, body: batch.body, signal: AbortSignal.any([stop.signal, AbortSignal.timeout(config.timeoutMs)]) });
    } catch (error) {
      const name = (error as Error).name;
      const reason = name === "TimeoutError" ? "timeout" : String((error as { code?: string }).code ?? name ?? "network error");
      return { retryAfterMs: 0, reason };
    }
    await response.body?.cancel().catch(() => {});
    if (response.ok) return "ok";
    if (response.status >= 500 || RETRYABLE.has(response.status)) {
      const retryAfter = Number(response.headers.get("retry-after"));
      return { retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0, reason: `HTTP ${response.status}` };
    }
    log.error({ url: config.url, status: response.status, batch: batch.seq, ops: batch.items.length }, "write-behind batch rejected by the backing service: dropped");
    metrics.writeFailure("http", String(response.status));
    return "rejected";
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, ms);
      function finish() {
        clearTimeout(timer);
        wakeSleep = undefined;
        resolve();
      }
      wakeSleep = finish;
    });
  }

  async function pump(): Promise<void> {
    if (sending || closed) return;
    sending = true;
    try {
      while (!closed) {
        inflight ??= takeBatch();
        if (inflight === undefined) break;
        const batch = inflight;
        const outcome = await attempt(batch);
        if (closed) break;
        const batchBytes = batch.items.reduce((sum, item) => sum + item.bytes, 0);
        if (outcome === "ok" || outcome === "rejected") {
          inflight = undefined;
          bytes -= batchBytes;
          metrics.batch(outcome);
          if (outcome === "ok") metrics.written("http", batch.items.length, batch.body.length);
          else drop(batch.items.length, "rejected");
          if (failure !== undefined && outcome === "ok") {
            log.info({ url: config.url, attempts: failure.attempts }, "write-behind forwarding recovered");
            failure = undefined;
          }
          if (head >= queue.length) dropping = false;
          continue;
        }
        metrics.batch("retried");
        metrics.writeFailure("http", outcome.reason);
        if (failure === undefined) {
          failure = { reason: outcome.reason, since: deps.now(), attempts: 0 };
          log.warn({ url: config.url, reason: outcome.reason }, "write-behind forwarding failing: retrying with backoff");
        }
        failure.reason = outcome.reason;
        failure.attempts++;
        const backoff = backoffDelay(failure.attempts, config.retryBaseMs ?? 100, config.retryCapMs ?? 30_000, deps.random);
        await sleep(Math.max(backoff, Math.min(outcome.retryAfterMs, config.retryCapMs ?? 30_000)));
      }
    } finally {
      sending = false;
      for (const wake of idleWaiters.splice(0)) wake();
    }
  }

  return {
    name: "http",
    recover: () => Promise.resolve(emptyRecoveryReport()),
    record(change) {
      if (closed) return;
      const item = { change, bytes: changeBytes(change), at: deps.now() };
      queue.push(item);
      bytes += item.bytes;
      enforceBound();
      if (!sending) queueMicrotask(() => void pump());
    },
    async flush() {
      while (!closed && (inflight !== undefined || head < queue.length || sending)) {
        const idle = new Promise<void>((resolve) => idleWaiters.push(resolve));
        // Shutdown wants the next attempt now rather than after the backoff.
        wakeSleep?.();
        void pump();
        await idle;
      }
    },
    health,
    async close() {
      if (closed) return;
      closed = true;
      stop.abort();
      wakeSleep?.();
      const left = queue.length - head + (inflight?.items.length ?? 0);
      queue = [];
      head = 0;
      inflight = undefined;
      bytes = 0;
      if (left > 0) {
        drop(left, "shutdown");
        log.warn({ url: config.url, ops: left }, "write-behind closed with operations not forwarded");
      }
      for (const wake of idleWaiters.splice(0)) wake();
    },
  };
}
