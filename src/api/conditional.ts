import { EdgecacheError } from "../core/errors.ts";
import type { Preconditions } from "../core/store.ts";

/**
 * Parses an `If-Match` / `If-None-Match` value: `*` or a comma-separated list of entity tags.
 * `weak` keeps weak tags (W/"x") as their strong form, for If-None-Match's weak comparison;
 * otherwise weak tags are dropped, since If-Match compares strongly and a weak tag never matches.
 */
export function parseEntityTags(header: string | null, weak: boolean): readonly string[] | "*" | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (value === "*") return "*";
  const tags: string[] = [];
  for (const part of value.split(",")) {
    const tag = part.trim();
    if (tag.length === 0) continue;
    const isWeak = tag.startsWith("W/");
    const strong = isWeak ? tag.slice(2) : tag;
    if (!/^"[\x21\x23-\x7e]*"$/.test(strong)) {
      throw new EdgecacheError("bad_request", `Cannot parse the conditional header as entity tags must be quoted: current value is '${tag.slice(0, 64)}'`);
    }
    if (!isWeak || weak) tags.push(strong);
  }
  return tags;
}

/** The preconditions of a write or delete request. */
export function writePreconditions(headers: Headers): Preconditions | undefined {
  const ifMatch = parseEntityTags(headers.get("if-match"), false);
  const ifNoneMatch = parseEntityTags(headers.get("if-none-match"), true);
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  return { ifMatch, ifNoneMatch };
}
