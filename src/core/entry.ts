import type { Version } from "./version.ts";

/** One cached value as the store keeps it. Entries are immutable; a write replaces the object. */
export interface StoredEntry {
  /** The value bytes exactly as written. */
  readonly value: Uint8Array;
  /** The `Content-Type` given at write time, returned on reads. */
  readonly contentType: string;
  /** Orders writes across nodes; surfaced as the ETag. */
  readonly version: Version;
  /** Tags for group invalidation. */
  readonly tags: readonly string[];
  /** Unix ms when the value was written (the base of the `Age` header). */
  readonly storedAt: number;
  /** Unix ms after which the entry is expired; 0 means it never expires. */
  readonly expiresAt: number;
  /** Bytes this entry counts against the memory cap (key + value + metadata + overhead). */
  readonly size: number;
  /** True for a remembered origin 404 (negative caching): the key is known to be absent. */
  readonly negative?: boolean;
}

/**
 * Estimated bytes of memory one entry costs beyond its key, value, content type and tags: the
 * entry object, the Uint8Array header and backing store, the table's slot and the index nodes.
 * Measured with `bench/entry_overhead.ts` on Bun and Deno (see bench/RESULTS.md); the larger
 * of the two runtimes' figures is used so the cap is honest on both.
 */
export const ENTRY_OVERHEAD_BYTES = 320;

/** Length of a string in UTF-8 bytes, without allocating an encoded copy. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair is one code point of 4 bytes.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Bytes an entry with these parts counts against the cap. */
export function entrySize(keyBytes: number, value: Uint8Array, contentType: string, tags: readonly string[]): number {
  let tagBytes = 0;
  for (const tag of tags) tagBytes += tag.length + 16;
  return keyBytes + value.byteLength + contentType.length + tagBytes + ENTRY_OVERHEAD_BYTES;
}
