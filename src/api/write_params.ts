import { EdgecacheError } from "../core/errors.ts";

const TAG_PATTERN = /^[A-Za-z0-9._:~-]{1,128}$/;
const MAX_TAGS = 32;
const MAX_CONTENT_TYPE = 256;

/** The TTL of a write in ms from its `ttl` (whole seconds), or the default when absent. Throws `invalid_ttl`. */
export function parseTtlMs(text: string | undefined, limits: { defaultTtlMs: number; maxTtlMs: number }): number {
  if (text === undefined) return limits.defaultTtlMs;
  const maxSeconds = Math.floor(limits.maxTtlMs / 1000);
  if (!/^\d{1,10}$/.test(text) || Number(text) < 1 || Number(text) > maxSeconds) {
    throw new EdgecacheError("invalid_ttl", `Cannot use ttl as it must be whole seconds from 1 to ${maxSeconds} (EDGECACHE_MAX_TTL): current value is '${text.slice(0, 32)}'`);
  }
  return Number(text) * 1000;
}

/** The tags of a write from a comma-separated list, deduplicated. Throws `invalid_tags`. */
export function parseTags(text: string | undefined): string[] {
  if (text === undefined || text === "") return [];
  const tags = Array.from(new Set(text.split(",").map((tag) => tag.trim())));
  if (tags.length > MAX_TAGS || !tags.every((tag) => TAG_PATTERN.test(tag))) {
    throw new EdgecacheError("invalid_tags", `Cannot use tags as they must be at most ${MAX_TAGS} names of 1-128 characters A-Z a-z 0-9 . _ : ~ -: current value is '${text.slice(0, 64)}'`);
  }
  return tags;
}

/** The content type to store, defaulting to application/octet-stream. Throws `bad_request`. */
export function parseContentType(text: string | null | undefined): string {
  if (text === null || text === undefined || text === "") return "application/octet-stream";
  if (text.length > MAX_CONTENT_TYPE || /[\x00-\x1f\x7f]/.test(text)) {
    throw new EdgecacheError("bad_request", `Cannot store Content-Type as it must be at most ${MAX_CONTENT_TYPE} printable characters: current length is ${text.length}`);
  }
  return text;
}
