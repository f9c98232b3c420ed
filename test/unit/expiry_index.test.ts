import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createExpiryIndex } from "../../src/core/expiry_index.ts";
import { seededRandom, T0 } from "./fakes.ts";

describe("expiry index", () => {
  test("expiryIndex.add() ignores expiresAt 0 (never expires)", () => {
    const index = createExpiryIndex();
    index.add("k", 0);
    assert.equal(index.size, 0);
    assert.deepEqual(index.takeDue(Number.MAX_SAFE_INTEGER, 10), []);
  });

  test("expiryIndex.takeDue() returns a key only once its whole one-second bucket has passed", () => {
    const index = createExpiryIndex();
    index.add("k", T0 + 1_500); // bucket [T0+1000, T0+2000)
    assert.deepEqual(index.takeDue(T0 + 1_500, 10), []);
    assert.deepEqual(index.takeDue(T0 + 1_999, 10), []);
    assert.deepEqual(index.takeDue(T0 + 2_000, 10), ["k"]);
    assert.equal(index.size, 0);
    assert.deepEqual(index.takeDue(T0 + 10_000, 10), [], "a taken key is not returned twice");
  });

  test("expiryIndex.takeDue() visits buckets in time order whatever the insertion order", () => {
    const index = createExpiryIndex();
    const random = seededRandom(5);
    const times = Array.from({ length: 200 }, (_, i) => T0 + i * 1_000 + 10);
    const shuffled = [...times].sort(() => random() - 0.5);
    for (const time of shuffled) index.add(`k${time}`, time);
    const due = index.takeDue(T0 + 100 * 1_000, 1_000);
    assert.deepEqual(due, times.slice(0, 100).map((time) => `k${time}`));
    assert.equal(index.size, 100);
  });

  test("expiryIndex.takeDue() returns at most limit keys and resumes where it stopped", () => {
    const index = createExpiryIndex();
    for (let i = 0; i < 7; i++) index.add(`a${i}`, T0 + 100);
    for (let i = 0; i < 3; i++) index.add(`b${i}`, T0 + 1_100);
    const seen = new Set<string>();
    for (const batch of [index.takeDue(T0 + 5_000, 4), index.takeDue(T0 + 5_000, 4), index.takeDue(T0 + 5_000, 4)]) {
      assert.ok(batch.length <= 4);
      for (const key of batch) {
        assert.ok(!seen.has(key), `${key} returned twice`);
        seen.add(key);
      }
    }
    assert.equal(seen.size, 10);
    assert.equal(index.size, 0);
  });

  test("expiryIndex.remove() unfiles a key so takeDue() never returns it", () => {
    const index = createExpiryIndex();
    index.add("gone", T0 + 100);
    index.add("kept", T0 + 200);
    index.remove("gone", T0 + 100);
    assert.equal(index.size, 1);
    assert.deepEqual(index.takeDue(T0 + 1_000, 10), ["kept"]);
  });

  test("expiryIndex.remove() with the wrong expiry or an unknown key changes nothing", () => {
    const index = createExpiryIndex();
    index.add("k", T0 + 100);
    index.remove("k", T0 + 5_000);
    index.remove("other", T0 + 100);
    index.remove("k", 0);
    assert.equal(index.size, 1);
    assert.deepEqual(index.takeDue(T0 + 1_000, 10), ["k"]);
  });

  test("expiryIndex refiling a key under a later expiry moves it to the later bucket", () => {
    const index = createExpiryIndex();
    index.add("k", T0 + 100);
    index.remove("k", T0 + 100);
    index.add("k", T0 + 60_000);
    assert.deepEqual(index.takeDue(T0 + 1_000, 10), []);
    assert.deepEqual(index.takeDue(T0 + 61_000, 10), ["k"]);
  });

  test("expiryIndex.add() of the same key twice within one bucket files it once", () => {
    const index = createExpiryIndex();
    index.add("k", T0 + 100);
    index.add("k", T0 + 200);
    assert.equal(index.size, 1);
    assert.deepEqual(index.takeDue(T0 + 1_000, 10), ["k"]);
  });

  test("expiryIndex accepts new keys in a bucket that was emptied or already taken", () => {
    const index = createExpiryIndex();
    index.add("a", T0 + 100);
    index.remove("a", T0 + 100);
    index.add("b", T0 + 100);
    assert.deepEqual(index.takeDue(T0 + 1_000, 10), ["b"]);
    index.add("c", T0 + 300);
    assert.deepEqual(index.takeDue(T0 + 1_000, 10), ["c"]);
    assert.equal(index.size, 0);
  });

  test("expiryIndex.clear() unfiles everything", () => {
    const index = createExpiryIndex();
    for (let i = 0; i < 5; i++) index.add(`k${i}`, T0 + i * 1_000);
    index.clear();
    assert.equal(index.size, 0);
    assert.deepEqual(index.takeDue(T0 + 100_000, 100), []);
    index.add("after", T0);
    assert.deepEqual(index.takeDue(T0 + 1_000, 100), ["after"]);
  });
});
