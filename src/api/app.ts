import { Hono } from "hono";
import { EdgecacheError } from "../core/errors.ts";
import { createLocalKv } from "../kv/kv_service.ts";
import { createLogSampler } from "../obs/log_sampler.ts";
import { createAccessControl } from "./access.ts";
import type { AppDeps, AppEnv } from "./context.ts";
import { errorResponse } from "./http_errors.ts";
import { registerAdminRoutes } from "./routes_admin.ts";
import { registerKvRoutes } from "./routes_kv.ts";
import { registerBatchRoute } from "./routes_batch.ts";
import { createRequestIds } from "./request_id.ts";

/** Methods each path accepts, for 405 answers with an `Allow` header. */
const ALLOWED_METHODS: ReadonlyArray<[path: string, allow: string]> = [
  ["/v1/kv/*", "GET, HEAD, PUT, DELETE"],
  ["/v1/invalidate", "POST"],
  ["/v1/batch", "POST"],
  ["/v1/admin/stats", "GET, HEAD"],
  ["/v1/admin/cluster", "GET, HEAD"],
  ["/v1/admin/config", "GET, HEAD"],
  ["/v1/admin/flush", "POST"],
  ["/v1/admin/explain/*", "GET, HEAD"],
  ["/healthz", "GET, HEAD"],
  ["/readyz", "GET, HEAD"],
  ["/metrics", "GET, HEAD"],
];

const KNOWN_METHODS = new Set(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]);

/** Probes and scrapes are answered even when draining or overloaded: they are how operators see it. */
const ALWAYS_SERVED = new Set(["/healthz", "/readyz", "/metrics"]);

/** A fixed route name for metrics and logs: never a key, so label cardinality stays bounded. */
function routeName(path: string): string {
  if (path.startsWith("/v1/kv/")) return "kv";
  if (path.startsWith("/v1/admin/explain/")) return "admin_explain";
  switch (path) {
    case "/v1/invalidate":
      return "invalidate";
    case "/v1/batch":
      return "batch";
    case "/v1/admin/stats":
    case "/v1/admin/cluster":
    case "/v1/admin/config":
    case "/v1/admin/flush":
      return path.slice(4).replace("/", "_");
    case "/healthz":
    case "/readyz":
    case "/metrics":
      return path.slice(1);
    default:
      return "other";
  }
}

/** The running state of an app: requests in flight and whether it is draining for shutdown. */
export interface AppHandle {
  app: Hono<AppEnv>;
  /** Requests currently being served. */
  inflight(): number;
  /**
   * Starts draining for shutdown: requests that arrive from now on (on connections that were
   * already open) get 503 `not_ready` with `Connection: close`, while in-flight ones finish.
   */
  startDraining(): void;
}

/**
 * Builds the HTTP API over injected dependencies. The same app serves the binary, in-process
 * API tests (`app.request()`) and the in-process node of `edgecache bench`.
 */
export function createApp(deps: AppDeps): AppHandle {
  const app = new Hono<AppEnv>();
  const access = createAccessControl(deps);
  const requestIds = createRequestIds();
  const maxInflight = deps.maxInflight ?? 10_000;
  let inflight = 0;
  let draining = false;
  // The level is fixed for the node's life; asking pino per request costs a call each time.
  const debugEnabled = deps.log.isLevelEnabled("debug");
  const failureLines = createLogSampler(20, deps.now);

  app.use(async (c, next) => {
    const started = performance.now();
    const requestId = requestIds.pick(c.req.raw.headers.get("x-request-id"));
    c.set("requestId", requestId);
    const refusable = !ALWAYS_SERVED.has(c.req.path);
    if (draining && refusable) {
      c.res = errorResponse(new EdgecacheError("not_ready", "Cannot serve the request as the node must be running: current state is shutting down"), { connection: "close" });
    } else if (inflight >= maxInflight && refusable) {
      c.res = errorResponse(new EdgecacheError("overloaded", `Cannot serve the request as at most ${maxInflight} may be in flight: current count is ${inflight}`));
    } else {
      inflight++;
      try {
        await next();
      } finally {
        inflight--;
      }
    }
    c.res.headers.set("x-request-id", requestId);
    const status = c.res.status;
    const route = routeName(c.req.path);
    const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : "OTHER";
    const elapsed = performance.now() - started;
    deps.metrics.observeRequest(route, method, status, elapsed / 1000);
    if (status >= 500) {
      const suppressed = failureLines.admit();
      if (suppressed >= 0) deps.log.error({ requestId, route, method, status, ms: elapsed, suppressed }, "request failed");
    }
    else if (debugEnabled) deps.log.debug({ requestId, route, method, status, ms: elapsed }, "request");
  });

  app.onError((error, c) => {
    if (!(error instanceof EdgecacheError)) {
      deps.log.error({ requestId: c.get("requestId"), err: error }, "unhandled error");
    }
    return errorResponse(error);
  });

  app.notFound(() => errorResponse(new EdgecacheError("not_found", "Cannot route the request as the path must be one of the API's: current path is not")));

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const readiness = deps.readiness();
    return c.json({ status: readiness.ready ? "ready" : "not_ready", checks: readiness.checks }, readiness.ready ? 200 : 503);
  });
  app.get("/metrics", async () => {
    const text = await deps.metrics.registry.metrics();
    return new Response(text, { headers: { "content-type": deps.metrics.registry.contentType } });
  });

  const kv = deps.kv ?? createLocalKv(deps.store, deps.readThrough);
  registerKvRoutes(app, { ...deps, kv }, access);
  registerAdminRoutes(app, { ...deps, kv }, access);
  registerBatchRoute(app, { ...deps, kv }, access);

  for (const [path, allow] of ALLOWED_METHODS) {
    app.all(path, () =>
      errorResponse(new EdgecacheError("method_not_allowed", `Cannot serve the method as this path must be called with ${allow}: current method is not`), { allow }));
  }

  return {
    app,
    inflight: () => inflight,
    startDraining() {
      draining = true;
    },
  };
}
