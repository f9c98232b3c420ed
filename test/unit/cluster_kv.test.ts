import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { type ClusterNode, setupCluster } from "../../src/cluster/cluster_setup.ts";
import { createRing } from "../../src/cluster/ring.ts";
import { fromWire, toWire } from "../../src/cluster/wire.ts";
import { loadConfig } from "../../src/config/load_config.ts";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { createStore, type PutInput, type Store, type StoreChange } from "../../src/core/store.ts";
import { formatEtag } from "../../src/core/version.ts";
import { createLocalKv } from "../../src/kv/kv_service.ts";
import { createLogger } from "../../src/obs/logger.ts";
import { createMemoryNetwork, type MemoryNetwork } from "../helpers/chaos_transport.ts";
import { waitFor } from "./cluster_fixtures.ts";
import { codeOfAsync, seededRandom } from "./fakes.ts";

interface KvNode {
  id: string;
  store: Store;
  cluster: ClusterNode;
  registry: Registry;
}

interface ClusterOptions {
  /** EDGECACHE_FAILURE_TIMEOUT; generous, so a loaded machine's stalls are not taken for failures. @default "3s" */
  failureTimeout?: string;
}

const text = (value: string): PutInput => ({ value: new TextEncoder().encode(value), contentType: "text/plain", tags: [], ttlMs: 0 });
const tagged = (value: string, tags: string[]): PutInput => ({ ...text(value), tags });
const decode = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

/** What `view.peers()` reports per peer (typed `unknown[]` for the admin routes). */
interface PeerView {
  node: string;
  up: boolean;
  state: string;
}
const peersOf = (cluster: ClusterNode) => cluster.view.peers() as PeerView[];

/** A memory network and the nodes wired on it the way src/node.ts wires a cluster node. */
function harness(options: ClusterOptions = {}) {
  const network: MemoryNetwork = createMemoryNetwork();
  const nodes = new Map<string, KvNode>();

  async function start(id: string, peers: string[]): Promise<KvNode> {
    const result = loadConfig({
      EDGECACHE_MODE: "cluster",
      EDGECACHE_NODE_ID: id,
      EDGECACHE_CLUSTER_NAME: "unit",
      EDGECACHE_PEER_LISTEN: `${id}:7070`,
      EDGECACHE_PEERS: peers.map((peer) => `${peer}:7070`).join(","),
      EDGECACHE_REPLICAS: "2",
      EDGECACHE_HEARTBEAT_INTERVAL: "50ms",
      EDGECACHE_FAILURE_TIMEOUT: options.failureTimeout ?? "3s",
      EDGECACHE_PEER_TIMEOUT: "2s",
      // The transport is injected, so these are never read.
      EDGECACHE_TLS_CERT: "/dev/null",
      EDGECACHE_TLS_KEY: "/dev/null",
      EDGECACHE_TLS_CA: "/dev/null",
      EDGECACHE_LOG_LEVEL: "silent",
    }, { hostname: id });
    assert.ok(result.ok, `config: ${JSON.stringify(!result.ok && result.problems)}`);
    const config = result.config;
    let observe = (_change: StoreChange): void => {};
    const store = createStore(config.store, {
      now: Date.now,
      random: seededRandom(id.length),
      clock: createHybridClock({ nodeId: id, now: Date.now }),
      onChange: (change) => observe(change),
    });
    const registry = new Registry();
    const cluster = setupCluster(config, {
      store,
      local: createLocalKv(store, undefined),
      transport: network.transport(id),
      registry,
      log: createLogger({
        level: process.env.CLUSTER_KV_LOG ?? "silent",
        nodeId: id,
        destination: process.env.CLUSTER_KV_LOG ? undefined : ({ write: () => true } as never),
      }),
      now: Date.now,
      random: seededRandom(7),
      httpAddress: `${id}:8080`,
    });
    observe = cluster.observe;
    const node = { id, store, cluster, registry };
    nodes.set(id, node);
    await cluster.start();
    return node;
  }

  const node = (id: string) => nodes.get(id) as KvNode;

  /** True when every listed node links to and places every other one. */
  function formed(ids: string[]): boolean {
    return ids.every((id) => {
      const placed = node(id).cluster.view.describe().members as Array<{ id: string; state: string }>;
      const alive = placed.filter((m) => m.state === "alive" || m.state === "self").map((m) => m.id).sort();
      const up = peersOf(node(id).cluster).filter((p) => p.up).map((p) => p.node);
      return ids.every((other) => alive.includes(other) && (other === id || up.includes(other)));
    });
  }

  /**
   * Waits until `ids` form a cluster with one connection per pair, and it stays so for a few
   * heartbeats: both sides dial at start, and a late duplicate replacing a link would fail the
   * requests in flight on it (which the sloppy quorum would then route to a stand-in).
   */
  async function settled(ids: string[]): Promise<void> {
    const pairs = (ids.length * (ids.length - 1)) / 2;
    let stableSince = 0;
    await waitFor(() => {
      if (!formed(ids) || network.openConnections() !== pairs) {
        stableSince = 0;
        return false;
      }
      stableSince ||= Date.now();
      return Date.now() - stableSince >= 200;
    }, `a settled cluster of ${ids.join(", ")}`);
  }

  async function stopAll(): Promise<void> {
    const ids = [...nodes.keys()];
    // Cut everything first so leaving hands nothing off and nothing waits on a timeout.
    for (const a of ids) for (const b of ids) if (a < b) network.partition(a, b);
    for (const n of nodes.values()) await n.cluster.leave("teardown");
  }

  return { network, nodes, start, node, formed, settled, stopAll };
}

