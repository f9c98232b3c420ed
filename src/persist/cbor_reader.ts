/**
 * A fast reader for the small CBOR subset persistence records are written in: definite-length
 * arrays, unsigned integers up to 2^53, text strings and byte strings. Recovery decodes a
 * million records; a general decoder's per-call set-up costs more than the record itself.
 * Anything outside the subset (or malformed) reads as -1 / undefined, and the caller falls back
 * to cbor-x, so this is an accelerator, never a second definition of the format.
 *
 * The cursor is module state (as in cbor-x): `readFrom` starts a read, the readers advance it.
 * Reads are synchronous, so no two can interleave.
 */

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** ASCII texts up to this length are built from their char codes; longer ones are decoded. */
const SHORT_TEXT = 256;
/** Char codes of the text being built, reused: no subarray (an allocation) per key. */
const codes: number[] = [];

let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;
/** The last longer text decoded, by its raw bytes: content types repeat, so the string is reused. */
let lastTextBytes: Uint8Array = new Uint8Array(0);
let lastText = "";

/** Starts reading `bytes[start, stop)`. */
export function readFrom(bytes: Uint8Array, start: number, stop: number): void {
  src = bytes;
  pos = start;
  end = stop;
}

/** True when the read consumed every byte. */
export function readDone(): boolean {
  return pos === end;
}

/** The argument of a head of major type `major`, or -1 when the next item is something else. */
function head(major: number): number {
  if (pos >= end) return -1;
  const first = src[pos];
  if (first >> 5 !== major) return -1;
  const info = first & 31;
  const p = pos + 1;
  if (info < 24) {
    pos = p;
    return info;
  }
  if (info === 24 && p + 1 <= end) {
    pos = p + 1;
    return src[p];
  }
  if (info === 25 && p + 2 <= end) {
    pos = p + 2;
    return (src[p] << 8) | src[p + 1];
  }
  if (info === 26 && p + 4 <= end) {
    pos = p + 4;
    return src[p] * 0x1000000 + ((src[p + 1] << 16) | (src[p + 2] << 8) | src[p + 3]);
  }
  if (info === 27 && p + 8 <= end) {
    const high = src[p] * 0x1000000 + ((src[p + 1] << 16) | (src[p + 2] << 8) | src[p + 3]);
    if (high >= 0x200000) return -1;
    pos = p + 8;
    return high * 0x100000000 + src[p + 4] * 0x1000000 + ((src[p + 5] << 16) | (src[p + 6] << 8) | src[p + 7]);
  }
  return -1;
}

/** An unsigned integer, or -1. */
export function readUint(): number {
  return head(0);
}

/** The length of a definite array, or -1. */
export function readArray(): number {
  return head(4);
}

/** A text string, or undefined. */
export function readText(): string | undefined {
  const length = head(3);
  if (length < 0 || pos + length > end) return undefined;
  const start = pos;
  pos += length;
  if (length > 16 && length === lastTextBytes.length) {
    let same = true;
    for (let i = 0; i < length && same; i++) same = src[start + i] === lastTextBytes[i];
    if (same) return lastText;
  }
  let ascii = length <= SHORT_TEXT;
  if (ascii) {
    codes.length = length;
    for (let i = 0; i < length && ascii; i++) ascii = (codes[i] = src[start + i]) < 0x80;
  }
  let text: string;
  if (ascii) {
    // One call, so the string is flat: a string built char by char is a rope that every Map
    // lookup of the key would first have to flatten.
    text = String.fromCharCode.apply(null, codes);
  } else {
    try {
      text = utf8.decode(src.subarray(start, pos));
    } catch {
      return undefined;
    }
  }
  if (length > 16) {
    lastTextBytes = src.slice(start, pos);
    lastText = text;
  }
  return text;
}

/** A copy of a byte string (never a view that would pin the whole file), or undefined. */
export function readBytes(): Uint8Array | undefined {
  const length = head(2);
  if (length < 0 || pos + length > end) return undefined;
  const copy = src.slice(pos, pos + length);
  pos += length;
  return copy;
}
