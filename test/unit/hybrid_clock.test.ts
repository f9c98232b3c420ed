import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { compareVersions, nodeHash, type Version } from "../../src/core/version.ts";
import { createFakeClock, T0 } from "./fakes.ts";

function assertIncreasing(versions: Version[]): void {
  for (let i = 1; i < versions.length; i++) {
    assert.ok(compareVersions(versions[i], versions[i - 1]) > 0, `version ${i} is not newer: ${JSON.stringify(versions.slice(i - 1, i + 1))}`);
  }
}

describe("hybrid clock", () => {
  test("hybridClock.tick() follows the wall clock when it moves forward", () => {
    const wall = createFakeClock();
    const clock = createHybridClock({ nodeId: "n1", now: wall.now });
    const first = clock.tick();
    wall.advance(5);
    const second = clock.tick();
    assert.equal(first.hlc, T0 * 1024);
    assert.equal(second.hlc, (T0 + 5) * 1024);
    assert.equal(first.node, nodeHash("n1"));
  });

  test("hybridClock.tick() stays strictly monotonic when the wall clock stands still", () => {
    const wall = createFakeClock();
    const clock = createHybridClock({ nodeId: "n1", now: wall.now });
    const versions = Array.from({ length: 3_000 }, () => clock.tick());
    assertIncreasing(versions);
    wall.advance(1);
    const next = clock.tick();
    assert.ok(compareVersions(next, versions[versions.length - 1]) > 0, "even after borrowing past the next millisecond");
  });

  test("hybridClock.tick() stays strictly monotonic when the wall clock goes backwards", () => {
    const wall = createFakeClock();
    const clock = createHybridClock({ nodeId: "n1", now: wall.now });
    const versions = [clock.tick(), clock.tick()];
    wall.advance(-3_600_000);
    versions.push(clock.tick(), clock.tick());
    wall.advance(3_600_000 + 10);
    versions.push(clock.tick());
    assertIncreasing(versions);
  });

  test("hybridClock.tick() ignores sub-millisecond wall clock noise", () => {
    let now = T0 + 0.9;
    const clock = createHybridClock({ nodeId: "n1", now: () => now });
    const first = clock.tick();
    now = T0 + 0.1;
    assertIncreasing([first, clock.tick()]);
    assert.ok(Number.isInteger(first.hlc));
  });

  test("hybridClock.observe() of a remote version from the future makes the next tick newer than it", () => {
    const wall = createFakeClock();
    const local = createHybridClock({ nodeId: "local", now: wall.now });
    const remote = createHybridClock({ nodeId: "remote", now: () => T0 + 60_000 });
    local.tick();
    const theirs = remote.tick();
    local.observe(theirs);
    const ours = local.tick();
    assert.ok(compareVersions(ours, theirs) > 0);
    assert.ok(ours.hlc > theirs.hlc, "newer by clock, not merely by node id tie-break");
  });

  test("hybridClock.observe() of an equal remote clock still makes the next tick newer", () => {
    const wall = createFakeClock();
    const local = createHybridClock({ nodeId: "zzz", now: wall.now });
    const current = local.tick();
    const remote: Version = { hlc: current.hlc, node: 0xffffffff };
    local.observe(remote);
    assert.ok(compareVersions(local.tick(), remote) > 0);
  });

  test("hybridClock.observe() of an older remote version does not move the clock back", () => {
    const wall = createFakeClock();
    const clock = createHybridClock({ nodeId: "n1", now: wall.now });
    const before = clock.tick();
    clock.observe({ hlc: 1, node: 1 });
    assertIncreasing([before, clock.tick()]);
  });
});
