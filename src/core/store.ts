import { entrySize, type StoredEntry, utf8Length } from "./entry.ts";
import type { EntryTable, EntryTableOptions } from "./entry_table.ts";
import { EdgecacheError } from "./errors.ts";
import { createExpiryIndex } from "./expiry_index.ts";
import type { HybridClock } from "./hybrid_clock.ts";
import { createLfuTable } from "./lfu_table.ts";
import { createLruTable } from "./lru_table.ts";
import { checkPreconditions, type Preconditions } from "./preconditions.ts";
import { createTagIndex } from "./tag_index.ts";
import { createTombstones } from "./tombstones.ts";
import { compareVersions, type Version } from "./version.ts";

export type { Preconditions } from "./preconditions.ts";

/**
 * A change that persistence and replication follow. Evictions and expirations are not changes:
 * they are this node's memory decisions, not the data's history.
 */
export type StoreChange =
  | { kind: "put"; key: string; entry: StoredEntry }
  | { kind: "delete"; key: string; version: Version }
  | { kind: "flush"; version: Version };

/** Eviction policies a store can run. */
export type EvictionPolicy = "lru" | "lfu";

/** The store's slice of the configuration. */
export interface StoreConfig {
  /** Cap on the sum of entry sizes (keys, values, metadata and per-entry overhead). */
  maxBytes: number;
  /** Which entry to evict when the cap is reached. */
  eviction: EvictionPolicy;
  /**
   * How long an expired entry is kept (stale) for stale-while-revalidate and stale-if-error.
   * @default 0
   */
  retainStaleMs?: number;
  /** Deletes remembered so older writes cannot resurrect a key. @default 100000 */
  maxTombstones?: number;
  /** How long a delete is remembered, in ms. @default 600000 */
  tombstoneTtlMs?: number;
}

/** What the store takes from its surroundings. */
export interface StoreDeps {
  /** Wall clock in Unix ms. */
  now: () => number;
  /** Uniform random in [0, 1), for sampled eviction. */
  random: () => number;
  /** Issues write versions. */
  clock: HybridClock;
  /** Told of every applied change, after it is applied. */
  onChange?: (change: StoreChange) => void;
}

/** A write as the API hands it to the store. */
export interface PutInput {
  value: Uint8Array;
  contentType: string;
  tags: readonly string[];
  /** Time to live in ms; 0 means no expiry. */
  ttlMs: number;
  /** Stores a remembered absence (an origin 404) instead of a value. */
  negative?: boolean;
}

/** A lookup's result: the entry and whether it is past its expiry (but still retained). */
export interface Lookup {
  entry: StoredEntry;
  /** ms since the entry expired; 0 when it is fresh. */
  staleMs: number;
}

/** Counters the store keeps itself so reading metrics costs nothing on the hot path. */
export interface StoreCounters {
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
}

/** A point-in-time view of the store. */
export interface StoreStats extends StoreCounters {
  entries: number;
  bytes: number;
  maxBytes: number;
  hitRatio: number;
}

