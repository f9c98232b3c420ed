import type { Store } from "../core/store.ts";
import { formatEtag } from "../core/version.ts";

/** One node's copy of a key, as `/v1/admin/explain/{key}` shows it. */
export interface ReplicaView {
  node: string;
  present: boolean;
  etag?: string;
  state?: "fresh" | "stale" | "negative";
  /** Seconds until expiry (negative once stale); absent when the entry never expires. */
  ttl_seconds?: number;
  size_bytes?: number;
  stored_at?: string;
  error?: string;
}

/** Describes this node's copy of `key` without touching recency or hit counters. */
export function describeCopy(store: Store, key: string, node: string, now: number): ReplicaView {
  const found = store.inspect(key);
  if (found === undefined) return { node, present: false };
  const stale = found.expiresAt !== 0 && found.expiresAt <= now;
  return {
    node,
    present: true,
    etag: formatEtag(found.version),
    state: found.negative === true ? "negative" : stale ? "stale" : "fresh",
    ttl_seconds: found.expiresAt === 0 ? undefined : Math.ceil((found.expiresAt - now) / 1000),
    size_bytes: found.size,
    stored_at: new Date(found.storedAt).toISOString(),
  };
}

/** Explain for a local-only node: it is the only owner. */
export function explainLocal(store: Store, key: string, node: string, now: number): Record<string, unknown> {
  return { key, mode: "local", owner: node, replicas: [node], copies: [describeCopy(store, key, node, now)] };
}
