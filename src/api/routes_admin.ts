import type { Hono } from "hono";
import { z } from "zod";
import { redactConfig } from "../config/load_config.ts";
import { AccessDenied, EdgecacheError } from "../core/errors.ts";
import { decodeKey, keyAllowed } from "../core/key.ts";
import { explainLocal } from "./explain.ts";
import { rawPathAfter } from "./raw_path.ts";
import type { KvService } from "../kv/kv_service.ts";
import type { AccessControl } from "./access.ts";
import { readBoundedBody } from "./bounded_body.ts";
import type { AppContext, AppDeps, AppEnv } from "./context.ts";

const MAX_INVALIDATE_BODY = 64 * 1024;

const invalidateSchema = z.union([
  z.object({ prefix: z.string().min(1).max(65536) }).strict(),
  z.object({ tags: z.array(z.string().regex(/^[A-Za-z0-9._:~-]{1,128}$/)).min(1).max(1000) }).strict(),
]);

/** Registers `POST /v1/invalidate` and everything under `/v1/admin`. */
export function registerAdminRoutes(app: Hono<AppEnv>, deps: AppDeps & { kv: KvService }, access: AccessControl): void {
  const { store, kv } = deps;

  const audit = (c: AppContext, action: string, target: string) =>
    deps.audit.record({
      actor: c.get("principal").subject,
      action,
      target,
      outcome: "allowed",
      requestId: c.get("requestId"),
      source: c.env?.remoteAddress ?? "unknown",
    });

  app.post("/v1/invalidate", async (c) => {
    await access.authenticate(c, "invalidate");
    access.authorize(c, "cache:write", "invalidate");
    const body = await readBoundedBody(c.req.raw, MAX_INVALIDATE_BODY, deps.config.limits.bodyTimeoutMs, "the invalidation request");
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw new EdgecacheError("invalid_json", "Cannot parse the body as it must be JSON: current body is not");
    }
    const parsed = invalidateSchema.safeParse(json);
    if (!parsed.success) {
      throw new EdgecacheError("bad_request", 'Cannot invalidate as the body must be {"prefix":"p"} or {"tags":["a",...]}: current body is neither');
    }
    const prefixes = c.get("principal").prefixes;
    let invalidated: number;
    if ("prefix" in parsed.data) {
      if (!keyAllowed(parsed.data.prefix, prefixes)) {
        access.deny(c, "invalidate", "prefix", new AccessDenied("prefix_denied", "Cannot invalidate the prefix as it must lie within the token's prefixes: current prefix does not"));
      }
      invalidated = await kv.invalidate({ prefix: parsed.data.prefix }, prefixes, c.get("requestId"));
      audit(c, "invalidate.prefix", parsed.data.prefix.slice(0, 256));
    } else {
      invalidated = await kv.invalidate({ tags: parsed.data.tags }, prefixes, c.get("requestId"));
      audit(c, "invalidate.tags", parsed.data.tags.join(",").slice(0, 256));
    }
    return c.json({ invalidated });
  });

  const admin = (action: string) => async (c: AppContext, next: () => Promise<void>) => {
    await access.authenticate(c, action);
    access.authorize(c, "cache:admin", action);
    await next();
  };

  app.get("/v1/admin/stats", admin("admin.stats"), (c) => {
    audit(c, "admin.stats", "stats");
    const stats = store.stats();
    return c.json({
      node_id: deps.node.id,
      mode: deps.config.mode,
      entries: stats.entries,
      bytes: stats.bytes,
      max_bytes: stats.maxBytes,
      hits: stats.hits,
      misses: stats.misses,
      hit_ratio: stats.hitRatio,
      evictions: stats.evictions,
      expirations: stats.expirations,
      uptime_seconds: Math.floor((deps.now() - deps.node.startedAt) / 1000),
      peers: deps.cluster?.peers() ?? [],
    });
  });

  app.get("/v1/admin/cluster", admin("admin.cluster"), (c) => {
    audit(c, "admin.cluster", "cluster");
    if (deps.cluster !== undefined) return c.json(deps.cluster.describe());
    // A local-only node is a cluster of one: it owns the whole ring and links to no peer.
    return c.json({
      mode: deps.config.mode,
      node_id: deps.node.id,
      replicas: 1,
      members: [{ id: deps.node.id, state: "self", address: null, ownership: 1 }],
      peers_configured: deps.config.cluster.peers,
    });
  });

  app.get("/v1/admin/explain/*", admin("admin.explain"), async (c) => {
    audit(c, "admin.explain", "key");
    const key = decodeKey(rawPathAfter(c.req.url, "/v1/admin/explain/"), deps.config.limits.maxKeyBytes);
    if (deps.cluster !== undefined) return c.json(await deps.cluster.explain(key, c.get("requestId")));
    return c.json(explainLocal(store, key, deps.node.id, deps.now()));
  });

  app.get("/v1/admin/config", admin("admin.config"), (c) => {
    audit(c, "admin.config", "config");
    return c.json(redactConfig(deps.config) as Record<string, unknown>);
  });

  app.post("/v1/admin/flush", admin("admin.flush"), async (c) => {
    const flushed = await kv.flush(c.get("requestId"));
    audit(c, "admin.flush", "store");
    deps.log.warn({ requestId: c.get("requestId"), flushed, actor: c.get("principal").subject }, "store flushed");
    return c.json({ flushed });
  });
}
