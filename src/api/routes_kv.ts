import type { Hono } from "hono";
import { EdgecacheError } from "../core/errors.ts";
import { decodeKey } from "../core/key.ts";
import { formatEtag } from "../core/version.ts";
import type { AccessControl } from "./access.ts";
import { readBoundedBody } from "./bounded_body.ts";
import type { StoredEntry } from "../core/entry.ts";
import type { KvService } from "../kv/kv_service.ts";
import { ageSeconds, originFailureStatus, readStatus } from "./cache_headers.ts";
import { parseEntityTags, writePreconditions } from "./conditional.ts";
import type { AppContext, AppDeps, AppEnv } from "./context.ts";
import { errorResponse } from "./http_errors.ts";
import { rawPathAfter } from "./raw_path.ts";
import { parseContentType, parseTags, parseTtlMs } from "./write_params.ts";

const KV_PREFIX = "/v1/kv/";

/** The single value of a query parameter; a repeated parameter is ambiguous and refused. */
function singleQuery(c: AppContext, name: string): string | undefined {
  const values = c.req.queries(name);
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw new EdgecacheError("bad_request", `Cannot use the query as ${name} must be given at most once: current count is ${values.length}`);
  return values[0];
}

/** Registers GET, HEAD, PUT and DELETE on `/v1/kv/{key}`. */
export function registerKvRoutes(app: Hono<AppEnv>, deps: AppDeps & { kv: KvService }, access: AccessControl): void {
  const { config } = deps;
  const kv = deps.kv;
  const keyOf = (c: AppContext) => decodeKey(rawPathAfter(c.req.url, KV_PREFIX), config.limits.maxKeyBytes);

  const notFound = (cacheStatus: string) =>
    errorResponse(new EdgecacheError("not_found", "Cannot find the key as it must be stored and fresh: current key is absent"), { "cache-status": cacheStatus });

  /** A 200 (or 304 for a matching If-None-Match) carrying `entry`. Unstored values have no ETag. */
  const valueResponse = (c: AppContext, entry: StoredEntry, cacheStatus: string, withEtag: boolean) => {
    const now = deps.now();
    const headers: Record<string, string> = { "content-type": entry.contentType, age: ageSeconds(entry, now), "cache-status": cacheStatus };
    if (withEtag) {
      const etag = formatEtag(entry.version);
      headers.etag = etag;
      const ifNoneMatch = parseEntityTags(c.req.raw.headers.get("if-none-match"), true);
      if (ifNoneMatch === "*" || ifNoneMatch?.includes(etag)) return new Response(null, { status: 304, headers });
    }
    return new Response(entry.value as Uint8Array<ArrayBuffer>, { status: 200, headers });
  };

  // Hono answers HEAD with this handler and drops the body.
  app.get("/v1/kv/*", async (c) => {
    await access.authenticate(c, "kv.get");
    const key = keyOf(c);
    // Authorization comes first: a key the token may not touch never reaches the origin.
    access.authorize(c, "cache:read", "kv.get", key);
    let outcome;
    try {
      outcome = await kv.read(key, c.get("requestId"));
    } catch (error) {
      if (error instanceof EdgecacheError) return errorResponse(error, { "cache-status": originFailureStatus(error.code) });
      throw error;
    }
    const cacheStatus = readStatus(outcome, deps.now());
    if (outcome.kind === "absent" || outcome.kind === "miss") return notFound(cacheStatus);
    return valueResponse(c, outcome.entry, cacheStatus, outcome.kind !== "fetched" || outcome.stored);
  });

  app.put("/v1/kv/*", async (c) => {
    await access.authenticate(c, "kv.put");
    const key = keyOf(c);
    access.authorize(c, "cache:write", "kv.put", key);
    const ttlMs = parseTtlMs(singleQuery(c, "ttl"), config.limits);
    const tags = parseTags(singleQuery(c, "tags"));
    const contentType = parseContentType(c.req.raw.headers.get("content-type"));
    const preconditions = writePreconditions(c.req.raw.headers);
    const value = await readBoundedBody(c.req.raw, config.limits.maxValueBytes, config.limits.bodyTimeoutMs);
    const { created, version } = await kv.write(key, { value, contentType, tags, ttlMs }, preconditions, c.get("requestId"));
    return new Response(null, { status: created ? 201 : 204, headers: { etag: formatEtag(version) } });
  });

  app.delete("/v1/kv/*", async (c) => {
    await access.authenticate(c, "kv.delete");
    const key = keyOf(c);
    access.authorize(c, "cache:write", "kv.delete", key);
    await kv.remove(key, writePreconditions(c.req.raw.headers), c.get("requestId"));
    return new Response(null, { status: 204 });
  });
}
