import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createRing, DEFAULT_VNODES, hash32 } from "../../src/cluster/ring.ts";
import { seededRandom } from "./fakes.ts";

/** `count` random keys, the same ones on every run. */
function randomKeys(count: number, seed = 7): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => `key/${Math.floor(random() * 2 ** 32).toString(36)}/${i}`);
}

const KEYS = randomKeys(100_000);

/** murmur3's 32-bit finaliser, in BigInt arithmetic so it shares nothing with the code under test. */
function fmix32(value: number): number {
  const mask = 0xffffffffn;
  let h = BigInt(value);
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & mask;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & mask;
  h ^= h >> 16n;
  return Number(h);
}

describe("hash32()", () => {
  test("hash32() is FNV-1a followed by murmur3's finaliser (published FNV-1a vectors)", () => {
    // FNV-1a 32-bit test vectors from the FNV reference (draft-eastlake-fnv).
    const fnv1a: Array<[string, number]> = [["", 0x811c9dc5], ["a", 0xe40c292c], ["foobar", 0xbf9cf968]];
    for (const [text, fnv] of fnv1a) assert.equal(hash32(text), fmix32(fnv), `hash32(${JSON.stringify(text)})`);
  });

  test("hash32() values are stable across versions (a change would re-place every key of a running cluster)", () => {
    assert.equal(hash32(""), 0xab3e7c0b);
    assert.equal(hash32("a"), 0x1a80b1b3);
    assert.equal(hash32("foobar"), 0x0c0da6dc);
    assert.equal(hash32("node-a#0"), 0x6b99ce4c);
    assert.equal(hash32("user:42"), 0x23bf9c12);
  });

  test("hash32() returns unsigned 32-bit integers and separates similar strings", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const h = hash32(`node-a#${i}`);
      assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32, `hash ${h}`);
      seen.add(h);
    }
    assert.equal(seen.size, 1000);
    // The top byte of consecutive vnode names is spread out, not clustered.
    const topBytes = new Set(Array.from({ length: 256 }, (_, i) => hash32(`node-a#${i}`) >>> 24));
    assert.ok(topBytes.size > 120, `only ${topBytes.size} distinct top bytes`);
  });
});

describe("ring.owners()", () => {
  test("ring.owners() returns `count` distinct nodes, primary first", () => {
    const ring = createRing(["node-a", "node-b", "node-c", "node-d", "node-e"]);
    for (const key of KEYS.slice(0, 2000)) {
      for (const count of [1, 2, 3, 5]) {
        const owners = ring.owners(key, count);
        assert.equal(owners.length, count);
        assert.equal(new Set(owners).size, count, `duplicates in ${owners}`);
        for (const owner of owners) assert.ok(ring.nodes.includes(owner));
      }
      // Asking for more replicas extends the list; the primary and order never change.
      const three = ring.owners(key, 3);
      assert.deepEqual(ring.owners(key, 1), three.slice(0, 1));
      assert.deepEqual(ring.owners(key, 2), three.slice(0, 2));
    }
  });

  test("ring.owners() returns every node, and no more, when the ring is smaller than `count`", () => {
    const ring = createRing(["node-a", "node-b"]);
    for (const key of KEYS.slice(0, 500)) {
      const owners = ring.owners(key, 5);
      assert.equal(owners.length, 2);
      assert.deepEqual([...owners].sort(), ["node-a", "node-b"]);
    }
    assert.deepEqual(createRing(["solo"]).owners("k", 3), ["solo"]);
    assert.deepEqual(createRing([]).owners("k", 3), []);
    assert.deepEqual(createRing(["node-a", "node-b"]).owners("k", 0), []);
  });

  test("ring.owners() is the same on every instance, whatever the order nodes were given in", () => {
    const a = createRing(["node-c", "node-a", "node-b", "node-d"]);
    const b = createRing(["node-d", "node-b", "node-a", "node-c", "node-a"]);
    assert.deepEqual(a.nodes, ["node-a", "node-b", "node-c", "node-d"]);
    assert.deepEqual(b.nodes, a.nodes, "duplicates collapse and nodes are sorted");
    for (const key of KEYS.slice(0, 5000)) assert.deepEqual(b.owners(key, 3), a.owners(key, 3));
    assert.deepEqual(b.ownership(), a.ownership());
  });

  test("ring.owners() depends on the key: keys spread over different primaries", () => {
    const ring = createRing(["node-a", "node-b", "node-c"]);
    const primaries = new Set(KEYS.slice(0, 100).map((key) => ring.owners(key, 1)[0]));
    assert.equal(primaries.size, 3);
  });
});