async function withCluster(
  ids: string[],
  body: (h: ReturnType<typeof harness>) => Promise<void>,
  options: ClusterOptions = {},
): Promise<void> {
  const h = harness(options);
  try {
    for (const id of ids) await h.start(id, ids.filter((other) => other !== id));
    await h.settled(ids);
    await body(h);
  } finally {
    await h.stopAll();
  }
}

/** Each test forms a cluster over real timers; allow for a loaded machine (bun's default is 5s). */
const SLOW = { timeout: 30_000 };

const ABC = ["node-a", "node-b", "node-c"];
const ring3 = createRing(ABC);
const owners = (key: string, ids = ABC) => createRing(ids).owners(key, 2);
/** The ids whose stores hold `key` (fresh), sorted. */
const holders = (h: ReturnType<typeof harness>, key: string) =>
  [...h.nodes.values()].filter((n) => n.store.peek(key) !== undefined).map((n) => n.id).sort();
/** Entries and deletes the `ids` handed to other nodes (edgecache_rebalance_moved_total), summed. */
async function movedTotal(h: ReturnType<typeof harness>, ids: string[]): Promise<number> {
  let total = 0;
  for (const id of ids) {
    const metric = await h.node(id).registry.getSingleMetric("edgecache_rebalance_moved_total")?.get();
    total += metric?.values[0]?.value ?? 0;
  }
  return total;
}
/** A key whose owners are exactly `[primary, secondary]`. */
function keyOwnedBy(primary: string, secondary: string, ids = ABC): string {
  const ring = createRing(ids);
  for (let i = 0;; i++) if (ring.owners(`key-${i}`, 2).join() === `${primary},${secondary}`) return `key-${i}`;
}

describe("cluster kv: routing and replication", () => {
  test("a write through any node is readable through every node", SLOW, () =>
    withCluster(ABC, async (h) => {
      for (let i = 0; i < 30; i++) {
        const via = ABC[i % 3];
        await h.node(via).cluster.kv.write(`k${i}`, text(`v${i}`), undefined, `w${i}`);
        for (const reader of ABC) {
          const outcome = await h.node(reader).cluster.kv.read(`k${i}`, `r${i}`);
          assert.equal(outcome.kind, "hit", `k${i} written via ${via}, read via ${reader}`);
          assert.equal(decode((outcome as { entry: { value: Uint8Array } }).entry.value), `v${i}`);
        }
      }
      assert.equal((await h.node("node-a").cluster.kv.read("never-written", "r")).kind, "miss");
    }));

  test("a write's copies land on exactly the ring's owners, with one version", SLOW, () =>
    withCluster(ABC, async (h) => {
      for (let i = 0; i < 60; i++) {
        const key = `item/${i}`;
        const { version } = await h.node(ABC[i % 3]).cluster.kv.write(key, text(`v${i}`), undefined, `w${i}`);
        assert.deepEqual(holders(h, key), [...ring3.owners(key, 2)].sort(), `${key} is held by exactly its owners`);
        for (const owner of ring3.owners(key, 2)) assert.deepEqual(h.node(owner).store.peek(key)?.version, version);
      }
    }));

  test("a write is acknowledged only once two copies hold it, even when the second is slow", SLOW, () =>
    withCluster(ABC, async (h) => {
      h.network.delay(40);
      const writes = Array.from({ length: 12 }, async (_, i) => {
        const key = `slow/${i}`;
        await h.node(ABC[i % 3]).cluster.kv.write(key, text("v"), undefined, `w${i}`);
        // Checked the moment the write is acknowledged, not later.
        return [key, holders(h, key)] as const;
      });
      for (const [key, held] of await Promise.all(writes)) {
        assert.ok(held.length >= 2, `${key} acknowledged while held by ${held}`);
        assert.deepEqual(held, [...owners(key)].sort());
      }
      h.network.delay(0);
    }));

  test("the coordinator stamps one version and the write result carries it", SLOW, () =>
    withCluster(ABC, async (h) => {
      const key = keyOwnedBy("node-a", "node-b");
      const first = await h.node("node-c").cluster.kv.write(key, text("one"), undefined, "w1");
      assert.equal(first.created, true);
      const second = await h.node("node-c").cluster.kv.write(key, text("two"), undefined, "w2");
      assert.equal(second.created, false);
      assert.ok(second.version.hlc > first.version.hlc);
      assert.deepEqual(h.node("node-a").store.peek(key)?.version, second.version);
      assert.deepEqual(h.node("node-b").store.peek(key)?.version, second.version);
    }));
});

