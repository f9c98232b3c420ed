import type { StoredEntry } from "./entry.ts";
import { PreconditionFailed } from "./errors.ts";
import { formatEtag } from "./version.ts";

/** HTTP-style preconditions on a write or delete. Entity tags include their quotes. */
export interface Preconditions {
  /** The current entry's ETag must be one of these; `"*"` means the key must exist. */
  ifMatch?: readonly string[] | "*";
  /** The current entry's ETag must be none of these; `"*"` means the key must not exist. */
  ifNoneMatch?: readonly string[] | "*";
}

function matches(entry: StoredEntry | undefined, tags: readonly string[] | "*"): boolean {
  if (entry === undefined) return false;
  return tags === "*" || tags.includes(formatEtag(entry.version));
}

/** Throws `PreconditionFailed` unless `entry` (the current fresh entry, if any) satisfies them. */
export function checkPreconditions(entry: StoredEntry | undefined, preconditions: Preconditions | undefined): void {
  if (preconditions === undefined) return;
  const { ifMatch, ifNoneMatch } = preconditions;
  if (ifMatch !== undefined && !matches(entry, ifMatch)) {
    throw new PreconditionFailed(
      entry === undefined
        ? "Cannot apply the request as If-Match requires an existing entry: current value is absent"
        : `Cannot apply the request as If-Match must name the current ETag: current value is ${formatEtag(entry.version)}`,
    );
  }
  if (ifNoneMatch !== undefined && matches(entry, ifNoneMatch)) {
    throw new PreconditionFailed(
      `Cannot apply the request as If-None-Match must not match the current entry: current value is ${formatEtag((entry as StoredEntry).version)}`,
    );
  }
}
