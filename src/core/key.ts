import { utf8Length } from "./entry.ts";
import { EdgecacheError } from "./errors.ts";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

function hasControlCharacter(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    // C0 controls, DEL and C1 controls.
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/**
 * Decodes the raw (still percent-encoded) key part of a path into the canonical key: strict
 * percent-decoding (a `%` must start two hex digits), strict UTF-8, no control characters,
 * 1 to `maxKeyBytes` UTF-8 bytes. Throws `invalid_key` or `key_too_long`.
 */
export function decodeKey(raw: string, maxKeyBytes: number): string {
  if (raw.length === 0) throw new EdgecacheError("invalid_key", "Cannot use the key as a key must be 1 or more bytes: current value is empty");
  // Fast path: nothing to decode and plain ASCII, so bytes == characters.
  if (raw.indexOf("%") === -1 && /^[\x21-\x7e]*$/.test(raw)) {
    if (raw.length > maxKeyBytes) throw tooLong(raw.length, maxKeyBytes);
    return raw;
  }
  const bytes = new Uint8Array(raw.length * 3);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 37 /* % */) {
      const high = i + 2 < raw.length ? hexValue(raw.charCodeAt(i + 1)) : -1;
      const low = high === -1 ? -1 : hexValue(raw.charCodeAt(i + 2));
      if (low === -1) {
        throw new EdgecacheError("invalid_key", `Cannot decode the key as '%' must start two hex digits: current value is at offset ${i}`);
      }
      bytes[length++] = high * 16 + low;
      i += 2;
    } else if (code < 0x80) {
      bytes[length++] = code;
    } else {
      // Runtimes hand us paths already percent-encoded; a raw non-ASCII char is encoded as-is.
      const isPair = code >= 0xd800 && code <= 0xdbff && i + 1 < raw.length;
      const encoded = new TextEncoder().encode(isPair ? raw.slice(i, i + 2) : raw[i]);
      bytes.set(encoded, length);
      length += encoded.length;
      if (isPair) i++;
    }
  }
  if (length > maxKeyBytes) throw tooLong(length, maxKeyBytes);
  let key: string;
  try {
    key = strictUtf8.decode(bytes.subarray(0, length));
  } catch (cause) {
    throw new EdgecacheError("invalid_key", "Cannot decode the key as it must be valid UTF-8: current value is not", { cause });
  }
  if (hasControlCharacter(key)) {
    throw new EdgecacheError("invalid_key", "Cannot use the key as it must not contain control characters: current value does");
  }
  return key;
}

function tooLong(bytes: number, max: number): EdgecacheError {
  return new EdgecacheError("key_too_long", `Cannot use the key as it must be at most ${max} bytes (EDGECACHE_MAX_KEY_BYTES): current value is ${bytes}`);
}

/**
 * Checks a key that arrives already decoded (in a batch body): 1 to `maxKeyBytes` UTF-8 bytes,
 * no control characters, no lone surrogates (which have no UTF-8 form). Throws like decodeKey.
 */
export function validateKey(key: unknown, maxKeyBytes: number): string {
  if (typeof key !== "string" || key.length === 0) throw new EdgecacheError("invalid_key", "Cannot use the key as a key must be a non-empty string: current value is not");
  if (!key.isWellFormed()) throw new EdgecacheError("invalid_key", "Cannot use the key as it must be valid Unicode: current value has a lone surrogate");
  const bytes = utf8Length(key);
  if (bytes > maxKeyBytes) throw tooLong(bytes, maxKeyBytes);
  if (hasControlCharacter(key)) throw new EdgecacheError("invalid_key", "Cannot use the key as it must not contain control characters: current value does");
  return key;
}

/** True when `key` is inside at least one of `prefixes` (an absent list allows every key). */
export function keyAllowed(key: string, prefixes: readonly string[] | undefined): boolean {
  if (prefixes === undefined) return true;
  for (const prefix of prefixes) if (key.startsWith(prefix)) return true;
  return false;
}
