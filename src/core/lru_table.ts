import { LRUCache } from "lru-cache";
import type { StoredEntry } from "./entry.ts";
import type { EntryTable, EntryTableOptions } from "./entry_table.ts";

/** An entry table that evicts the least recently used entry first, built on lru-cache. */
export function createLruTable(options: EntryTableOptions): EntryTable {
  const cache = new LRUCache<string, StoredEntry>({
    maxSize: options.maxBytes,
    sizeCalculation: (entry) => entry.size,
    // lru-cache reports every removal; only capacity evictions matter to the store.
    dispose: (entry, key, reason) => {
      if (reason === "evict") options.onEvict(key, entry);
    },
  });
  return {
    get count() {
      return cache.size;
    },
    get bytes() {
      return cache.calculatedSize;
    },
    get: (key) => cache.get(key),
    peek: (key) => cache.peek(key),
    set(key, entry) {
      cache.set(key, entry);
    },
    delete: (key) => cache.delete(key),
    keys: () => Array.from(cache.keys()).values(),
    // lru-cache disposes cleared entries with reason "delete", so no eviction is reported.
    clear: () => cache.clear(),
  };
}
