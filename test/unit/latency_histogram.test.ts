import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createLatencyHistogram } from "../../src/bench/latency_histogram.ts";
import { seededRandom } from "./fakes.ts";

const PERCENTILES = [1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100];

/** The exact percentile by the same nearest-rank definition the histogram uses. */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

function assertWithinOnePercent(values: number[]): void {
  const histogram = createLatencyHistogram();
  for (const value of values) histogram.record(value);
  const sorted = [...values].sort((a, b) => a - b);
  for (const p of PERCENTILES) {
    const expected = exactPercentile(sorted, p);
    const actual = histogram.percentile(p);
    assert.ok(Math.abs(actual - expected) <= expected * 0.01 + 0.5, `p${p}: ${actual} is not within 1% of ${expected}`);
  }
}

describe("latency histogram", () => {
  test("histogram.percentile() is 0 and max is 0 when nothing was recorded", () => {
    const histogram = createLatencyHistogram();
    assert.equal(histogram.percentile(50), 0);
    assert.equal(histogram.percentile(99.9), 0);
    assert.equal(histogram.max, 0);
    assert.equal(histogram.count, 0);
  });

  test("histogram is exact below 256 us", () => {
    const histogram = createLatencyHistogram();
    for (let v = 1; v <= 200; v++) histogram.record(v);
    assert.equal(histogram.percentile(50), 100);
    assert.equal(histogram.percentile(90), 180);
    assert.equal(histogram.percentile(0.5), 1);
    assert.equal(histogram.percentile(100), 200);
  });

  test("histogram percentiles are within 1% on a uniform 1 us..100 ms distribution", () => {
    const values = Array.from({ length: 100_000 }, (_, i) => i + 1);
    assertWithinOnePercent(values);
    const histogram = createLatencyHistogram();
    for (const value of values) histogram.record(value);
    assert.ok(Math.abs(histogram.percentile(50) - 50_000) <= 500);
    assert.ok(Math.abs(histogram.percentile(99) - 99_000) <= 990);
  });

  test("histogram percentiles are within 1% on a long-tailed (exponential) distribution", () => {
    const random = seededRandom(17);
    const values = Array.from({ length: 50_000 }, () => Math.round(-Math.log(1 - random()) * 2_000) + 50);
    assertWithinOnePercent(values);
  });

  test("histogram percentiles are within 1% on a bimodal distribution spanning seconds", () => {
    const random = seededRandom(23);
    const values = Array.from({ length: 20_000 }, () => (random() < 0.95 ? 200 + Math.floor(random() * 300) : 2_000_000 + Math.floor(random() * 3_000_000)));
    assertWithinOnePercent(values);
  });

  test("histogram.max is the exact largest value, even between bucket bounds", () => {
    const histogram = createLatencyHistogram();
    for (const value of [5, 123_456.789, 99_999, 1_000]) histogram.record(value);
    assert.equal(histogram.max, 123_456.789);
    assert.equal(histogram.percentile(100), 123_456.789, "the top percentile never exceeds the true maximum");
    assert.equal(histogram.count, 4);
  });

  test("histogram copes with values up to 2^32 - 1 us without losing them", () => {
    const histogram = createLatencyHistogram();
    histogram.record(0xffffffff);
    histogram.record(1);
    assert.equal(histogram.count, 2);
    assert.equal(histogram.max, 0xffffffff);
    assert.ok(Math.abs(histogram.percentile(100) - 0xffffffff) <= 0xffffffff * 0.01);
    assert.equal(histogram.percentile(50), 1);
  });

  test("histogram.merge() gives the same figures as recording every value in one histogram", () => {
    const random = seededRandom(31);
    const left = createLatencyHistogram();
    const right = createLatencyHistogram();
    const all = createLatencyHistogram();
    for (let i = 0; i < 10_000; i++) {
      const value = Math.floor(random() * 50_000);
      (i % 3 === 0 ? left : right).record(value);
      all.record(value);
    }
    right.record(750_000);
    all.record(750_000);
    left.merge(right);
    assert.equal(left.count, all.count);
    assert.equal(left.max, 750_000);
    for (const p of PERCENTILES) assert.equal(left.percentile(p), all.percentile(p), `p${p}`);
    assert.deepEqual(left.counts, all.counts);
  });

  test("histogram.merge() of an empty histogram changes nothing", () => {
    const histogram = createLatencyHistogram();
    for (const value of [10, 20, 30]) histogram.record(value);
    histogram.merge(createLatencyHistogram());
    assert.equal(histogram.count, 3);
    assert.equal(histogram.max, 30);
    assert.equal(histogram.percentile(50), 20);
  });
});
