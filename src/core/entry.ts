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
 * Measured bytes of memory one entry costs beyond its key, value, content type and tags: the
 * entry and version objects, the Uint8Array and ArrayBuffer objects, the string headers, the
 * table's slot and the expiry-index node. `bench/entry_overhead.ts` fills a store with 200k and
 * 1M entries (12-byte keys, 100-byte values) and divides the engine-reported heap growth by the
 * entry count; the largest figure over LRU/LFU, with and without a TTL, was 594.5 B on Deno 2.9.6
 * (V8 heapUsed + external) and 450 B on Bun 1.4.5 (JSC heapUsed). The larger, rounded up to a
 * multiple of 8, is used so the cap is honest on both (see bench/RESULTS.md). It bounds heap, not
 * RSS: resident memory grows by a further ~200-600 B per entry (allocator slack, and on Deno the
 * native bookkeeping of each ArrayBuffer, which V8 does not report).
 */
export const ENTRY_OVERHEAD_BYTES = 600;

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
