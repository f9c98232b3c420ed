/**
 * The rebalancer's bookkeeping between a rebalance and the sync after it, with a real store and
 * a scripted peer (the cluster tests run the same code over real links).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createPlacement } from "../../src/cluster/cluster_state.ts";
import type { Op } from "../../src/cluster/frames.ts";
import type { PeerLinks } from "../../src/cluster/peer_links.ts";
import { createRebalancer } from "../../src/cluster/rebalancer.ts";
import { createRing } from "../../src/cluster/ring.ts";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { PeerUnavailable } from "../../src/core/errors.ts";
import { createStore } from "../../src/core/store.ts";

const silent = { info() {}, warn() {} };
const text = (value: string) => ({ value: new TextEncoder().encode(value), contentType: "text/plain", tags: [], ttlMs: 0 });

/**
 * node-a holding keys with two replicas, node-r joining: every key gains node-r as an owner and
 * stays on node-a. The scripted peer wants every offered key and records what it received and
 * every operation; `bumpSerial` stands for node-r's link being replaced.
 */
function setup() {
  let failApplies = 0;
  const store = createStore({ maxBytes: 1 << 22, eviction: "lru" }, { now: Date.now, random: () => 0.5, clock: createHybridClock({ nodeId: "node-a", now: Date.now }) });
  const placement = createPlacement("node-a", 2);
  const received: string[] = [];
  const ops: string[] = [];
  let serial = 1;
  const links = {
    async request(_node: string, op: Op) {
      ops.push(op.op);
      if (op.op === "offer") return { want: op.keys.map((_, index) => index) };
      if (op.op === "apply") {
        if (failApplies-- > 0) throw new PeerUnavailable("timed out", { attempted: true });
        received.push(...op.entries.map((entry) => entry.k));
        return { applied: op.entries.length };
      }
      return true;
    },
    isUp: () => true,
    serial: () => serial,
  } as unknown as PeerLinks;
  const rebalancer = createRebalancer({ placement, store, links, log: silent, retryBaseMs: 1 });
  for (let i = 0; i < 20; i++) store.put(`k${i}`, text("v"));
  /** node-r joins: its link comes up (a sync is queued), then the rebalance runs. */
  async function join() {
    rebalancer.expectSync("node-r");
    const previous = placement.update(["node-a", "node-r"]);
    await rebalancer.rebalance(previous, "rebalance");
  }
  return { store, rebalancer, received, ops, join, bumpSerial: () => serial++, failNextApplies: (count: number) => (failApplies = count) };
}

describe("rebalancer: the sync after a rebalance", () => {
  test("skips what the rebalance just delivered to the node whose sync is queued", async () => {
    const h = setup();
    await h.join();
    assert.equal(h.received.length, 20, "the rebalance sent every key once");
    h.ops.length = 0;
    await h.rebalancer.syncTo("node-r", "sync");
    assert.deepEqual(h.ops, ["synced"], "nothing left to offer; the sync ends with synced");
  });

  test("forgets the deliveries when the node's link goes down: after a restart the sync offers them again", async () => {
    const h = setup();
    await h.join();
    h.rebalancer.forget("node-r");
    h.ops.length = 0;
    h.received.length = 0;
    await h.rebalancer.syncTo("node-r", "sync");
    assert.ok(h.ops.includes("offer"), `offered again: ${h.ops}`);
    assert.equal(h.received.length, 20, "and sent again to the restarted node");
  });

  test("a rebalance records deliveries only for nodes whose sync is queued", async () => {
    const h = setup();
    await h.join();
    await h.rebalancer.syncTo("node-r", "sync");
    // A second rebalance to node-r without a link-up (no sync queued) records nothing for later.
    h.store.put("k0", text("newer"));
    h.ops.length = 0;
    // As if node-r had been re-placed (declared down and back) without its link going down.
    await h.rebalancer.rebalance(createRing(["node-a"]), "again");
    h.ops.length = 0;
    await h.rebalancer.syncTo("node-r", "late sync");
    assert.ok(h.ops.includes("offer"), "a later sync offers what it holds");
  });

  test("a sync whose batches failed runs a second pass (offering again), then claims synced", async () => {
    const h = setup();
    await h.join();
    h.rebalancer.forget("node-r");
    h.received.length = 0;
    h.ops.length = 0;
    // Three failed tries exhaust the batch's attempts in the first pass; the second pass delivers.
    h.failNextApplies(3);
    const result = await h.rebalancer.syncTo("node-r", "sync");
    assert.equal(result.failed, 0);
    assert.equal(h.received.length, 20, "every key delivered once");
    assert.equal(h.ops.filter((op) => op === "offer").length, 2, "offered again in a second pass");
    assert.equal(h.ops.at(-1), "synced");
  });

  test("does not claim synced when the link changed during the sync (the new link's sync will)", async () => {
    const h = setup();
    await h.join();
    h.rebalancer.forget("node-r");
    h.ops.length = 0;
    const sync = h.rebalancer.syncTo("node-r", "sync");
    h.bumpSerial();
    await sync;
    assert.ok(h.ops.includes("offer"));
    assert.equal(h.ops.includes("synced"), false);
  });
});