describe("cluster kv: compare-and-set", () => {
  test(
    "If-Match is decided on the primary: a wrong ETag through a non-owner fails with precondition_failed",
    SLOW,
    () =>
      withCluster(ABC, async (h) => {
        const key = keyOwnedBy("node-a", "node-b");
        const { version } = await h.node("node-c").cluster.kv.write(key, text("one"), undefined, "w1");
        const etag = formatEtag(version);
        const stale = `"${"0".repeat(8)}"`;
        assert.equal(
          await codeOfAsync(() => h.node("node-c").cluster.kv.write(key, text("x"), { ifMatch: [stale] }, "w2")),
          "precondition_failed",
        );
        assert.equal(
          await codeOfAsync(() => h.node("node-b").cluster.kv.write(key, text("x"), { ifMatch: [stale] }, "w3")),
          "precondition_failed",
        );
        assert.equal(
          await codeOfAsync(() => h.node("node-c").cluster.kv.write(key, text("x"), { ifNoneMatch: "*" }, "w4")),
          "precondition_failed",
        );
        assert.equal(
          await codeOfAsync(() => h.node("node-c").cluster.kv.write("absent-key", text("x"), { ifMatch: "*" }, "w5")),
          "precondition_failed",
        );
        for (const id of ABC) {
          assert.equal(decode(h.node(id).store.peek(key)?.value), id === "node-c" ? undefined : "one", `${id} unchanged`);
        }
        const next = await h.node("node-c").cluster.kv.write(key, text("two"), { ifMatch: [etag] }, "w6");
        assert.equal(next.created, false);
        // The old ETag is now stale everywhere.
        assert.equal(
          await codeOfAsync(() => h.node("node-a").cluster.kv.write(key, text("x"), { ifMatch: [etag] }, "w7")),
          "precondition_failed",
        );
        assert.equal(decode(h.node("node-a").store.peek(key)?.value), "two");
        assert.equal(decode(h.node("node-b").store.peek(key)?.value), "two");
      }),
  );

  test("a secondary without a copy does not decide: the primary's copy satisfies If-Match", SLOW, () =>
    withCluster(ABC, async (h) => {
      const key = keyOwnedBy("node-a", "node-b");
      const { version } = await h.node("node-a").cluster.kv.write(key, text("one"), undefined, "w1");
      h.node("node-b").store.discard(key);
      await h.node("node-b").cluster.kv.write(key, text("two"), { ifMatch: [formatEtag(version)] }, "w2");
      assert.equal(decode(h.node("node-a").store.peek(key)?.value), "two");
      assert.equal(decode(h.node("node-b").store.peek(key)?.value), "two");
    }));

  test("a conditional delete through a non-owner is decided on the primary", SLOW, () =>
    withCluster(ABC, async (h) => {
      const key = keyOwnedBy("node-b", "node-c");
      const { version } = await h.node("node-a").cluster.kv.write(key, text("one"), undefined, "w1");
      assert.equal(await codeOfAsync(() => h.node("node-a").cluster.kv.remove(key, { ifMatch: ['"nope"'] }, "d1")), "precondition_failed");
      assert.ok(h.node("node-b").store.peek(key) !== undefined);
      assert.equal(await h.node("node-a").cluster.kv.remove(key, { ifMatch: [formatEtag(version)] }, "d2"), true);
      assert.deepEqual(holders(h, key), []);
    }));
});

