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

/** A peer that linked, gossiped `alive` members and synced. */
function heardAndSynced(catchUp: ReturnType<typeof createCatchUp>, peer: string, alive: string[] = []) {
  catchUp.linked(peer);
  for (const node of [peer, ...alive]) catchUp.reported(peer, node, "alive");
  catchUp.synced(peer);
}

describe("catch-up after start", () => {
  test("the start-up clock runs from begin(), not from creation (recovery may come first)", () => {
    const { clock, catchUp, ends } = setup();
    clock.advance(60_000);
    assert.equal(catchUp.startingUp(), true, "still starting: the cap has not begun");
    catchUp.begin();
    clock.advance(9_999);
    assert.equal(catchUp.startingUp(), true);
    clock.advance(1);
    assert.equal(catchUp.startingUp(), false);
    assert.equal(catchUp.active(), false);
    assert.deepEqual(ends, [false], "start-up ended by the cap, incomplete");
  });

  test("start-up ends once every linked peer and every member a peer reports alive has synced", () => {
    const { catchUp, ends } = setup();
    catchUp.begin();
    catchUp.linked("node-b");
    catchUp.reported("node-b", "node-c", "alive");
    catchUp.reported("node-b", "node-a", "alive"); // itself: ignored
    assert.deepEqual(catchUp.awaiting(), ["node-b", "node-c"]);
    catchUp.synced("node-b");
    assert.equal(catchUp.startingUp(), true, "node-c, reported alive, has not synced");
    assert.deepEqual(catchUp.awaiting(), ["node-c"]);
    heardAndSynced(catchUp, "node-c");
    assert.equal(catchUp.startingUp(), false);
    assert.deepEqual(ends, [true]);
    assert.equal(catchUp.active(), false);
  });

  test("a peer that synced before telling who it sees is not enough: its gossip is waited for", () => {
    const { catchUp } = setup();
    catchUp.begin();
    catchUp.linked("node-b");
    catchUp.synced("node-b");
    assert.equal(catchUp.startingUp(), true, "node-b has not gossiped yet");
    catchUp.reported("node-b", "node-c", "alive");
    assert.equal(catchUp.startingUp(), true, "and node-b sees node-c alive");
    heardAndSynced(catchUp, "node-c");
    assert.equal(catchUp.startingUp(), false);
  });

  test("a member is waited for while any peer reports it alive, not only the last to speak", () => {
    const { catchUp } = setup();
    catchUp.begin();
    heardAndSynced(catchUp, "node-b", ["node-d"]);
    heardAndSynced(catchUp, "node-c");
    catchUp.reported("node-c", "node-d", "down");
    assert.equal(catchUp.startingUp(), true, "node-b still sees node-d alive");
    catchUp.reported("node-b", "node-d", "down");
    assert.equal(catchUp.startingUp(), false);
  });

  test("a member reported down or left is not waited for", () => {
    const { catchUp } = setup();
    catchUp.begin();
    catchUp.linked("node-b");
    catchUp.reported("node-b", "node-c", "down");
    catchUp.reported("node-b", "node-d", "left");
    catchUp.synced("node-b");
    assert.equal(catchUp.startingUp(), false);
  });

  test("start-up, once over, does not come back", () => {
    const { catchUp, ends } = setup();
    catchUp.begin();
    heardAndSynced(catchUp, "node-b");
    assert.equal(catchUp.startingUp(), false);
    catchUp.reported("node-b", "node-c", "alive");
    assert.equal(catchUp.startingUp(), false);
    assert.deepEqual(ends, [true]);
  });
});

describe("catch-up after a link comes back", () => {
  test("each link that comes up is awaited until its sync, or its link goes down", () => {
    const { catchUp } = setup();
    catchUp.begin();
    heardAndSynced(catchUp, "node-b");
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
    catchUp.begin();
    heardAndSynced(catchUp, "node-b");
    catchUp.linked("node-b");
    clock.advance(4_999);
    assert.equal(catchUp.active(), true);
    clock.advance(1);
    assert.equal(catchUp.active(), false);
    assert.deepEqual(catchUp.awaiting(), []);
  });
});