describe("ring balance", () => {
  const nodeSets: Record<string, string[]> = {
    "3 nodes": ["node-a", "node-b", "node-c"],
    "4 nodes": ["node-a", "node-b", "node-c", "node-d"],
    "5 nodes": ["node-a", "node-b", "node-c", "node-d", "node-e"],
    "5 address-like nodes": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"],
    "3 uuid-like nodes": ["3f2b9c1e-a", "9d04e7aa-b", "c71f0b52-c"],
  };
  for (const [name, nodes] of Object.entries(nodeSets)) {
    test(`with ${name} and ${DEFAULT_VNODES} vnodes each node is primary for 1/N of 100k random keys, within 25%`, () => {
      const ring = createRing(nodes);
      const counts = new Map(nodes.map((node) => [node, 0]));
      for (const key of KEYS) {
        const primary = ring.owners(key, 1)[0];
        counts.set(primary, (counts.get(primary) ?? 0) + 1);
      }
      const fair = KEYS.length / nodes.length;
      for (const [node, count] of counts) {
        assert.ok(Math.abs(count - fair) <= 0.25 * fair, `${node} is primary for ${count} keys, fair share is ${fair}`);
      }
    });

    test(`with ${name} ownership() sums to 1 and matches the measured primary shares`, () => {
      const ring = createRing(nodes);
      const share = ring.ownership();
      assert.deepEqual(Object.keys(share).sort(), [...nodes].sort());
      const total = Object.values(share).reduce((sum, value) => sum + value, 0);
      assert.ok(Math.abs(total - 1) < 1e-9, `ownership sums to ${total}`);
      const counts = new Map<string, number>();
      for (const key of KEYS) counts.set(ring.owners(key, 1)[0], (counts.get(ring.owners(key, 1)[0]) ?? 0) + 1);
      for (const node of nodes) {
        const measured = (counts.get(node) ?? 0) / KEYS.length;
        assert.ok(Math.abs(measured - share[node]) < 0.01, `${node}: ownership ${share[node]}, measured ${measured}`);
      }
    });
  }

  test("ownership() of a single node is the whole ring, of no nodes is empty", () => {
    assert.deepEqual(createRing(["solo"]).ownership(), { solo: 1 });
    assert.deepEqual(createRing([]).ownership(), {});
  });

  test("more vnodes give a better balance than a single vnode", () => {
    const nodes = ["node-a", "node-b", "node-c", "node-d"];
    const spread = (vnodes: number) => {
      const values = Object.values(createRing(nodes, vnodes).ownership());
      return Math.max(...values) - Math.min(...values);
    };
    assert.ok(spread(DEFAULT_VNODES) < spread(1), `spread ${spread(DEFAULT_VNODES)} vs ${spread(1)}`);
  });
});

describe("ring movement", () => {
  test("ring.owners() moves only ~1/N of keys when a node joins, and every moved key moves to the new node", () => {
    const before = createRing(["node-a", "node-b", "node-c"]);
    const after = createRing(["node-a", "node-b", "node-c", "node-d"]);
    let moved = 0;
    for (const key of KEYS) {
      const was = before.owners(key, 1)[0];
      const is = after.owners(key, 1)[0];
      if (was === is) continue;
      moved++;
      assert.equal(is, "node-d", `${key} moved from ${was} to ${is}, not to the new node`);
    }
    const fraction = moved / KEYS.length;
    assert.ok(fraction > 0.25 * 0.75 && fraction < 0.25 * 1.25, `moved ${fraction} of keys, expected about 1/4`);
  });

  test("a join changes a key's replica set only by adding the new node", () => {
    const before = createRing(["node-a", "node-b", "node-c"]);
    const after = createRing(["node-a", "node-b", "node-c", "node-d"]);
    let changed = 0;
    for (const key of KEYS.slice(0, 20_000)) {
      const was = before.owners(key, 2);
      const is = after.owners(key, 2);
      if (was.join() === is.join()) continue;
      changed++;
      assert.ok(is.includes("node-d"), `${key}: ${was} -> ${is} changed without the new node`);
      // The surviving old owners keep their relative order.
      assert.deepEqual(is.filter((node) => node !== "node-d"), was.filter((node) => is.includes(node)));
    }
    // About 2/4 of the keys gain the new node as one of two replicas.
    assert.ok(changed / 20_000 > 0.35 && changed / 20_000 < 0.65, `replica sets changed for ${changed / 20_000}`);
  });

  test("removing a node moves only that node's keys", () => {
    const before = createRing(["node-a", "node-b", "node-c", "node-d"]);
    const after = createRing(["node-a", "node-b", "node-d"]);
    let moved = 0;
    for (const key of KEYS) {
      const was = before.owners(key, 1)[0];
      const is = after.owners(key, 1)[0];
      if (was !== "node-c") assert.equal(is, was, `${key} moved from ${was} though node-c left`);
      else {
        moved++;
        assert.notEqual(is, "node-c");
      }
    }
    assert.ok(moved / KEYS.length > 0.25 * 0.75 && moved / KEYS.length < 0.25 * 1.25, `moved ${moved / KEYS.length}`);
  });

  test("after a node is removed, its keys' new primary was their second owner", () => {
    const before = createRing(["node-a", "node-b", "node-c", "node-d"]);
    const after = createRing(["node-a", "node-b", "node-d"]);
    for (const key of KEYS.slice(0, 20_000)) {
      const was = before.owners(key, 2);
      if (was[0] === "node-c") assert.equal(after.owners(key, 1)[0], was[1]);
    }
  });
});
