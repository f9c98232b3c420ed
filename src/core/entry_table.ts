import type { StoredEntry } from "./entry.ts";

/**
 * A byte-capped map from key to entry that decides what to evict. The store owns expiry, tags and
 * versions; a table owns only placement and its eviction policy, so policies are interchangeable
 * and one contract suite (test/unit/entry_table.contract.ts) runs against each.
 */
export interface EntryTable {
  /** Number of entries held. */
  readonly count: number;
  /** Sum of the `size` of the entries held. */
  readonly bytes: number;
  /** Returns the entry and records an access for the eviction policy. */
  get(key: string): StoredEntry | undefined;
  /** Returns the entry without recording an access. */
  peek(key: string): StoredEntry | undefined;
  /**
   * Stores an entry, evicting others (reported through `onEvict`) until it fits.
   * The caller guarantees `entry.size <= maxBytes`.
   */
  set(key: string, entry: StoredEntry): void;
  /** Removes a key; true if it was present. Never reported through `onEvict`. */
  delete(key: string): boolean;
  /** Every key, in no promised order. Safe to delete the yielded key while iterating a copy. */
  keys(): IterableIterator<string>;
  /** Removes everything without reporting evictions. */
  clear(): void;
}

/** What every table implementation is built from. */
export interface EntryTableOptions {
  /** Byte cap over the sum of entry sizes. */
  maxBytes: number;
  /** Called for each entry evicted to make room, never for deletes or replacements. */
  onEvict: (key: string, entry: StoredEntry) => void;
}
