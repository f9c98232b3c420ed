import type { Hono } from "hono";
import { EdgecacheError } from "../core/errors.ts";
import { decodeKey } from "../core/key.ts";
import { formatEtag } from "../core/version.ts";
import type { AccessControl } from "./access.ts";
import { readBoundedBody } from "./bounded_body.ts";
import { ageSeconds, hitStatus, MISS_STATUS } from "./cache_headers.ts";
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

/** Registers GET, HEAD, PUT and DELETE on `/v1/kv/{key}`. */
export function registerKvRoutes(app: Hono<AppEnv>, deps: AppDeps, access: AccessControl): void {
  const { store, config } = deps;
  const keyOf = (c: AppContext) => decodeKey(rawKey(c.req.url), config.limits.maxKeyBytes);

  // Hono answers HEAD with this handler and drops the body.
  app.get("/v1/kv/*", async (c) => {
    await access.authenticate(c, "kv.get");
    const key = keyOf(c);
    access.authorize(c, "cache:read", "kv.get", key);
    const entry = store.get(key);
    if (entry === undefined) {
      return errorResponse(new EdgecacheError("not_found", "Cannot find the key as it must be stored and fresh: current key is absent"), { "cache-status": MISS_STATUS });
    }
    const now = deps.now();
    const etag = formatEtag(entry.version);
    const headers = {
      "content-type": entry.contentType,
      etag,
      age: ageSeconds(entry, now),
      "cache-status": hitStatus(entry, now),
    };
    const ifNoneMatch = parseEntityTags(c.req.raw.headers.get("if-none-match"), true);
    if (ifNoneMatch === "*" || ifNoneMatch?.includes(etag)) return new Response(null, { status: 304, headers });
    // Values are never backed by a SharedArrayBuffer; the cast satisfies BodyInit's ArrayBuffer view.
    return new Response(entry.value as Uint8Array<ArrayBuffer>, { status: 200, headers });
  });

  app.put("/v1/kv/*", async (c) => {
    await access.authenticate(c, "kv.put");
    const key = keyOf(c);
    access.authorize(c, "cache:write", "kv.put", key);
    const ttlMs = parseTtlMs(c.req.query("ttl"), deps);
    const tags = parseTags(c.req.query("tags"));
    const contentType = parseContentType(c.req.raw.headers.get("content-type"));
    const preconditions = writePreconditions(c.req.raw.headers);
    const value = await readBoundedBody(c.req.raw, config.limits.maxValueBytes, config.limits.bodyTimeoutMs);
    const { created, entry } = store.put(key, { value, contentType, tags, ttlMs }, preconditions);
    return new Response(null, { status: created ? 201 : 204, headers: { etag: formatEtag(entry.version) } });
  });

  app.delete("/v1/kv/*", async (c) => {
    await access.authenticate(c, "kv.delete");
    const key = keyOf(c);
    access.authorize(c, "cache:write", "kv.delete", key);
    store.delete(key, writePreconditions(c.req.raw.headers));
    return new Response(null, { status: 204 });
  });
}
