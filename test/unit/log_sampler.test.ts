import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createLogSampler } from "../../src/obs/log_sampler.ts";

describe("log sampler", () => {
  test("admits at most perSecond lines a second and reports how many it suppressed", () => {
    let now = 10_000;
    const sampler = createLogSampler(3, () => now);
    assert.deepEqual([sampler.admit(), sampler.admit(), sampler.admit()], [0, 0, 0]);
    assert.equal(sampler.admit(), -1);
    assert.equal(sampler.admit(), -1);
    now += 1000;
    assert.equal(sampler.admit(), 2, "the first line of the next second reports the 2 suppressed");
    assert.equal(sampler.admit(), 0);
  });
});