describe("cluster kv: deletes", () => {
  test("a delete reaches every owner, and its tombstone stops an older replica write", SLOW, () =>
    withCluster(ABC, async (h) => {
      const key = keyOwnedBy("node-a", "node-c");
      await h.node("node-b").cluster.kv.write(key, text("old"), undefined, "w1");
      const old = h.node("node-a").store.inspect(key);
      assert.ok(old !== undefined);
      assert.equal(await h.node("node-b").cluster.kv.remove(key, undefined, "d1"), true);
      assert.deepEqual(holders(h, key), []);
      for (const owner of ["node-a", "node-c"]) {
        const tombstone = h.node(owner).store.recentDeletes().find(([k]) => k === key);
        assert.ok(tombstone !== undefined, `${owner} remembers the delete`);
        assert.ok(tombstone[1].hlc > old.version.hlc);
        // A replica write of the old version arriving late (as it would off the wire) is refused.
        assert.equal(h.node(owner).store.applyEntry(key, fromWire(toWire(key, old))), false, `${owner} resurrected the key`);
        assert.equal(h.node(owner).store.peek(key), undefined);
      }
      for (const id of ABC) assert.equal((await h.node(id).cluster.kv.read(key, "r")).kind, "miss");
      assert.equal(await h.node("node-b").cluster.kv.remove(key, undefined, "d2"), false, "deleting again removes nothing");
    }));
});

describe("cluster kv: invalidation and flush", () => {
  test("invalidate by prefix is cluster-wide and counts each key once", SLOW, () =>
    withCluster(ABC, async (h) => {
      for (let i = 0; i < 30; i++) await h.node(ABC[i % 3]).cluster.kv.write(`p/${i}`, text("v"), undefined, `w${i}`);
      for (let i = 0; i < 10; i++) await h.node(ABC[i % 3]).cluster.kv.write(`q/${i}`, text("v"), undefined, `x${i}`);
      assert.equal(await h.node("node-b").cluster.kv.invalidate({ prefix: "p/" }, undefined, "inv"), 30);
      for (let i = 0; i < 30; i++) assert.deepEqual(holders(h, `p/${i}`), [], `p/${i}`);
      for (let i = 0; i < 10; i++) assert.equal(holders(h, `q/${i}`).length, 2, `q/${i} untouched`);
      assert.equal(await h.node("node-a").cluster.kv.invalidate({ prefix: "q/" }, ["q/1"], "inv2"), 1, "only q/1 is allowed");
      assert.deepEqual(holders(h, "q/1"), []);
      assert.equal(holders(h, "q/2").length, 2);
    }));

  test("invalidate by tags is cluster-wide and counts each key once", SLOW, () =>
    withCluster(ABC, async (h) => {
      for (let i = 0; i < 24; i++) {
        await h.node(ABC[i % 3]).cluster.kv.write(`t/${i}`, tagged("v", i % 2 === 0 ? ["even"] : ["odd"]), undefined, `w${i}`);
      }
      assert.equal(await h.node("node-c").cluster.kv.invalidate({ tags: ["even"] }, undefined, "inv"), 12);
      for (let i = 0; i < 24; i++) {
        assert.equal(holders(h, `t/${i}`).length, i % 2 === 0 ? 0 : 2, `t/${i}`);
      }
      assert.equal(await h.node("node-a").cluster.kv.invalidate({ tags: ["odd", "even"] }, undefined, "inv2"), 12);
    }));

  test("flush is cluster-wide and counts each key once", SLOW, () =>
    withCluster(ABC, async (h) => {
      for (let i = 0; i < 45; i++) await h.node(ABC[i % 3]).cluster.kv.write(`f/${i}`, text("v"), undefined, `w${i}`);
      assert.equal(await h.node("node-a").cluster.kv.flush("flush"), 45);
      for (const id of ABC) assert.equal(h.node(id).store.stats().entries, 0, `${id} is empty`);
      assert.equal(await h.node("node-b").cluster.kv.flush("flush2"), 0);
    }));

  test("an invalidation that cannot reach every node fails with peer_unavailable", SLOW, () =>
    withCluster(ABC, async (h) => {
      await h.node("node-a").cluster.kv.write("p/1", text("v"), undefined, "w");
      h.network.partition("node-a", "node-c");
      assert.equal(await codeOfAsync(() => h.node("node-a").cluster.kv.invalidate({ prefix: "p/" }, undefined, "inv")), "peer_unavailable");
      assert.equal(await codeOfAsync(() => h.node("node-a").cluster.kv.flush("flush")), "peer_unavailable");
    }, { failureTimeout: "10s" }));
});

