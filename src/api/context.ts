import type { Context } from "hono";
import type { Principal } from "../auth/principal.ts";
import type { TokenVerifier } from "../auth/token_verifier.ts";
import type { Config } from "../config/load_config.ts";
import type { Store } from "../core/store.ts";
import type { ReadThrough } from "../origin/read_through.ts";
import type { KvService } from "../kv/kv_service.ts";

/** What the admin routes may ask of the cluster. */
export interface ClusterView {
  /** Members, their state, ring ownership, replication factor. */
  describe(): Record<string, unknown>;
  /** Per-peer link state for `/v1/admin/stats`. */
  peers(): unknown[];
  /** Owner, replicas and each replica's view of `key`. */
  explain(key: string, requestId: string): Promise<Record<string, unknown>>;
}
import type { AuditLog } from "../obs/audit.ts";
import type { Logger } from "../obs/logger.ts";
import type { Metrics } from "../obs/metrics.ts";
import type { ConnectionInfo } from "../runtime/runtime.ts";

/** Hono's environment for edgecache: per-request variables and the runtime's connection info. */
export interface AppEnv {
  Bindings: ConnectionInfo;
  Variables: { requestId: string; principal: Principal };
}

/** The Hono context type every route handler receives. */
export type AppContext = Context<AppEnv>;

/** One readiness check as `/readyz` reports it. */
export interface ReadinessCheck {
  status: "ok" | "degraded" | "down" | "disabled";
  detail?: string;
}

/** The node's readiness: ready only when no check is down. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, ReadinessCheck>;
}

/** Everything the HTTP API needs, injected by the node (or by a test). */
export interface AppDeps {
  config: Config;
  store: Store;
  verifier: TokenVerifier;
  log: Logger;
  audit: AuditLog;
  metrics: Metrics;
  /** Wall clock in Unix ms. */
  now: () => number;
  /** The node's readiness, evaluated per `/readyz` request. */
  readiness: () => Readiness;
  /** Facts for `/v1/admin/stats` and `/v1/admin/cluster`. */
  node: { id: string; startedAt: number; runtime: string; version: string };
  /** Loads misses from the origin when `EDGECACHE_ORIGIN_URL` is set; absent otherwise. */
  readThrough?: ReadThrough;
  /** Key-value operations; defaults to this node's store (local mode), the cluster supplies its own. */
  kv?: KvService;
  /** Cluster facts for `/v1/admin/cluster`, stats' peers and explain; absent in local mode. */
  cluster?: ClusterView;
  /** Requests served at once before new ones get 503 `overloaded`. @default 10000 */
  maxInflight?: number;
}
