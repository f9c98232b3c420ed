/**
 * The routing and coordinating side of catching up, with two real stores and real replica
 * handlers; only the network between them is a function call (the peer-link tests cover the wire).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createCatchUp } from "../../src/cluster/catch_up.ts";
import { createClusterKv, createCoordinator } from "../../src/cluster/cluster_kv.ts";
import { createChangeCapture, createPlacement } from "../../src/cluster/cluster_state.ts";
import type { Op } from "../../src/cluster/frames.ts";
import { remoteError } from "../../src/cluster/link.ts";
import type { PeerLinks } from "../../src/cluster/peer_links.ts";
import { createReplicaHandler } from "../../src/cluster/replica_handler.ts";
import { EdgecacheError, PeerUnavailable } from "../../src/core/errors.ts";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { createStore, type Store } from "../../src/core/store.ts";
import { formatEtag } from "../../src/core/version.ts";
import { createLocalKv, type KvService } from "../../src/kv/kv_service.ts";
import type { ReadOutcome } from "../../src/origin/read_through.ts";
import { codeOfAsync, createFakeClock } from "./fakes.ts";

const text = (value: string) => ({ value: new TextEncoder().encode(value), contentType: "text/plain", tags: [], ttlMs: 0 });
const decode = (outcome: ReadOutcome) => ("entry" in outcome ? new TextDecoder().decode(outcome.entry.value) : outcome.kind);

/** A key whose owners on the ring of node-a and node-b are in the order given. */
function keyOwnedBy(first: string): string {
  const placement = createPlacement("node-a", 2);
  placement.update(["node-a", "node-b"]);
  for (let i = 0; ; i++) if (placement.owners(`k${i}`)[0] === first) return `k${i}`;
}

interface Side {
  store: Store;
  kv: KvService;
  handle: (from: string, op: Op, rid: string) => Promise<unknown>;
  /** Origin loads this side made. */
  originLoads: string[];
  /** Operations this side sent to the other, by kind. */
  sent: string[];
}

/**
 * node-a and node-b, both owners of every key (RF=2). node-a's catch-up is driven by the test;
 * node-b has caught up. Each has an "origin" that answers `origin <key>`, counting its loads.
 */
function pair(options: { bStartingUp?: boolean } = {}) {
  const clock = createFakeClock();
  const catchUpA = createCatchUp({ self: "node-a", now: clock.now, startupCapMs: 60_000, syncCapMs: 60_000 });
  const catchUpB = createCatchUp({ self: "node-b", now: clock.now, startupCapMs: 60_000, syncCapMs: 60_000 });
  catchUpA.begin();
  catchUpB.begin();
  catchUpA.reported("node-b", "node-b", "alive");
  catchUpB.reported("node-a", "node-a", "alive");
  if (!options.bStartingUp) {
    catchUpB.linked("node-a");
    catchUpB.synced("node-a");
  }
  const sides = new Map<string, Side>();
  function side(self: string, other: string, catchUp: ReturnType<typeof createCatchUp>): Side {
    const store = createStore({ maxBytes: 1 << 20, eviction: "lru" }, { now: clock.now, random: () => 0.5, clock: createHybridClock({ nodeId: self, now: clock.now }) });
    const placement = createPlacement(self, 2);
    placement.update(["node-a", "node-b"]);
    const originLoads: string[] = [];
    const sent: string[] = [];
    const local: KvService = {
      ...createLocalKv(store, undefined),
      async read(key) {
        const entry = store.get(key);
        if (entry !== undefined) return { kind: "hit", entry };
        originLoads.push(key);
        const { entry: stored } = store.put(key, text(`origin ${key}`));
        return { kind: "fetched", entry: stored, stored: true, collapsed: false };
      },
    };
    const links = {
      async request(node: string, op: Op, rid: string) {
        sent.push(op.op);
        const peer = sides.get(node) as Side;
        try {
          return await peer.handle(self, op, rid);
        } catch (error) {
          // As the wire would: the peer's error comes back by its code.
          throw error instanceof EdgecacheError ? remoteError(error.code, error.message) : error;
        }
      },
      isUp: () => true,
    } as unknown as PeerLinks;
    const deps = { placement, store, local, links, capture: createChangeCapture(), catchUp, readTimeoutMs: 1000, peekTimeoutMs: 500 };
    const coordinator = createCoordinator(deps);
    const handle = createReplicaHandler({ self, store, local, coordinator, now: clock.now, onSynced: (from) => catchUp.synced(from) });
    const made: Side = { store, kv: createClusterKv(deps, coordinator), handle, originLoads, sent };
    sides.set(self, made);
    return made;
  }
  const a = side("node-a", "node-b", catchUpA);
  const b = side("node-b", "node-a", catchUpB);
  return { a, b, catchUpA, catchUpB, clock };
}

