import type { StoreChange } from "../core/store.ts";
import { compareVersions, type Version } from "../core/version.ts";

/** A batch taken from the queue for one write: a pending flush first, then key changes in arrival order. */
export interface ChangeBatch {
  changes: StoreChange[];
  bytes: number;
}

/**
 * The file log's write queue. It keeps at most one change per key (the newest) because recovery
 * keeps only the newest version of each key anyway, so coalescing loses nothing. A flush clears
 * every change before it. Bounded in bytes: on overflow the OLDEST changes are dropped (and
 * counted); the log then holds a gap that the next snapshot closes.
 */
export interface ChangeQueue {
  /** Adds a change; returns how many changes were dropped to stay within the bound. */
  push(change: StoreChange, now: number): number;
  /** Removes up to `maxBytes` (at least one change) from the front; undefined when empty. */
  take(maxBytes: number): ChangeBatch | undefined;
  /** Puts back a batch whose write failed, ahead of newer changes; returns how many were dropped to stay within the bound. */
  putBack(batch: ChangeBatch, now: number): number;
  /** Empties the queue; returns how many changes it held. */
  clear(): number;
  /** Changes queued (a pending flush counts as one). */
  readonly depth: number;
  /** Estimated bytes queued. */
  readonly bytes: number;
  /** When the oldest queued change arrived, or undefined when empty. */
  oldestAt(): number | undefined;
}

interface Pending {
  change: StoreChange;
  bytes: number;
  at: number;
}

/** Estimated bytes a change holds while queued: its key, value and metadata. */
export function changeBytes(change: StoreChange): number {
  if (change.kind === "flush") return 32;
  if (change.kind === "delete") return change.key.length * 2 + 48;
  const entry = change.entry;
  let bytes = change.key.length * 2 + entry.value.byteLength + entry.contentType.length * 2 + 96;
  for (const tag of entry.tags) bytes += tag.length * 2 + 16;
  return bytes;
}

/** Creates a coalescing queue holding at most `maxBytes` of changes. */
export function createChangeQueue(maxBytes: number): ChangeQueue {
  let pending = new Map<string, Pending>();
  let flush: { version: Version; at: number } | undefined;
  let bytes = 0;

  function evictOldest(): number {
    let dropped = 0;
    for (const [key, item] of pending) {
      if (bytes <= maxBytes) break;
      pending.delete(key);
      bytes -= item.bytes;
      dropped++;
    }
    return dropped;
  }

  function add(key: string, item: Pending): void {
    const previous = pending.get(key);
    if (previous !== undefined) {
      bytes -= previous.bytes;
      // Delete first so the key moves to the back: the map's order stays arrival order.
      pending.delete(key);
    }
    pending.set(key, item);
    bytes += item.bytes;
  }

  return {
    get depth() {
      return pending.size + (flush === undefined ? 0 : 1);
    },
    get bytes() {
      return bytes;
    },
    oldestAt() {
      if (flush !== undefined) return flush.at;
      for (const item of pending.values()) return item.at;
      return undefined;
    },
    push(change, now) {
      if (change.kind === "flush") {
        // Every queued change is older than the flush, which removes it anyway.
        pending.clear();
        bytes = changeBytes(change);
        flush = { version: change.version, at: now };
        return 0;
      }
      add(change.key, { change, bytes: changeBytes(change), at: now });
      return evictOldest();
    },
    take(maxBatchBytes) {
      if (flush === undefined && pending.size === 0) return undefined;
      const changes: StoreChange[] = [];
      let taken = 0;
      if (flush !== undefined) {
        changes.push({ kind: "flush", version: flush.version });
        taken += 32;
        flush = undefined;
      }
      for (const [key, item] of pending) {
        if (changes.length > 0 && taken + item.bytes > maxBatchBytes) break;
        changes.push(item.change);
        taken += item.bytes;
        pending.delete(key);
      }
      bytes = Math.max(0, bytes - taken);
      return { changes, bytes: taken };
    },
    putBack(batch, now) {
      const current = pending;
      const currentFlush = flush;
      pending = new Map();
      bytes = 0;
      for (const change of batch.changes) {
        if (change.kind === "flush") {
          if (currentFlush === undefined || compareVersions(change.version, currentFlush.version) > 0) flush = { version: change.version, at: now };
        } else if (currentFlush === undefined && !current.has(change.key)) {
          // A newer change for the key (or a newer flush) supersedes the failed one.
          add(change.key, { change, bytes: changeBytes(change), at: now });
        }
      }
      if (currentFlush !== undefined) flush = currentFlush;
      if (flush !== undefined) bytes += 32;
      for (const [key, item] of current) add(key, item);
      return evictOldest();
    },
    clear() {
      const count = pending.size + (flush === undefined ? 0 : 1);
      pending = new Map();
      flush = undefined;
      bytes = 0;
      return count;
    },
  };
}
