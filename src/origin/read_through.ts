import type { StoredEntry } from "../core/entry.ts";
import { EdgecacheError } from "../core/errors.ts";
import { createSingleFlight } from "../core/single_flight.ts";
import type { Store } from "../core/store.ts";
import type { OriginClient } from "./origin_client.ts";

/** How a read was answered, so the API can set the status and `Cache-Status`. */
export type ReadOutcome =
  /** A fresh value from the store. */
  | { kind: "hit"; entry: StoredEntry }
  /** A value from the origin; `collapsed` when this request waited on another's fetch. */
  | { kind: "fetched"; entry: StoredEntry; stored: boolean; collapsed: boolean }
  /** A stale value, served while a refresh runs or because the origin failed. */
  | { kind: "stale"; entry: StoredEntry; staleMs: number; reason: "stale-while-revalidate" | "stale-if-error"; error?: EdgecacheError }
  /** The origin says the key does not exist; `cached` when remembered from an earlier 404. */
  | { kind: "absent"; cached: boolean; collapsed: boolean; stored: boolean }
  /** Not stored, and there is no origin to ask. */
  | { kind: "miss" };

/** Reads keys through the store, loading misses from the origin once per key. */
export interface ReadThrough {
  read(key: string, requestId: string): Promise<ReadOutcome>;
}

/**
 * Loads a key on a miss. The cluster wraps this seam to send a miss to the key's owner, so a
 * herd spread over many nodes still causes one origin fetch.
 */
export interface Loader {
  load(key: string, requestId: string): Promise<LoadResult>;
}

/** What loading a key produced. */
export type LoadResult = { kind: "value"; entry: StoredEntry; stored: boolean } | { kind: "absent"; stored: boolean };

/** The read-through slice of the configuration. */
export interface ReadThroughConfig {
  defaultTtlMs: number;
  maxTtlMs: number;
  negativeTtlMs: number;
  staleWhileRevalidateMs: number;
  staleIfErrorMs: number;
  /** Requests that may wait on one key's fetch beyond the one fetching. */
  maxWaitersPerKey: number;
}

/** What the read-through takes from its surroundings. */
export interface ReadThroughDeps {
  store: Store;
  loader: Loader;
  now: () => number;
  /** Called when a background refresh fails; its error is not any request's. */
  onRefreshError?: (key: string, error: unknown) => void;
  /** Called for each request that waited on another request's fetch. */
  onCollapsed?: () => void;
  /** Called for each stale entry served. */
  onStale?: (reason: "stale-while-revalidate" | "stale-if-error") => void;
}

/** Origin errors after which a stale entry may be served (stale-if-error). */
const ORIGIN_FAILURES = new Set(["origin_error", "origin_unreachable", "origin_timeout", "origin_circuit_open", "overloaded"]);

/**
 * The loader that fetches from the origin and stores what it may. It re-checks the store first
 * (groupcache's `load()`): a flight that starts just after another one filled the key must not
 * fetch again. It never overwrites a value a client wrote while the fetch was running.
 */
export function createOriginLoader(store: Store, origin: OriginClient, config: ReadThroughConfig, now: () => number): Loader {
  return {
    async load(key, requestId) {
      const existing = store.peek(key);
      if (existing !== undefined) return existing.negative ? { kind: "absent", stored: false } : { kind: "value", entry: existing, stored: false };
      const started = now();
      const answer = await origin.fetch(key, requestId);
      // A client write, delete, invalidation or flush during the fetch is newer than what the
      // origin said when asked: the fetched answer is served to its waiters but not stored.
      const overtaken = store.changedSince(key, started);
      if (answer.status === 404) {
        const remember = config.negativeTtlMs > 0 && answer.freshness.storable && !overtaken;
        if (remember) store.put(key, { value: new Uint8Array(0), contentType: "", tags: [], ttlMs: config.negativeTtlMs, negative: true });
        return { kind: "absent", stored: remember };
      }
      // With no freshness from the origin and no default TTL, keep it at most EDGECACHE_MAX_TTL:
      // "no expiry" is for values clients put, not for copies of someone else's data.
      const ttlMs = Math.min(answer.freshness.ttlMs ?? (config.defaultTtlMs || config.maxTtlMs), config.maxTtlMs);
      // max-age=0 means "do not reuse": serve it to the waiting requests, keep nothing.
      const storable = answer.freshness.storable && (answer.freshness.ttlMs === undefined || answer.freshness.ttlMs > 0) && !overtaken;
      const input = { value: answer.body, contentType: answer.contentType, tags: [] as string[], ttlMs };
      if (storable) {
        try {
          return { kind: "value", entry: store.put(key, input).entry, stored: true };
        } catch (error) {
          // Too large for the memory cap: still the right answer for this request.
          if (!(error instanceof EdgecacheError && error.code === "value_too_large")) throw error;
        }
      }
      const entry: StoredEntry = { value: answer.body, contentType: answer.contentType, version: { hlc: 0, node: 0 }, tags: [], storedAt: now(), expiresAt: 0, size: 0 };
      return { kind: "value", entry, stored: false };
    },
  };
}

/** Creates the read-through cache: fresh hits, single-flight misses, stale-while-revalidate and stale-if-error. */
export function createReadThrough(config: ReadThroughConfig, deps: ReadThroughDeps): ReadThrough {
  const flight = createSingleFlight<LoadResult>({ maxWaiters: config.maxWaitersPerKey });

  const toOutcome = (result: LoadResult, collapsed: boolean): ReadOutcome =>
    result.kind === "value"
      ? { kind: "fetched", entry: result.entry, stored: result.stored, collapsed }
      : { kind: "absent", cached: false, collapsed, stored: result.stored };

  return {
    async read(key, requestId) {
      const found = deps.store.lookup(key);
      if (found !== undefined && found.staleMs === 0) {
        return found.entry.negative ? { kind: "absent", cached: true, collapsed: false, stored: false } : { kind: "hit", entry: found.entry };
      }
      const stale = found !== undefined && !found.entry.negative ? found : undefined;
      if (stale !== undefined && stale.staleMs <= config.staleWhileRevalidateMs) {
        // One refresh per key at a time: concurrent stale reads join the same flight.
        flight.run(key, () => deps.loader.load(key, requestId)).catch((error) => deps.onRefreshError?.(key, error));
        deps.onStale?.("stale-while-revalidate");
        return { kind: "stale", entry: stale.entry, staleMs: stale.staleMs, reason: "stale-while-revalidate" };
      }
      try {
        const { value, shared } = await flight.run(key, () => deps.loader.load(key, requestId));
        if (shared) deps.onCollapsed?.();
        return toOutcome(value, shared);
      } catch (error) {
        const code = error instanceof EdgecacheError ? error.code : "";
        const window = code === "origin_circuit_open" ? Math.max(config.staleIfErrorMs, config.staleWhileRevalidateMs) : config.staleIfErrorMs;
        if (stale !== undefined && ORIGIN_FAILURES.has(code) && stale.staleMs <= window) {
          deps.onStale?.("stale-if-error");
          return { kind: "stale", entry: stale.entry, staleMs: stale.staleMs, reason: "stale-if-error", error: error as EdgecacheError };
        }
        throw error;
      }
    },
  };
}