describe("reads while a node catches up", () => {
  test("a restarted owner serves a write only the other owner holds, and keeps it, without an origin load", async () => {
    const { a, b, catchUpA } = pair();
    catchUpA.linked("node-b");
    const key = keyOwnedBy("node-a");
    b.store.put(key, text("acknowledged"));
    const outcome = await a.kv.read(key, "r1");
    assert.equal(decode(outcome), "acknowledged");
    assert.deepEqual(a.originLoads, [], "no origin load while the other owner has the key");
    assert.equal(new TextDecoder().decode(a.store.peek(key)?.value), "acknowledged", "repaired here");
    assert.deepEqual(b.originLoads, []);
  });

  test("an older copy here loses to the other owner's newer one, and to its newer delete", async () => {
    const { a, b, catchUpA, clock } = pair();
    const [updated, deleted] = [keyOwnedBy("node-a"), keyOwnedBy("node-b")];
    a.store.put(updated, text("old"));
    a.store.put(deleted, text("old"));
    clock.advance(10);
    b.store.put(updated, text("new"));
    b.store.put(deleted, text("x"));
    b.store.delete(deleted);
    catchUpA.linked("node-b");
    catchUpA.synced("node-b"); // start-up over; the next link-up is awaited again
    catchUpA.linked("node-b");
    assert.equal(catchUpA.startingUp(), false);
    assert.equal(decode(await a.kv.read(updated, "r")), "new");
    // No copy left anywhere, after start-up: the miss is authoritative and goes to the origin.
    assert.equal(decode(await a.kv.read(deleted, "r")), `origin ${deleted}`);
    assert.equal(a.store.deletedAt(deleted), undefined, "the origin value is newer than the delete");
  });

  test("during start-up a miss here is no answer: the other owner answers, from its origin if it must", async () => {
    const { a, b, catchUpA } = pair();
    catchUpA.linked("node-b");
    const key = keyOwnedBy("node-a");
    assert.equal(decode(await a.kv.read(key, "r")), `origin ${key}`);
    assert.deepEqual(a.originLoads, [], "the node starting up loads nothing from its origin");
    assert.deepEqual(b.originLoads, [key], "the caught-up owner loads it");
  });

  test("when every owner is starting up, the read fails with peer_unavailable and nothing is loaded", async () => {
    const { a, b, catchUpA } = pair({ bStartingUp: true });
    catchUpA.linked("node-b");
    const key = keyOwnedBy("node-b");
    assert.equal(await codeOfAsync(() => a.kv.read(key, "r")), "peer_unavailable");
    assert.deepEqual([...a.originLoads, ...b.originLoads], []);
  });

  test("once caught up, a local hit asks nobody", async () => {
    const { a, catchUpA } = pair();
    catchUpA.linked("node-b");
    catchUpA.synced("node-b");
    const key = keyOwnedBy("node-a");
    a.store.put(key, text("here"));
    assert.equal(decode(await a.kv.read(key, "r")), "here");
    assert.deepEqual(a.sent, []);
  });
});

describe("conditional writes while a node catches up", () => {
  test("If-Match is decided against the other owner's newer copy, not the stale one here", async () => {
    const { a, b, catchUpA, clock } = pair();
    const key = keyOwnedBy("node-a");
    const { entry: stale } = a.store.put(key, text("v1"));
    clock.advance(10);
    b.store.put(key, text("v2"));
    catchUpA.linked("node-b");
    assert.equal(
      await codeOfAsync(() => a.kv.write(key, text("v3"), { ifMatch: [formatEtag(stale.version)] }, "w")),
      "precondition_failed",
    );
    assert.equal(new TextDecoder().decode(a.store.peek(key)?.value), "v2");
  });
});

describe("peer errors on the wire", () => {
  test("a peer's peer_unavailable comes back as attempted and answered", () => {
    const error = remoteError("peer_unavailable", "busy");
    assert.ok(error instanceof PeerUnavailable);
    assert.equal(error.attempted, true);
    assert.equal(error.answered, true);
    assert.equal(remoteError("precondition_failed", "no") instanceof PeerUnavailable, false);
  });
});
