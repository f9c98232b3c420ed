/**
 * Maps each tag to the keys that carry it. The store keeps it exact: every removal of an entry
 * (delete, replacement, eviction, expiry) unfiles its tags, so invalidation by tag never misses a
 * key and the index never holds keys that are gone.
 */
export interface TagIndex {
  /** Files `key` under each of `tags`. */
  add(key: string, tags: readonly string[]): void;
  /** Unfiles `key` from each of `tags`. */
  remove(key: string, tags: readonly string[]): void;
  /** The keys carrying any of `tags`, as a snapshot safe to mutate the index under. */
  keysWithAny(tags: readonly string[]): string[];
  /** Number of distinct tags in use. */
  readonly tagCount: number;
  /** Unfiles everything. */
  clear(): void;
}

/** Creates an empty tag index. */
export function createTagIndex(): TagIndex {
  const keysByTag = new Map<string, Set<string>>();
  return {
    get tagCount() {
      return keysByTag.size;
    },
    add(key, tags) {
      for (const tag of tags) {
        let keys = keysByTag.get(tag);
        if (keys === undefined) {
          keys = new Set();
          keysByTag.set(tag, keys);
        }
        keys.add(key);
      }
    },
    remove(key, tags) {
      for (const tag of tags) {
        const keys = keysByTag.get(tag);
        if (keys === undefined) continue;
        keys.delete(key);
        if (keys.size === 0) keysByTag.delete(tag);
      }
    },
    keysWithAny(tags) {
      const found = new Set<string>();
      for (const tag of tags) {
        for (const key of keysByTag.get(tag) ?? []) found.add(key);
      }
      return Array.from(found);
    },
    clear: () => keysByTag.clear(),
  };
}
