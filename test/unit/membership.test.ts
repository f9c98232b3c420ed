import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createMembership, type Member, type MemberState } from "../../src/cluster/membership.ts";
import { createFakeClock } from "./fakes.ts";

const SUSPECT = 1000;
const DOWN = 3000;

function setup() {
  const clock = createFakeClock();
  const placements: string[][] = [];
  const transitions: Array<{ id: string; from: MemberState | "unknown"; to: MemberState }> = [];
  const membership = createMembership({
    self: { id: "node-a", peer: "a:7070", http: "a:8080" },
    suspectAfterMs: SUSPECT,
    downAfterMs: DOWN,
    now: clock.now,
    onPlacementChange: (placed) => placements.push(placed),
    onStateChange: (member: Member, from) => transitions.push({ id: member.id, from, to: member.state }),
  });
  const state = (id: string) => membership.get(id)?.state;
  return { clock, membership, placements, transitions, state };
}

describe("membership", () => {
  test("a new view holds only this node, alive and placed", () => {
    const { membership, placements } = setup();
    assert.deepEqual(membership.placed(), ["node-a"]);
    assert.deepEqual(membership.members().map((member) => [member.id, member.state]), [["node-a", "alive"]]);
    assert.deepEqual(placements, [], "creating the view is not a change");
  });

  test("heard() adds an unknown member as alive and places it", () => {
    const { membership, placements, transitions, state } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    assert.equal(state("node-b"), "alive");
    assert.deepEqual(membership.placed(), ["node-a", "node-b"]);
    assert.deepEqual(placements, [["node-a", "node-b"]]);
    assert.deepEqual(transitions, [{ id: "node-b", from: "unknown", to: "alive" }]);
  });

  test("silence makes a member suspect after suspectAfterMs, then down after downAfterMs", () => {
    const { clock, membership, state } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    clock.advance(SUSPECT - 1);
    membership.tick();
    assert.equal(state("node-b"), "alive");
    clock.advance(1);
    membership.tick();
    assert.equal(state("node-b"), "suspect");
    clock.advance(DOWN - SUSPECT - 1);
    membership.tick();
    assert.equal(state("node-b"), "suspect");
    clock.advance(1);
    membership.tick();
    assert.equal(state("node-b"), "down");
    clock.advance(60_000);
    membership.tick();
    assert.equal(state("node-b"), "down", "down stays down until heard");
  });

  test("a suspect member is still placed; a down one is not", () => {
    const { clock, membership, placements } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    membership.heard("node-c", "c:7070", "c:8080");
    placements.length = 0;
    clock.advance(SUSPECT);
    membership.tick();
    assert.deepEqual(membership.placed(), ["node-a", "node-b", "node-c"]);
    assert.deepEqual(placements, [], "alive -> suspect does not change placement");
    clock.advance(DOWN - SUSPECT);
    membership.tick();
    assert.deepEqual(membership.placed(), ["node-a"]);
    // Each member going down is its own change; every report differs from the one before.
    assert.deepEqual(placements.at(-1), ["node-a"]);
    assert.ok(placements.length >= 1 && placements.length <= 2, `${placements.length} changes`);
    for (let i = 1; i < placements.length; i++) assert.notDeepEqual(placements[i], placements[i - 1]);
  });

  test("a member silent past downAfterMs at the first tick goes straight to down", () => {
    const { clock, membership, transitions, state } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    clock.advance(DOWN + 5);
    membership.tick();
    assert.equal(state("node-b"), "down");
    assert.deepEqual(transitions.slice(1), [{ id: "node-b", from: "alive", to: "down" }]);
  });

  test("heard() keeps a member alive and revives a suspect or down one", () => {
    const { clock, membership, placements, state } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    for (let i = 0; i < 10; i++) {
      clock.advance(SUSPECT - 1);
      membership.heard("node-b", "b:7070", "b:8080");
      membership.tick();
      assert.equal(state("node-b"), "alive", "a member heard often enough never becomes suspect");
    }
    clock.advance(SUSPECT);
    membership.tick();
    assert.equal(state("node-b"), "suspect");
    placements.length = 0;
    membership.heard("node-b", "b:7070", "b:8080");
    assert.equal(state("node-b"), "alive");
    assert.deepEqual(placements, [], "suspect -> alive does not change placement");
    clock.advance(DOWN);
    membership.tick();
    assert.equal(state("node-b"), "down");
    membership.heard("node-b", "b:7070", "b:8080");
    assert.equal(state("node-b"), "alive");
    assert.deepEqual(placements, [["node-a"], ["node-a", "node-b"]], "down -> alive places it again");
    membership.tick();
    assert.equal(state("node-b"), "alive", "revived with a fresh lastSeen");
  });

  test("heard() records the member's latest addresses and when it was heard", () => {
    const { clock, membership } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    clock.advance(500);
    membership.heard("node-b", "b2:7071", "b2:8081");
    const member = membership.members().find((m) => m.id === "node-b");
    assert.deepEqual(member, { id: "node-b", peer: "b2:7071", http: "b2:8081", state: "alive", lastSeen: clock.now() });
  });

  test("heard() about this node itself changes nothing", () => {
    const { membership, placements, transitions } = setup();
    membership.heard("node-a", "elsewhere:1", "elsewhere:2");
    assert.deepEqual(membership.members().map((m) => [m.id, m.peer]), [["node-a", "a:7070"]]);
    assert.deepEqual(placements, []);
    assert.deepEqual(transitions, []);
  });

  test("learn() adds gossiped members as down, unplaced, until this node hears from them", () => {
    const { membership, placements, transitions, state } = setup();
    membership.learn([
      { id: "node-b", peer: "b:7070", http: "b:8080", state: "alive" },
      { id: "node-c", peer: "c:7070", http: "c:8080", state: "suspect" },
    ]);
    assert.equal(state("node-b"), "down");
    assert.equal(state("node-c"), "down");
    assert.deepEqual(membership.placed(), ["node-a"]);
    assert.deepEqual(placements, [], "learning is not a placement change");
    assert.deepEqual(transitions, [{ id: "node-b", from: "unknown", to: "down" }, { id: "node-c", from: "unknown", to: "down" }]);
    // Known, so it can be dialled: its address is in the view.
    assert.equal(membership.get("node-b")?.peer, "b:7070");
    membership.heard("node-b", "b:7070", "b:8080");
    assert.equal(state("node-b"), "alive");
    assert.deepEqual(placements, [["node-a", "node-b"]]);
  });

  test("learn() never overrides what this node knows, nor adds this node", () => {
    const { membership, state } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    membership.learn([
      { id: "node-b", peer: "evil:1", http: "evil:2", state: "down" },
      { id: "node-a", peer: "evil:1", http: "evil:2", state: "down" },
    ]);
    assert.equal(state("node-b"), "alive");
    assert.equal(membership.get("node-b")?.peer, "b:7070");
    assert.equal(state("node-a"), "alive");
    assert.equal(membership.get("node-a")?.peer, "a:7070");
    assert.equal(membership.members().length, 2);
  });

  test("left() marks a member as left and unplaces it; silence does not change a left member", () => {
    const { clock, membership, placements, state } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    membership.heard("node-c", "c:7070", "c:8080");
    placements.length = 0;
    membership.left("node-b");
    assert.equal(state("node-b"), "left");
    assert.deepEqual(membership.placed(), ["node-a", "node-c"]);
    assert.deepEqual(placements, [["node-a", "node-c"]]);
    clock.advance(DOWN * 10);
    membership.heard("node-c", "c:7070", "c:8080");
    membership.tick();
    assert.equal(state("node-b"), "left");
    assert.deepEqual(placements, [["node-a", "node-c"]]);
  });

  test("left() of this node or an unknown one changes nothing", () => {
    const { membership, placements } = setup();
    membership.left("node-a");
    membership.left("node-z");
    assert.deepEqual(membership.members().map((m) => [m.id, m.state]), [["node-a", "alive"]]);
    assert.deepEqual(placements, []);
  });

  test("a member that left and comes back is alive and placed again", () => {
    const { membership, placements, state } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    membership.left("node-b");
    membership.heard("node-b", "b:7070", "b:8080");
    assert.equal(state("node-b"), "alive");
    assert.deepEqual(placements, [["node-a", "node-b"], ["node-a"], ["node-a", "node-b"]]);
  });

  test("onPlacementChange fires only when the placed set changes, with the sorted set", () => {
    const { clock, membership, placements } = setup();
    membership.heard("node-c", "c:7070", "c:8080");
    membership.heard("node-b", "b:7070", "b:8080");
    membership.heard("node-b", "b:7070", "b:8080");
    membership.learn([{ id: "node-d", peer: "d:7070", http: "d:8080", state: "alive" }]);
    clock.advance(SUSPECT);
    membership.tick();
    membership.tick();
    membership.heard("node-b", "b:7070", "b:8080");
    membership.heard("node-c", "c:7070", "c:8080");
    assert.deepEqual(placements, [["node-a", "node-c"], ["node-a", "node-b", "node-c"]]);
    for (const placed of placements) assert.deepEqual(placed, [...placed].sort());
  });

  test("placed() is sorted and excludes down and left members", () => {
    const { clock, membership } = setup();
    membership.heard("node-z", "z:1", "z:2");
    membership.heard("node-m", "m:1", "m:2");
    membership.heard("node-b", "b:1", "b:2");
    assert.deepEqual(membership.placed(), ["node-a", "node-b", "node-m", "node-z"]);
    membership.left("node-m");
    clock.advance(DOWN);
    membership.heard("node-b", "b:1", "b:2");
    membership.tick();
    assert.deepEqual(membership.placed(), ["node-a", "node-b"]);
  });

  test("gossip() lists every member, this node included, with id, addresses and state only", () => {
    const { clock, membership } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    membership.learn([{ id: "node-c", peer: "c:7070", http: "c:8080", state: "alive" }]);
    membership.heard("node-d", "d:7070", "d:8080");
    membership.left("node-d");
    clock.advance(SUSPECT);
    membership.heard("node-b", "b:7070", "b:8080");
    const byId = new Map(membership.gossip().map((info) => [info.id, info]));
    assert.deepEqual(byId.get("node-a"), { id: "node-a", peer: "a:7070", http: "a:8080", state: "alive" });
    assert.deepEqual(byId.get("node-b"), { id: "node-b", peer: "b:7070", http: "b:8080", state: "alive" });
    assert.deepEqual(byId.get("node-c"), { id: "node-c", peer: "c:7070", http: "c:8080", state: "down" });
    assert.deepEqual(byId.get("node-d"), { id: "node-d", peer: "d:7070", http: "d:8080", state: "left" });
    assert.equal(byId.size, 4);
  });

  test("gossip() from one view teaches another the whole member list", () => {
    const first = setup();
    first.membership.heard("node-b", "b:7070", "b:8080");
    first.membership.heard("node-c", "c:7070", "c:8080");
    const clock = createFakeClock();
    const second = createMembership({
      self: { id: "node-c", peer: "c:7070", http: "c:8080" },
      suspectAfterMs: SUSPECT,
      downAfterMs: DOWN,
      now: clock.now,
    });
    second.learn(first.membership.gossip());
    assert.deepEqual(second.members().map((m) => m.id).sort(), ["node-a", "node-b", "node-c"]);
  });

  test("members() returns copies, with this node's lastSeen always current", () => {
    const { clock, membership } = setup();
    membership.heard("node-b", "b:7070", "b:8080");
    const copy = membership.members().find((m) => m.id === "node-b") as Member;
    copy.state = "down";
    assert.equal(membership.get("node-b")?.state, "alive");
    clock.advance(12_345);
    assert.equal(membership.members().find((m) => m.id === "node-a")?.lastSeen, clock.now());
    membership.tick();
    assert.equal(membership.get("node-a")?.state, "alive", "this node never suspects itself");
  });
});