describe("cluster kv: failures", () => {
  test(
    "with one node partitioned away, writes still succeed through a sloppy stand-in and stay readable",
    SLOW,
    () =>
      withCluster(ABC, async (h) => {
        h.network.partition("node-a", "node-c");
        h.network.partition("node-b", "node-c");
        for (let i = 0; i < 30; i++) {
          const key = `sloppy/${i}`;
          const via = i % 2 === 0 ? "node-a" : "node-b";
          await h.node(via).cluster.kv.write(key, text(`v${i}`), undefined, `w${i}`);
          // node-c is not yet declared down, so it is still an owner; its share is held by a stand-in.
          assert.deepEqual(holders(h, key).filter((id) => id !== "node-c"), ["node-a", "node-b"], `${key}: both reachable nodes hold it`);
          assert.ok(!holders(h, key).includes("node-c"));
          for (const reader of ["node-a", "node-b"]) {
            const outcome = await h.node(reader).cluster.kv.read(key, "r");
            assert.equal(decode((outcome as { entry?: { value: Uint8Array } }).entry?.value), `v${i}`, `${key} via ${reader}`);
          }
        }
      }, { failureTimeout: "10s" }),
  );

  test(
    "after a brief partition the syncs send node-c only what it missed, and stand-ins let their copies go",
    SLOW,
    () =>
      withCluster(ABC, async (h) => {
        const before = Array.from({ length: 60 }, (_, i) => `held/${i}`);
        for (const [i, key] of before.entries()) await h.node(ABC[i % 3]).cluster.kv.write(key, text(key), undefined, `w${i}`);
        h.network.partition("node-a", "node-c");
        h.network.partition("node-b", "node-c");
        await waitFor(() => !h.node("node-a").cluster.view.peers().some((p) => (p as PeerView).node === "node-c" && (p as PeerView).up), "the links to node-c down");
        // Keys node-c owns, written while it is unreachable (not declared down): node-a or node-b stands in.
        const missed = Array.from({ length: 200 }, (_, i) => `missed/${i}`).filter((key) => owners(key).includes("node-c")).slice(0, 20);
        for (const [i, key] of missed.entries()) await h.node(i % 2 === 0 ? "node-a" : "node-b").cluster.kv.write(key, text(key), undefined, `m${i}`);
        const standIns = missed.filter((key) => holders(h, key).length === 2);
        assert.equal(standIns.length, missed.length, "each missed write is held by node-a and node-b");
        const sentBefore = await movedTotal(h, ABC);
        h.network.heal("node-a", "node-c");
        h.network.heal("node-b", "node-c");
        await h.settled(ABC);
        await waitFor(
          () => missed.every((key) => holders(h, key).join() === [...owners(key)].sort().join()),
          "every missed key on exactly its owners: node-c got it, the stand-in let its copy go",
          10_000,
        );
        await waitFor(() => (h.node("node-c").cluster.view.describe().catching_up as { active: boolean }).active === false, "node-c's catch-up to end");
        const sent = (await movedTotal(h, ABC)) - sentBefore;
        // Without offers each side would resend everything the other owns (about 80 entries here).
        assert.ok(sent >= missed.length && sent <= missed.length * 2, `${sent} entries sent for ${missed.length} missed writes`);
      }, { failureTimeout: "10s" }),
  );

  test("a write that cannot reach two copies is not acknowledged", SLOW, () =>
    withCluster(ABC, async (h) => {
      h.network.partition("node-a", "node-b");
      h.network.partition("node-a", "node-c");
      const key = keyOwnedBy("node-a", "node-b");
      assert.equal(await codeOfAsync(() => h.node("node-a").cluster.kv.write(key, text("v"), undefined, "w")), "peer_unavailable");
    }, { failureTimeout: "10s" }));

  test(
    "a graceful leave hands every key to its owners among the remaining nodes",
    SLOW,
    () =>
      withCluster(["node-a", "node-b", "node-c", "node-d"], async (h) => {
        const ids = ["node-a", "node-b", "node-c", "node-d"];
        const keys = Array.from({ length: 80 }, (_, i) => `leave/${i}`);
        for (const [i, key] of keys.entries()) await h.node(ids[i % 4]).cluster.kv.write(key, text(key), undefined, `w${i}`);
        // Keys only node-d holds (written to its store alone) prove that leaving hands them off.
        const onlyD = Array.from({ length: 20 }, (_, i) => `only-d/${i}`);
        for (const key of onlyD) h.node("node-d").store.put(key, text(key));
        await h.node("node-d").cluster.leave("leave-d");
        const remaining = ["node-a", "node-b", "node-c"];
        await waitFor(
          () =>
            remaining.every((id) =>
              (h.node(id).cluster.view.describe().members as Array<{ id: string; state: string }>).find((m) => m.id === "node-d")?.state ===
                "left"
            ),
          "node-d marked left everywhere",
          2000,
        );
        await waitFor(
          () => [...keys, ...onlyD].every((key) => owners(key, remaining).every((owner) => h.node(owner).store.peek(key) !== undefined)),
          "every key on its new owners",
        );
        // A node that left is not a missing node: the others are ready, not degraded.
        for (const id of remaining) {
          assert.equal(h.node(id).cluster.readiness().status, "ok", `${id}: ${h.node(id).cluster.readiness().detail}`);
        }
        for (const key of [...keys, ...onlyD]) {
          for (const id of remaining) {
            const outcome = await h.node(id).cluster.kv.read(key, "r");
            assert.equal(decode((outcome as { entry?: { value: Uint8Array } }).entry?.value), key, `${key} via ${id}`);
          }
        }
      }),
  );

  test("after a node joins, rebalancing puts each key on its new owners and former owners discard their copies", SLOW, async () => {
    const h = harness();
    try {
      const ab = ["node-a", "node-b"];
      await h.start("node-a", ["node-b"]);
      await h.start("node-b", ["node-a"]);
      await h.settled(ab);
      const keys = Array.from({ length: 100 }, (_, i) => `join/${i}`);
      for (const [i, key] of keys.entries()) await h.node(ab[i % 2]).cluster.kv.write(key, text(key), undefined, `w${i}`);
      for (const key of keys) assert.deepEqual(holders(h, key), ab, "with two nodes and two replicas both hold every key");
      await h.start("node-c", ["node-a", "node-b"]);
      await waitFor(() => h.formed(ABC), "node-c joined");
      await waitFor(
        () => keys.every((key) => holders(h, key).join() === [...owners(key)].sort().join()),
        "every key exactly on its new owners",
        10_000,
      );
      const moved = keys.filter((key) => owners(key).includes("node-c"));
      assert.ok(moved.length > 40 && moved.length < 95, `${moved.length} keys gained node-c as an owner`);
      // Each key reaches node-c from one former holder; the syncs on link-up offer versions first
      // and send only what node-c still lacks. Sending everything twice (rebalance and sync, or
      // both former owners) would be 2x; a sync that runs before the other holder's rebalance
      // arrived still duplicates that part (seen up to 1.43x when node-c linked one seed first).
      const sent = await movedTotal(h, ab);
      assert.ok(sent <= moved.length * 1.5, `${sent} entries sent for ${moved.length} keys that moved`);
      assert.ok(sent >= moved.length, `${sent} entries sent for ${moved.length} keys that moved`);
      for (const key of keys) {
        const versions = owners(key).map((owner) => JSON.stringify(h.node(owner).store.peek(key)?.version));
        assert.equal(new Set(versions).size, 1, `${key}: owners hold one version`);
        const outcome = await h.node("node-c").cluster.kv.read(key, "r");
        assert.equal(decode((outcome as { entry?: { value: Uint8Array } }).entry?.value), key);
      }
    } finally {
      await h.stopAll();
    }
  });

  test("a node declared down has its keys re-replicated onto the remaining nodes", SLOW, () =>
    withCluster(ABC, async (h) => {
      const keys = Array.from({ length: 40 }, (_, i) => `down/${i}`);
      for (const [i, key] of keys.entries()) await h.node(ABC[i % 3]).cluster.kv.write(key, text(key), undefined, `w${i}`);
      h.network.partition("node-a", "node-c");
      h.network.partition("node-b", "node-c");
      const ab = ["node-a", "node-b"];
      await waitFor(
        () => ab.every((id) => peersOf(h.node(id).cluster).find((p) => p.node === "node-c")?.state === "down"),
        "node-c down on a and b",
      );
      await waitFor(
        () => keys.every((key) => h.node("node-a").store.peek(key) !== undefined && h.node("node-b").store.peek(key) !== undefined),
        "every key on both a and b",
      );
    }, { failureTimeout: "600ms" }));
});
