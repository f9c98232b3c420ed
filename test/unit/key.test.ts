import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeKey, keyAllowed } from "../../src/core/key.ts";
import { EdgecacheError } from "../../src/core/errors.ts";

const MAX = 1024;

function codeOfDecode(raw: string, max = MAX): string {
  try {
    decodeKey(raw, max);
  } catch (error) {
    assert.ok(error instanceof EdgecacheError, `expected an EdgecacheError, got ${String(error)}`);
    return error.code;
  }
  assert.fail(`expected decodeKey('${raw}') to throw`);
}

describe("decodeKey()", () => {
  test("decodeKey() returns plain ASCII keys unchanged", () => {
    assert.equal(decodeKey("user-42", MAX), "user-42");
    assert.equal(decodeKey("a", MAX), "a");
    assert.equal(decodeKey("~!$&'()*+,;=:@._-", MAX), "~!$&'()*+,;=:@._-");
  });

  test("decodeKey() keeps / inside keys", () => {
    assert.equal(decodeKey("users/42/avatar", MAX), "users/42/avatar");
    assert.equal(decodeKey("/leading/and/trailing/", MAX), "/leading/and/trailing/");
    assert.equal(decodeKey("a%2Fb", MAX), "a/b");
  });

  test("decodeKey() percent-decodes with upper- or lower-case hex", () => {
    assert.equal(decodeKey("hello%20world", MAX), "hello world");
    assert.equal(decodeKey("%3f%3F", MAX), "??");
    assert.equal(decodeKey("100%25", MAX), "100%");
    assert.equal(decodeKey("%41%42%43", MAX), "ABC");
  });

  test("decodeKey() decodes percent-encoded multi-byte UTF-8", () => {
    assert.equal(decodeKey("caf%C3%A9", MAX), "café");
    assert.equal(decodeKey("%E2%82%AC", MAX), "€");
    assert.equal(decodeKey("%F0%9F%98%80", MAX), "\u{1F600}");
    assert.equal(decodeKey("%E6%97%A5%E6%9C%AC/%E8%AA%9E", MAX), "日本/語");
  });

  test("decodeKey() accepts raw non-ASCII characters and a raw space", () => {
    assert.equal(decodeKey("café", MAX), "café");
    assert.equal(decodeKey("\u{1F600}x", MAX), "\u{1F600}x");
    assert.equal(decodeKey("a b", MAX), "a b");
  });

  test("decodeKey() refuses an empty key with invalid_key", () => {
    assert.equal(codeOfDecode(""), "invalid_key");
  });

  test("decodeKey() refuses bad percent-encoding with invalid_key", () => {
    for (const raw of ["%", "a%", "%G1", "%1G", "%4", "abc%4", "%%41", "%zz", "%-1"]) {
      assert.equal(codeOfDecode(raw), "invalid_key", raw);
    }
  });

  test("decodeKey() refuses invalid UTF-8 with invalid_key", () => {
    for (const raw of ["%C3%28", "%FF", "%FE", "%C3", "%E2%82", "%80", "%ED%A0%80", "%C0%AF", "ok%F0%9F%98"]) {
      assert.equal(codeOfDecode(raw), "invalid_key", raw);
    }
  });

  test("decodeKey() refuses C0, DEL and C1 control characters with invalid_key", () => {
    for (const raw of ["%00", "a%0Ab", "%0D", "%09", "%1F", "%7F", "%C2%80", "%C2%85", "%C2%9F", "a\tb", "a\nb", "\u0085", "\u007f"]) {
      assert.equal(codeOfDecode(raw), "invalid_key", JSON.stringify(raw));
    }
  });

  test("decodeKey() accepts the characters just outside the control ranges", () => {
    assert.equal(decodeKey("%20", MAX), " ");
    assert.equal(decodeKey("%7E", MAX), "~");
    assert.equal(decodeKey("%C2%A0", MAX), "\u00a0");
  });

  test("decodeKey() accepts a key of exactly the byte limit and refuses one byte more with key_too_long", () => {
    assert.equal(decodeKey("a".repeat(16), 16), "a".repeat(16));
    assert.equal(codeOfDecode("a".repeat(17), 16), "key_too_long");
  });

  test("decodeKey() counts the limit in UTF-8 bytes, not characters", () => {
    // "é" is 2 bytes, "€" 3, "😀" 4 (and 2 UTF-16 units).
    assert.equal(decodeKey("é".repeat(8), 16), "é".repeat(8));
    assert.equal(codeOfDecode("é".repeat(9), 16), "key_too_long");
    assert.equal(codeOfDecode("€".repeat(6), 16), "key_too_long");
    assert.equal(decodeKey("\u{1F600}".repeat(4), 16), "\u{1F600}".repeat(4));
    assert.equal(codeOfDecode("\u{1F600}".repeat(4) + "a", 16), "key_too_long");
    assert.equal(decodeKey("%C3%A9".repeat(8), 16), "é".repeat(8));
    assert.equal(codeOfDecode("%C3%A9".repeat(8) + "a", 16), "key_too_long");
  });

  test("decodeKey() measures the decoded key, so percent-encoding does not count against the limit", () => {
    assert.equal(decodeKey("%41".repeat(16), 16), "A".repeat(16));
    assert.equal(codeOfDecode("%41".repeat(17), 16), "key_too_long");
  });
});

describe("keyAllowed()", () => {
  test("keyAllowed() allows every key when no prefixes are given", () => {
    assert.equal(keyAllowed("anything", undefined), true);
  });

  test("keyAllowed() allows keys inside any of the prefixes and refuses the rest", () => {
    const prefixes = ["tenant-a/", "public/"];
    assert.equal(keyAllowed("tenant-a/1", prefixes), true);
    assert.equal(keyAllowed("public/x/y", prefixes), true);
    assert.equal(keyAllowed("tenant-b/1", prefixes), false);
    assert.equal(keyAllowed("tenant-a", prefixes), false);
    assert.equal(keyAllowed("xtenant-a/1", prefixes), false);
  });

  test("keyAllowed() refuses every key for an empty prefix list", () => {
    assert.equal(keyAllowed("k", []), false);
  });

  test("keyAllowed() with an empty-string prefix allows every key", () => {
    assert.equal(keyAllowed("k", [""]), true);
  });
});
