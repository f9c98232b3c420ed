import type { StoredEntry } from "../core/entry.ts";
import type { ReadOutcome } from "../origin/read_through.ts";

/** The cache's name in `Cache-Status` (RFC 9211). */
export const CACHE_NAME = "edgecache";

/** `Cache-Status` for a fresh hit, with the remaining freshness when the entry expires. */
export function hitStatus(entry: StoredEntry, now: number): string {
  if (entry.expiresAt === 0) return `${CACHE_NAME}; hit`;
  return `${CACHE_NAME}; hit; ttl=${Math.max(0, Math.ceil((entry.expiresAt - now) / 1000))}`;
}

/** `Cache-Status` for a miss with nothing to forward to. */
export const MISS_STATUS = `${CACHE_NAME}; fwd=miss; detail=no-origin`;

/** `Cache-Status` for a miss whose origin fetch failed with `code`. */
export function originFailureStatus(code: string): string {
  return `${CACHE_NAME}; fwd=miss; detail=${code}`;
}

/** `Cache-Status` for every answer of the read-through path (RFC 9211 parameters). */
export function readStatus(outcome: ReadOutcome, now: number): string {
  switch (outcome.kind) {
    case "hit":
      return hitStatus(outcome.entry, now);
    case "fetched":
      return `${CACHE_NAME}; fwd=miss; fwd-status=200${outcome.stored ? "; stored" : ""}${outcome.collapsed ? "; collapsed" : ""}`;
    case "absent":
      return outcome.cached
        ? `${CACHE_NAME}; hit; detail=negative`
        : `${CACHE_NAME}; fwd=miss; fwd-status=404${outcome.stored ? "; stored" : ""}${outcome.collapsed ? "; collapsed" : ""}`;
    case "stale":
      return `${CACHE_NAME}; fwd=stale; ttl=${-Math.ceil(outcome.staleMs / 1000)}; detail=${outcome.reason}`;
    case "miss":
      return MISS_STATUS;
  }
}

/** The `Age` header value: whole seconds since the value was stored. */
export function ageSeconds(entry: StoredEntry, now: number): string {
  return String(Math.max(0, Math.floor((now - entry.storedAt) / 1000)));
}
