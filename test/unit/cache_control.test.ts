import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseFreshness } from "../../src/origin/cache_control.ts";

describe("parseFreshness", () => {
  test("max-age gives the TTL in ms", () => {
    assert.deepEqual(parseFreshness("public, max-age=60", null), { storable: true, ttlMs: 60_000 });
  });

  test("s-maxage beats max-age, whichever comes first", () => {
    assert.deepEqual(parseFreshness("max-age=60, s-maxage=300", null), { storable: true, ttlMs: 300_000 });
    assert.deepEqual(parseFreshness("s-maxage=5, max-age=600", null), { storable: true, ttlMs: 5_000 });
    assert.deepEqual(parseFreshness("s-maxage=0, max-age=600", null), { storable: true, ttlMs: 0 }, "s-maxage=0 still wins");
  });

  test("Age is subtracted from the freshness lifetime and never goes below zero", () => {
    assert.deepEqual(parseFreshness("max-age=60", "10"), { storable: true, ttlMs: 50_000 });
    assert.deepEqual(parseFreshness("s-maxage=100, max-age=10", " 30 "), { storable: true, ttlMs: 70_000 });
    assert.deepEqual(parseFreshness("max-age=60", "600"), { storable: true, ttlMs: 0 });
    assert.deepEqual(parseFreshness("max-age=60", "soon"), { storable: true, ttlMs: 60_000 }, "a malformed Age is ignored");
    assert.deepEqual(parseFreshness("max-age=60", "-5"), { storable: true, ttlMs: 60_000 });
  });

  test("no-store, private and no-cache make the response unstorable", () => {
    for (const header of ["no-store", "private", "no-cache", "public, max-age=60, no-store", "private, max-age=60", "No-Cache", "max-age=60,PRIVATE"]) {
      assert.equal(parseFreshness(header, null).storable, false, header);
    }
    assert.deepEqual(parseFreshness("private, max-age=60", null), { storable: false, ttlMs: 60_000 });
    assert.deepEqual(parseFreshness('no-cache="set-cookie"', null), { storable: false });
  });

  test("quoted directive values are read", () => {
    assert.deepEqual(parseFreshness('max-age="120"', null), { storable: true, ttlMs: 120_000 });
    assert.deepEqual(parseFreshness('s-maxage="7", max-age=1', null), { storable: true, ttlMs: 7_000 });
  });

  test("directive names are case-insensitive and whitespace is ignored", () => {
    assert.deepEqual(parseFreshness("  Public ,  MAX-AGE = 30 ", null), { storable: true, ttlMs: 30_000 });
    assert.deepEqual(parseFreshness("S-MaxAge=9", null), { storable: true, ttlMs: 9_000 });
  });

  test("garbage gives no TTL and does not throw", () => {
    for (const header of ["max-age=abc", "max-age=-1", "max-age=1.5", "max-age=", "max-age", ",,,;;", "=60", "\u0000\u00ff", "max-age=1e3"]) {
      const freshness = parseFreshness(header, null);
      assert.equal(freshness.ttlMs, undefined, header);
      assert.equal(freshness.storable, true, header);
    }
    assert.deepEqual(parseFreshness("s-maxage=bogus, max-age=20", null), { storable: true, ttlMs: 20_000 }, "a malformed s-maxage falls back to max-age");
  });

  test("an absent or empty header is storable with no TTL", () => {
    assert.deepEqual(parseFreshness(null, null), { storable: true });
    assert.deepEqual(parseFreshness("", "30"), { storable: true });
    assert.deepEqual(parseFreshness("public", null), { storable: true });
  });
});
