import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createCatchUp } from "../../src/cluster/catch_up.ts";
import { createFakeClock } from "./fakes.ts";

function setup(caps = { startupCapMs: 10_000, syncCapMs: 5_000 }) {
  const clock = createFakeClock();
  const ends: boolean[] = [];
  const catchUp = createCatchUp({ self: "node-a", now: clock.now, ...caps, onStartupEnd: (complete) => ends.push(complete) });
  return { clock, catchUp, ends };
}

describe("catch-up after start", () => {
  test("a node that has heard from nobody is starting up until the cap", () => {
    const { clock, catchUp, ends } = setup();
    assert.equal(catchUp.startingUp(), true);
    assert.equal(catchUp.active(), true);
    clock.advance(9_999);
    assert.equal(catchUp.startingUp(), true);
    clock.advance(1);
    assert.equal(catchUp.startingUp(), false);
    assert.equal(catchUp.active(), false);
    assert.deepEqual(ends, [false], "start-up ended by the cap, incomplete");
  });

  test("start-up ends once every linked peer and every peer reported alive has synced", () => {
    const { catchUp, ends } = setup();
    catchUp.linked("node-b");
    catchUp.reported("node-c", "alive");
    catchUp.reported("node-a", "alive"); // itself: ignored
    assert.deepEqual(catchUp.awaiting(), ["node-b", "node-c"]);
    catchUp.synced("node-b");
    assert.equal(catchUp.startingUp(), true, "node-c, reported alive, has not synced");
    assert.deepEqual(catchUp.awaiting(), ["node-c"]);
    catchUp.linked("node-c");
    catchUp.synced("node-c");
    assert.equal(catchUp.startingUp(), false);
    assert.deepEqual(ends, [true]);
    assert.equal(catchUp.active(), false);
  });

  test("a peer reported down or left is not waited for", () => {
    const { catchUp } = setup();
    catchUp.linked("node-b");
    catchUp.reported("node-c", "alive");
    catchUp.reported("node-c", "down");
    catchUp.reported("node-d", "left");
    catchUp.synced("node-b");
    assert.equal(catchUp.startingUp(), false);
  });

  test("start-up, once over, does not come back", () => {
    const { catchUp, ends } = setup();
    catchUp.linked("node-b");
    catchUp.synced("node-b");
    assert.equal(catchUp.startingUp(), false);
    catchUp.reported("node-c", "alive");
    assert.equal(catchUp.startingUp(), false);
    assert.deepEqual(ends, [true]);
  });
});

describe("catch-up after a link comes back", () => {
  test("each link that comes up is awaited until its sync, or its link goes down", () => {
    const { catchUp } = setup();
    catchUp.linked("node-b");
    catchUp.synced("node-b");
    assert.equal(catchUp.active(), false);
    catchUp.linked("node-b");
    assert.equal(catchUp.active(), true);
    assert.equal(catchUp.startingUp(), false, "only start-up makes a miss non-authoritative");
    assert.deepEqual(catchUp.awaiting(), ["node-b"]);
    catchUp.synced("node-b");
    assert.equal(catchUp.active(), false);
    catchUp.linked("node-c");
    catchUp.unlinked("node-c");
    assert.equal(catchUp.active(), false);
  });

  test("a sync that never arrives stops being awaited after the cap", () => {
    const { clock, catchUp } = setup();
    catchUp.linked("node-b");
    catchUp.synced("node-b");
    catchUp.linked("node-b");
    clock.advance(4_999);
    assert.equal(catchUp.active(), true);
    clock.advance(1);
    assert.equal(catchUp.active(), false);
    assert.deepEqual(catchUp.awaiting(), []);
  });
});
