import { compareVersions, type Version } from "./version.ts";

/**
 * Remembers the versions of recent deletes, so a write that is older than a delete (a late
 * replica write, a log record replayed out of order) cannot resurrect the key. Bounded in count
 * and age: past that, a delete is old enough that every replica has seen it.
 */
export interface Tombstones {
  /** Records that `key` was deleted at `version` (keeps the newer of two). */
  add(key: string, version: Version): void;
  /** True when `key` was deleted at a version at least as new as `version`. */
  covers(key: string, version: Version): boolean;
  /** The version `key` was deleted at, while its tombstone is kept. */
  versionOf(key: string): Version | undefined;
  /** Forgets `key`'s tombstone, e.g. when a newer write arrives. */
  remove(key: string): void;
  /** Every kept delete as [key, version], oldest first. */
  entries(): Array<[string, Version]>;
  readonly size: number;
  clear(): void;
}

/** Creates a tombstone set holding at most `maxCount` deletes for at most `maxAgeMs` each. */
export function createTombstones(options: { maxCount: number; maxAgeMs: number; now: () => number }): Tombstones {
  // A Map iterates in insertion order, so the first entries are the oldest.
  const stones = new Map<string, { version: Version; at: number }>();

  function prune(): void {
    const oldest = options.now() - options.maxAgeMs;
    for (const [key, stone] of stones) {
      if (stones.size <= options.maxCount && stone.at > oldest) break;
      stones.delete(key);
    }
  }

  return {
    get size() {
      return stones.size;
    },
    add(key, version) {
      const existing = stones.get(key);
      if (existing !== undefined && compareVersions(existing.version, version) >= 0) return;
      stones.delete(key);
      stones.set(key, { version, at: options.now() });
      prune();
    },
    covers(key, version) {
      // Most keys were never deleted: an empty set answers without hashing the key.
      if (stones.size === 0) return false;
      const stone = stones.get(key);
      if (stone === undefined) return false;
      if (stone.at <= options.now() - options.maxAgeMs) {
        stones.delete(key);
        return false;
      }
      return compareVersions(stone.version, version) >= 0;
    },
    versionOf(key) {
      const stone = stones.get(key);
      return stone === undefined || stone.at <= options.now() - options.maxAgeMs ? undefined : stone.version;
    },
    remove: (key) => void (stones.size !== 0 && stones.delete(key)),
    entries: () => Array.from(stones, ([key, stone]) => [key, stone.version] as [string, Version]),
    clear: () => stones.clear(),
  };
}
