import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { planHandoff } from "../../src/cluster/handoff_plan.ts";

const placed = (...nodes: string[]) => new Set(nodes);

describe("planHandoff: who sends a key whose owners changed", () => {
  test("on a join, the former owner that loses the key sends it to the newcomer and lets it go; the one that stays sends nothing", () => {
    // [a, b] -> [c, a]: b is no longer an owner, c is new.
    const ring = placed("node-a", "node-b", "node-c");
    assert.deepEqual(planHandoff("node-b", ["node-a", "node-b"], ["node-c", "node-a"], ring), { targets: ["node-c"], release: true });
    assert.deepEqual(planHandoff("node-a", ["node-a", "node-b"], ["node-c", "node-a"], ring), { targets: [], release: false });
    assert.deepEqual(planHandoff("node-c", ["node-a", "node-b"], ["node-c", "node-a"], ring), { targets: [], release: false }, "the newcomer receives");
  });

  test("when the former owner is down, the former owner that stays sends it", () => {
    // [a, b] -> [a, c] with b declared down (no longer placed).
    const ring = placed("node-a", "node-c");
    assert.deepEqual(planHandoff("node-a", ["node-a", "node-b"], ["node-a", "node-c"], ring), { targets: ["node-c"], release: false });
  });

  test("with three replicas and an owner down, every former owner that stays sends (no sync follows to repair a miss)", () => {
    const ring = placed("node-a", "node-c", "node-d");
    const before = ["node-a", "node-b", "node-c"];
    const after = ["node-a", "node-c", "node-d"];
    assert.deepEqual(planHandoff("node-a", before, after, ring).targets, ["node-d"]);
    assert.deepEqual(planHandoff("node-c", before, after, ring).targets, ["node-d"]);
  });

  test("with three replicas and a join, only the former owner that loses the key sends", () => {
    const ring = placed("node-a", "node-b", "node-c", "node-d");
    const before = ["node-a", "node-b", "node-c"];
    const after = ["node-d", "node-a", "node-b"];
    assert.deepEqual(planHandoff("node-c", before, after, ring), { targets: ["node-d"], release: true });
    assert.deepEqual(planHandoff("node-a", before, after, ring).targets, []);
    assert.deepEqual(planHandoff("node-b", before, after, ring).targets, []);
  });

  test("a stand-in's copy goes to every owner, and is let go", () => {
    const ring = placed("node-a", "node-b", "node-s");
    assert.deepEqual(planHandoff("node-s", ["node-a", "node-s"], ["node-a", "node-b"], ring), { targets: ["node-b"], release: true });
    assert.deepEqual(planHandoff("node-s", ["node-a", "node-b"], ["node-b", "node-a"], ring), { targets: ["node-b", "node-a"], release: true });
  });

  test("owners reordered, none new: nothing moves", () => {
    const ring = placed("node-a", "node-b");
    assert.deepEqual(planHandoff("node-a", ["node-a", "node-b"], ["node-b", "node-a"], ring), { targets: [], release: false });
  });
});
