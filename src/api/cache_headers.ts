import type { StoredEntry } from "../core/entry.ts";

/** The cache's name in `Cache-Status` (RFC 9211). */
export const CACHE_NAME = "edgecache";

/** `Cache-Status` for a fresh hit, with the remaining freshness when the entry expires. */
export function hitStatus(entry: StoredEntry, now: number): string {
  if (entry.expiresAt === 0) return `${CACHE_NAME}; hit`;
  return `${CACHE_NAME}; hit; ttl=${Math.max(0, Math.ceil((entry.expiresAt - now) / 1000))}`;
}

/** `Cache-Status` for a miss with nothing to forward to. */
export const MISS_STATUS = `${CACHE_NAME}; fwd=miss; detail=no-origin`;

/** The `Age` header value: whole seconds since the value was stored. */
export function ageSeconds(entry: StoredEntry, now: number): string {
  return String(Math.max(0, Math.floor((now - entry.storedAt) / 1000)));
}