/** The local cache: byte-capped, TTL-aware, tagged and versioned entries. */
export interface Store {
  /** A fresh entry, counted as a hit or a miss; expired entries are removed on sight. */
  get(key: string): StoredEntry | undefined;
  /**
   * The entry, fresh or stale within the retention window, counted as a hit when fresh and a
   * miss otherwise; entries past the retention window are removed on sight.
   */
  lookup(key: string): Lookup | undefined;
  /** A fresh entry without counting or touching it. */
  peek(key: string): StoredEntry | undefined;
  /** The retained entry, fresh or stale, without counting or touching it (for explain). */
  inspect(key: string): StoredEntry | undefined;
  /** True when `key` was written, deleted or flushed at or after `sinceMs` (wall clock). */
  changedSince(key: string, sinceMs: number): boolean;
  /** Stores a value under a new version. Throws `PreconditionFailed` or `value_too_large`; on throw nothing changed. */
  put(key: string, input: PutInput, preconditions?: Preconditions): { created: boolean; entry: StoredEntry };
  /** Removes a key; true if a fresh entry was removed. Throws `PreconditionFailed`; on throw nothing changed. */
  delete(key: string, preconditions?: Preconditions): boolean;
  /** Removes every key starting with `prefix` that `allow` accepts; returns how many. */
  invalidatePrefix(prefix: string, allow?: (key: string) => boolean): number;
  /** Removes every key carrying any of `tags` that `allow` accepts; returns how many. */
  invalidateTags(tags: readonly string[], allow?: (key: string) => boolean): number;
  /** Removes everything; returns how many entries there were. */
  flush(): number;
  /**
   * Stores an entry made elsewhere (a replica write, a recovered record) with its own version,
   * unless the key holds a newer version or a newer delete. Returns whether it was applied.
   */
  applyEntry(key: string, entry: StoredEntry): boolean;
  /** Applies a delete made elsewhere at `version`; returns whether an older entry was removed. */
  applyDelete(key: string, version: Version): boolean;
  /**
   * True when an entry of `key` at `version` would be applied here: nothing newer is held, deleted
   * or flushed. Lets a peer's sync send only what this node lacks (expiry is not known here).
   */
  wants(key: string, version: Version): boolean;
  /** A snapshot of every retained entry, for snapshots and rebalancing. */
  entries(): Array<[string, StoredEntry]>;
  /** Recent deletes as [key, version], for rebalancing (so a moved key's delete moves too). */
  recentDeletes(): Array<[string, Version]>;
  /** The version of `key`'s recent delete, while its tombstone is kept (for a peer's catch-up). */
  deletedAt(key: string): Version | undefined;
  /**
   * Drops a key this node no longer owns after handing it off: no tombstone and no change
   * event, like an eviction (the data lives on at its owners).
   */
  discard(key: string): void;
  /** Reclaims up to `limit` expired entries; returns how many. Called periodically by the node. */
  sweepExpired(limit: number): number;
  /** Current figures. */
  stats(): StoreStats;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** A copy of `text` that shares no memory with the string it was sliced from. */
function ownString(text: string): string {
  return utf8Decoder.decode(utf8Encoder.encode(text));
}

/** Creates a store with the configured byte cap and eviction policy. */
export function createStore(config: StoreConfig, deps: StoreDeps): Store {
  const counters: StoreCounters = { hits: 0, misses: 0, evictions: 0, expirations: 0 };
  const expiry = createExpiryIndex();
  const tagIndex = createTagIndex();
  const tombstones = createTombstones({ maxCount: config.maxTombstones ?? 100_000, maxAgeMs: config.tombstoneTtlMs ?? 600_000, now: deps.now });
  /** Every write older than the last flush is refused, as the flush removed everything before it. */
  let flushedAt: Version = { hlc: 0, node: 0 };
  const emit = (change: StoreChange) => deps.onChange?.(change);

  function unindex(key: string, entry: StoredEntry): void {
    expiry.remove(key, removeAt(entry));
    tagIndex.remove(key, entry.tags);
  }

  const tableOptions: EntryTableOptions = {
    maxBytes: config.maxBytes,
    onEvict(key, entry) {
      unindex(key, entry);
      counters.evictions++;
    },
  };
  const table: EntryTable = config.eviction === "lfu"
    ? createLfuTable({ ...tableOptions, random: deps.random, now: deps.now })
    : createLruTable(tableOptions);

  function remove(key: string, entry: StoredEntry): void {
    table.delete(key);
    unindex(key, entry);
  }

  const retainStaleMs = config.retainStaleMs ?? 0;

  /** When an entry stops being kept at all: its expiry plus the stale retention window. */
  function removeAt(entry: StoredEntry): number {
    return entry.expiresAt === 0 ? 0 : entry.expiresAt + retainStaleMs;
  }

  function isExpired(entry: StoredEntry, now: number): boolean {
    return entry.expiresAt !== 0 && entry.expiresAt <= now;
  }

  /** The entry for `key` if still retained (fresh or stale), removing it once past retention. */
  function retained(key: string, entry: StoredEntry | undefined, now: number): StoredEntry | undefined {
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== 0 && removeAt(entry) <= now) {
      remove(key, entry);
      counters.expirations++;
      return undefined;
    }
    return entry;
  }

