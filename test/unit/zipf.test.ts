import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createZipfSampler } from "../../src/bench/zipf.ts";
import { seededRandom } from "./fakes.ts";

function histogram(sample: () => number, n: number, draws: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < draws; i++) counts[sample()]++;
  return counts;
}

describe("zipf sampler", () => {
  test("zipf with s=0 draws every rank about equally often", () => {
    const n = 20;
    const draws = 200_000;
    const counts = histogram(createZipfSampler(n, 0, seededRandom(1)), n, draws);
    for (const [rank, count] of counts.entries()) {
      assert.ok(Math.abs(count - draws / n) < (draws / n) * 0.05, `rank ${rank} drawn ${count} times`);
    }
  });

  test("zipf with s=0.99 makes rank 0 the most frequent with about its theoretical share", () => {
    const n = 1_000;
    const s = 0.99;
    const draws = 200_000;
    const counts = histogram(createZipfSampler(n, s, seededRandom(2)), n, draws);
    let harmonic = 0;
    for (let k = 1; k <= n; k++) harmonic += 1 / k ** s;
    const expectedShare = 1 / harmonic; // about 0.136 for n=1000
    assert.equal(counts.indexOf(Math.max(...counts)), 0);
    assert.ok(Math.abs(counts[0] / draws - expectedShare) < expectedShare * 0.05, `rank 0 share ${counts[0] / draws}, expected ${expectedShare}`);
    const expectedRank1 = 1 / 2 ** s / harmonic;
    assert.ok(Math.abs(counts[1] / draws - expectedRank1) < expectedRank1 * 0.05, `rank 1 share ${counts[1] / draws}, expected ${expectedRank1}`);
    assert.ok(counts[0] > counts[1] && counts[1] > counts[9] && counts[9] > counts[99]);
  });

  test("zipf draws stay in [0, n) even for random values at the very ends of [0, 1)", () => {
    const ends = [0, Number.EPSILON, 0.5, 1 - Number.EPSILON, 1 - 2 ** -53];
    for (const s of [0, 0.5, 0.99, 1.5, 3]) {
      for (const n of [1, 2, 7, 1_000]) {
        let i = 0;
        const sample = createZipfSampler(n, s, () => ends[i++ % ends.length]);
        for (let j = 0; j < ends.length; j++) {
          const rank = sample();
          assert.ok(Number.isInteger(rank) && rank >= 0 && rank < n, `n=${n} s=${s} random=${ends[j]} gave ${rank}`);
        }
      }
    }
  });

  test("zipf maps random 0 to rank 0 and random near 1 to rank n-1", () => {
    for (const s of [0, 0.99]) {
      assert.equal(createZipfSampler(50, s, () => 0)(), 0);
      assert.equal(createZipfSampler(50, s, () => 1 - 2 ** -53)(), 49);
    }
  });

  test("zipf draws stay in range under many seeded draws", () => {
    const sample = createZipfSampler(37, 1.2, seededRandom(3));
    for (let i = 0; i < 20_000; i++) {
      const rank = sample();
      assert.ok(Number.isInteger(rank) && rank >= 0 && rank < 37);
    }
  });

  test("zipf refuses n that is not a positive integer and s that is negative or NaN with RangeError", () => {
    const random = () => 0.5;
    for (const n of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => createZipfSampler(n, 0.99, random), RangeError, `n=${n}`);
    }
    for (const s of [-0.01, -1, Number.NaN]) {
      assert.throws(() => createZipfSampler(10, s, random), RangeError, `s=${s}`);
    }
  });
});
