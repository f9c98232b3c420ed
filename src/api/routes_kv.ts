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

const KV_PREFIX = "/v1/kv/";
const TAG_PATTERN = /^[A-Za-z0-9._:~-]{1,128}$/;
const MAX_TAGS = 32;
const MAX_CONTENT_TYPE = 256;

/** The key part of the URL, still percent-encoded, so decoding is ours and canonical. */
function rawKey(url: string): string {
  // The route also matches "/v1/kv" itself, so anchor at the path's start: a later "/v1/kv/" (in
  // the query, say) must never become the key. No "/v1/kv/" at the path start means no key.
  const path = url.indexOf("/", url.indexOf("//") + 2);
  if (path === -1 || !url.startsWith(KV_PREFIX, path)) return "";
  const start = path + KV_PREFIX.length;
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

function parseTtlMs(text: string | undefined, deps: AppDeps): number {
  if (text === undefined) return deps.config.limits.defaultTtlMs;
  const maxSeconds = Math.floor(deps.config.limits.maxTtlMs / 1000);
  if (!/^\d{1,10}$/.test(text) || Number(text) < 1 || Number(text) > maxSeconds) {
    throw new EdgecacheError("invalid_ttl", `Cannot use ttl as it must be whole seconds from 1 to ${maxSeconds} (EDGECACHE_MAX_TTL): current value is '${text.slice(0, 32)}'`);
  }
  return Number(text) * 1000;
}

function parseTags(text: string | undefined): string[] {
  if (text === undefined || text === "") return [];
  const tags = Array.from(new Set(text.split(",").map((tag) => tag.trim())));
  if (tags.length > MAX_TAGS || !tags.every((tag) => TAG_PATTERN.test(tag))) {
    throw new EdgecacheError("invalid_tags", `Cannot use tags as they must be at most ${MAX_TAGS} names of 1-128 characters A-Z a-z 0-9 . _ : ~ -: current value is '${text.slice(0, 64)}'`);
  }
  return tags;
}

function parseContentType(text: string | null): string {
  if (text === null || text === "") return "application/octet-stream";
  if (text.length > MAX_CONTENT_TYPE || /[\x00-\x1f\x7f]/.test(text)) {
    throw new EdgecacheError("bad_request", `Cannot store Content-Type as it must be at most ${MAX_CONTENT_TYPE} printable characters: current length is ${text.length}`);
  }
  return text;
}

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
  const keyOf = (c: AppContext) => decodeKey(rawKey(c.req.url), config.limits.maxKeyBytes);

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
    const ttlMs = parseTtlMs(singleQuery(c, "ttl"), deps);
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
