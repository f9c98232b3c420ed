import { keyAllowed } from "../core/key.ts";
import type { Preconditions, PutInput, Store } from "../core/store.ts";
import type { Version } from "../core/version.ts";
import type { ReadOutcome, ReadThrough } from "../origin/read_through.ts";

/** What to invalidate: everything under a prefix, or everything carrying any of some tags. */
export type InvalidationTarget = { prefix: string } | { tags: readonly string[] };

/**
 * The key-value operations of the API, wherever the data lives: this node alone (local mode) or
 * the cluster (routed to owners and replicated). The HTTP routes only ever talk to this.
 */
export interface KvService {
  /** Reads a key: a hit, a miss, or an origin load. Throws origin and peer errors. */
  read(key: string, requestId: string): Promise<ReadOutcome>;
  /** Writes a key under a new version. Throws PreconditionFailed, value_too_large, peer errors. */
  write(key: string, input: PutInput, preconditions: Preconditions | undefined, requestId: string): Promise<{ created: boolean; version: Version }>;
  /** Deletes a key; true if a fresh entry was removed. */
  remove(key: string, preconditions: Preconditions | undefined, requestId: string): Promise<boolean>;
  /** Invalidates keys, limited to `allowPrefixes` when given; returns how many. */
  invalidate(target: InvalidationTarget, allowPrefixes: readonly string[] | undefined, requestId: string): Promise<number>;
  /** Removes everything; returns how many entries there were. */
  flush(requestId: string): Promise<number>;
}

/** True when `key` is inside one of `prefixes` (no list allows all). */
export function allowedBy(prefixes: readonly string[] | undefined): ((key: string) => boolean) | undefined {
  return prefixes === undefined ? undefined : (key) => keyAllowed(key, prefixes);
}

/** The key-value operations of a single node: its store, read through its origin when one is set. */
export function createLocalKv(store: Store, readThrough: ReadThrough | undefined): KvService {
  return {
    async read(key, requestId) {
      if (readThrough !== undefined) return await readThrough.read(key, requestId);
      const entry = store.get(key);
      return entry === undefined ? { kind: "miss" } : { kind: "hit", entry };
    },
    async write(key, input, preconditions) {
      const { created, entry } = store.put(key, input, preconditions);
      return { created, version: entry.version };
    },
    async remove(key, preconditions) {
      return store.delete(key, preconditions);
    },
    async invalidate(target, allowPrefixes) {
      const allow = allowedBy(allowPrefixes);
      return "prefix" in target ? store.invalidatePrefix(target.prefix, allow) : store.invalidateTags(target.tags, allow);
    },
    async flush() {
      return store.flush();
    },
  };
}