  /** The fresh entry for `key`; stale entries stay retained but are not returned. */
  function fresh(key: string, entry: StoredEntry | undefined): StoredEntry | undefined {
    // The clock is read only for entries that can expire: a miss or an immortal hit needs none.
    if (entry === undefined || entry.expiresAt === 0) return entry;
    const now = deps.now();
    const kept = retained(key, entry, now);
    return kept === undefined || isExpired(kept, now) ? undefined : kept;
  }

  /** Puts `entry` in place of `replaced` (if any) and keeps the indexes exact. */
  function install(key: string, entry: StoredEntry, replaced: StoredEntry | undefined): void {
    if (replaced !== undefined) unindex(key, replaced);
    tombstones.remove(key);
    table.set(key, entry);
    expiry.add(key, removeAt(entry));
    tagIndex.add(key, entry.tags);
    emit({ kind: "put", key, entry });
  }

  /** Deletes `key` at `version`: removes the retained entry (stale copies too) and leaves a tombstone. */
  function deleteAt(key: string, entry: StoredEntry | undefined, version: Version): void {
    if (entry !== undefined) remove(key, entry);
    tombstones.add(key, version);
    emit({ kind: "delete", key, version });
  }

  /** Removes the allowed keys, stale copies included; counts the fresh ones removed. */
  function removeWhere(keys: Iterable<string>, allow: ((key: string) => boolean) | undefined): number {
    const now = deps.now();
    let removed = 0;
    for (const key of keys) {
      if (allow !== undefined && !allow(key)) continue;
      const entry = retained(key, table.peek(key), now);
      if (entry === undefined) continue;
      deleteAt(key, entry, deps.clock.tick());
      if (!isExpired(entry, now)) removed++;
    }
    return removed;
  }

