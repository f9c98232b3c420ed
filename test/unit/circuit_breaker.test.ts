import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type BreakerState, createCircuitBreaker } from "../../src/origin/circuit_breaker.ts";
import { createFakeClock } from "./fakes.ts";

function setup(failureThreshold = 3, coolDownMs = 1000) {
  const clock = createFakeClock();
  const transitions: Array<[BreakerState, BreakerState]> = [];
  const breaker = createCircuitBreaker({ failureThreshold, coolDownMs, now: clock.now, onTransition: (from, to) => transitions.push([from, to]) });
  /** One call through the breaker: acquire and, when allowed, record `success`. */
  const call = (success: boolean): boolean => {
    if (!breaker.tryAcquire()) return false;
    breaker.record(success);
    return true;
  };
  return { clock, breaker, transitions, call };
}

describe("createCircuitBreaker", () => {
  test("starts closed and lets calls through", () => {
    const { breaker, transitions, call } = setup();
    assert.equal(breaker.state(), "closed");
    assert.equal(call(true), true);
    assert.equal(call(false), true);
    assert.equal(breaker.state(), "closed");
    assert.deepEqual(transitions, []);
  });

  test("opens after failureThreshold consecutive failures and then fails fast", () => {
    const { breaker, transitions, call } = setup(3);
    call(false);
    call(false);
    assert.equal(breaker.state(), "closed", "one failure short of the threshold stays closed");
    call(false);
    assert.equal(breaker.state(), "open");
    assert.deepEqual(transitions, [["closed", "open"]]);
    for (let i = 0; i < 10; i++) assert.equal(breaker.tryAcquire(), false, "open fails fast");
    assert.equal(breaker.state(), "open");
    assert.equal(transitions.length, 1, "fast failures are not transitions");
  });

  test("a success resets the consecutive failure count", () => {
    const { breaker, call } = setup(3);
    call(false);
    call(false);
    call(true);
    call(false);
    call(false);
    assert.equal(breaker.state(), "closed", "2 + 2 failures split by a success never reach 3 in a row");
    call(false);
    assert.equal(breaker.state(), "open");
  });

  test("half-opens after the cool-down and allows exactly one probe", () => {
    const { clock, breaker, transitions, call } = setup(2, 1000);
    call(false);
    call(false);
    clock.advance(999);
    assert.equal(breaker.state(), "open");
    assert.equal(breaker.tryAcquire(), false, "still cooling down");
    clock.advance(1);
    assert.equal(breaker.state(), "half_open");
    assert.equal(breaker.tryAcquire(), true, "the probe");
    assert.equal(breaker.tryAcquire(), false, "a second call while the probe runs");
    assert.equal(breaker.tryAcquire(), false);
    assert.equal(breaker.state(), "half_open");
    assert.deepEqual(transitions, [["closed", "open"], ["open", "half_open"]]);
  });

  test("a successful probe closes the breaker", () => {
    const { clock, breaker, transitions, call } = setup(2, 1000);
    call(false);
    call(false);
    clock.advance(1000);
    assert.equal(breaker.tryAcquire(), true);
    breaker.record(true);
    assert.equal(breaker.state(), "closed");
    assert.equal(breaker.tryAcquire(), true);
    assert.equal(breaker.tryAcquire(), true, "closed lets every call through");
    assert.deepEqual(transitions, [["closed", "open"], ["open", "half_open"], ["half_open", "closed"]]);
    // Closed again with a fresh count: one failure does not reopen it.
    breaker.record(false);
    assert.equal(breaker.state(), "closed");
  });

  test("a failed probe reopens the breaker for a full cool-down", () => {
    const { clock, breaker, transitions, call } = setup(2, 1000);
    call(false);
    call(false);
    clock.advance(1500);
    assert.equal(breaker.tryAcquire(), true);
    breaker.record(false);
    assert.equal(breaker.state(), "open");
    clock.advance(999);
    assert.equal(breaker.tryAcquire(), false, "the cool-down restarts at the failed probe");
    clock.advance(1);
    assert.equal(breaker.tryAcquire(), true, "a new probe after the second cool-down");
    breaker.record(true);
    assert.equal(breaker.state(), "closed");
    assert.deepEqual(transitions, [
      ["closed", "open"],
      ["open", "half_open"],
      ["half_open", "open"],
      ["open", "half_open"],
      ["half_open", "closed"],
    ]);
  });

  test("onTransition is called once per transition, however often the state is read", () => {
    const { clock, breaker, transitions, call } = setup(1, 100);
    call(false);
    for (let i = 0; i < 5; i++) breaker.state();
    clock.advance(100);
    for (let i = 0; i < 5; i++) breaker.state();
    assert.equal(breaker.tryAcquire(), true);
    for (let i = 0; i < 5; i++) breaker.tryAcquire();
    breaker.record(true);
    for (let i = 0; i < 5; i++) call(true);
    assert.deepEqual(transitions, [["closed", "open"], ["open", "half_open"], ["half_open", "closed"]]);
  });
});