  return {
    get(key) {
      const entry = fresh(key, table.get(key));
      if (entry === undefined) counters.misses++;
      else counters.hits++;
      return entry;
    },
    lookup(key) {
      const found = table.get(key);
      if (found === undefined || found.expiresAt === 0) {
        if (found === undefined) counters.misses++;
        else counters.hits++;
        return found === undefined ? undefined : { entry: found, staleMs: 0 };
      }
      const now = deps.now();
      const entry = retained(key, found, now);
      if (entry === undefined || isExpired(entry, now)) {
        counters.misses++;
        return entry === undefined ? undefined : { entry, staleMs: now - entry.expiresAt };
      }
      counters.hits++;
      return { entry, staleMs: 0 };
    },
    peek: (key) => fresh(key, table.peek(key)),
    inspect: (key) => retained(key, table.peek(key), deps.now()),
    changedSince(key, sinceMs) {
      // A version's clock is wall milliseconds * 1024, so a change's time can be read off it.
      const floor = { hlc: sinceMs * 1024, node: 0 };
      const entry = table.peek(key);
      if (entry !== undefined && compareVersions(entry.version, floor) >= 0) return true;
      return compareVersions(flushedAt, floor) >= 0 || tombstones.covers(key, floor);
    },
    put(key, input, preconditions) {
      // The key may be a slice of the request's URL; a private copy keeps the URL collectable.
      key = ownString(key);
      const now = deps.now();
      const size = entrySize(utf8Length(key), input.value, input.contentType, input.tags);
      // A write replaces a stale entry as well as a fresh one; only fresh ones count for preconditions.
      const replaced = retained(key, table.peek(key), now);
      if (size > config.maxBytes) {
        throw new EdgecacheError(
          "value_too_large",
          `Cannot store the value as an entry must fit in EDGECACHE_MAX_BYTES (${config.maxBytes}): current size is ${size}`,
        );
      }
      // A remembered origin 404 is an absence: it neither satisfies If-Match nor trips If-None-Match: *.
      const previous = replaced !== undefined && !isExpired(replaced, now) && replaced.negative !== true ? replaced : undefined;
      checkPreconditions(previous, preconditions);
      const entry: StoredEntry = {
        value: input.value,
        contentType: input.contentType,
        version: deps.clock.tick(),
        tags: input.tags,
        storedAt: now,
        expiresAt: input.ttlMs > 0 ? now + input.ttlMs : 0,
        size,
        ...(input.negative === true ? { negative: true } : {}),
      };
      install(key, entry, replaced);
      return { created: previous === undefined, entry };
    },
    delete(key, preconditions) {
      const now = deps.now();
      const kept = retained(key, table.peek(key), now);
      const entry = kept !== undefined && !isExpired(kept, now) && kept.negative !== true ? kept : undefined;
      checkPreconditions(entry, preconditions);
      // A stale copy goes too: a deleted key must not come back as stale-if-error.
      deleteAt(key, kept, deps.clock.tick());
      return entry !== undefined;
    },
    invalidatePrefix(prefix, allow) {
      const candidates = Array.from(table.keys()).filter((key) => key.startsWith(prefix));
      return removeWhere(candidates, allow);
    },
    invalidateTags(tags, allow) {
      return removeWhere(tagIndex.keysWithAny(tags), allow);
    },
    flush() {
      const count = table.count;
      table.clear();
      expiry.clear();
      tagIndex.clear();
      tombstones.clear();
      flushedAt = deps.clock.tick();
      emit({ kind: "flush", version: flushedAt });
      return count;
    },
    applyEntry(key, entry) {
      const now = deps.now();
      deps.clock.observe(entry.version);
      if (entry.expiresAt !== 0 && removeAt(entry) <= now) return false;
      if (compareVersions(entry.version, flushedAt) <= 0 || tombstones.covers(key, entry.version)) return false;
      const current = retained(key, table.peek(key), now);
      if (current !== undefined && compareVersions(current.version, entry.version) >= 0) return false;
      // Sizes are this node's accounting, so an entry from elsewhere is measured here.
      const size = entrySize(utf8Length(key), entry.value, entry.contentType, entry.tags);
      if (size > config.maxBytes) return false;
      install(key, { ...entry, size }, current);
      return true;
    },
    wants(key, version) {
      if (compareVersions(version, flushedAt) <= 0 || tombstones.covers(key, version)) return false;
      const current = retained(key, table.peek(key), deps.now());
      return current === undefined || compareVersions(current.version, version) < 0;
    },
    applyDelete(key, version) {
      deps.clock.observe(version);
      const current = retained(key, table.peek(key), deps.now());
      if (current !== undefined && compareVersions(current.version, version) >= 0) return false;
      if (compareVersions(version, flushedAt) <= 0 || tombstones.covers(key, version)) return false;
      deleteAt(key, current, version);
      return current !== undefined;
    },
    recentDeletes: () => tombstones.entries(),
    deletedAt: (key) => tombstones.versionOf(key),
    discard(key) {
      const entry = table.peek(key);
      if (entry !== undefined) remove(key, entry);
    },
    entries() {
      const now = deps.now();
      const all: Array<[string, StoredEntry]> = [];
      for (const key of table.keys()) {
        const entry = retained(key, table.peek(key), now);
        if (entry !== undefined) all.push([key, entry]);
      }
      return all;
    },
    sweepExpired(limit) {
      const now = deps.now();
      let swept = 0;
      for (const key of expiry.takeDue(now, limit)) {
        const entry = table.peek(key);
        // The index may lag a replacement with a later expiry; only remove what really expired.
        if (entry === undefined || entry.expiresAt === 0 || removeAt(entry) > now) continue;
        table.delete(key);
        tagIndex.remove(key, entry.tags);
        counters.expirations++;
        swept++;
      }
      return swept;
    },
    stats() {
      const lookups = counters.hits + counters.misses;
      return {
        ...counters,
        entries: table.count,
        bytes: table.bytes,
        maxBytes: config.maxBytes,
        hitRatio: lookups === 0 ? 0 : counters.hits / lookups,
      };
    },
  };
}
