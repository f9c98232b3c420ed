import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StoredEntry } from "../../src/core/entry.ts";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { createStore, type StoreChange } from "../../src/core/store.ts";
import { createTombstones } from "../../src/core/tombstones.ts";
import type { Version } from "../../src/core/version.ts";

function setup(options: { retainStaleMs?: number; tombstoneTtlMs?: number } = {}) {
  let now = 1_000_000;
  const changes: StoreChange[] = [];
  const store = createStore(
    { maxBytes: 1024 * 1024, eviction: "lru", ...options },
    { now: () => now, random: () => 0.5, clock: createHybridClock({ nodeId: "local", now: () => now }), onChange: (change) => changes.push(change) },
  );
  return { store, changes, advance: (ms: number) => (now += ms), now: () => now };
}

function remote(hlc: number, value = "remote", expiresAt = 0): StoredEntry {
  return { value: new TextEncoder().encode(value), contentType: "text/plain", version: { hlc, node: 7 }, tags: ["t"], storedAt: 1_000_000, expiresAt, size: 0 };
}

const text = (entry: StoredEntry | undefined) => (entry === undefined ? undefined : new TextDecoder().decode(entry.value));
const put = (value: string) => ({ value: new TextEncoder().encode(value), contentType: "text/plain", tags: [], ttlMs: 0 });

describe("store.applyEntry() and applyDelete()", () => {
  test("applyEntry() stores a newer version and refuses an older one", () => {
    const { store } = setup();
    assert.equal(store.applyEntry("k", remote(5000, "new")), true);
    assert.equal(store.applyEntry("k", remote(4000, "old")), false);
    assert.equal(text(store.peek("k")), "new");
    assert.equal(store.applyEntry("k", remote(5000, "same version")), false, "an equal version is not a change");
  });

  test("wants() is true exactly when applyEntry() would take that version", () => {
    const { store } = setup();
    assert.equal(store.wants("k", { hlc: 5000, node: 7 }), true, "nothing held");
    store.applyEntry("k", remote(5000));
    assert.equal(store.wants("k", { hlc: 5000, node: 7 }), false, "the same version");
    assert.equal(store.wants("k", { hlc: 4000, node: 7 }), false, "an older one");
    assert.equal(store.wants("k", { hlc: 6000, node: 7 }), true, "a newer one");
    store.applyDelete("gone", { hlc: 5000, node: 7 });
    assert.equal(store.wants("gone", { hlc: 4999, node: 7 }), false, "older than a delete");
    assert.equal(store.applyEntry("gone", remote(4999)), false);
    store.flush();
    assert.equal(store.wants("new", { hlc: 1, node: 1 }), false, "older than a flush");
  });

  test("applyEntry() measures the entry with this node's accounting, whatever size it came with", () => {
    const { store } = setup();
    store.applyEntry("k", remote(5000));
    assert.ok(store.stats().bytes > 6, `bytes ${store.stats().bytes}`);
  });

  test("a local write after applyEntry() gets a newer version than the applied one", () => {
    const { store } = setup();
    const farFuture: Version = { hlc: 9_000_000_000 * 1024, node: 7 };
    store.applyEntry("k", { ...remote(0), version: farFuture });
    const { entry } = store.put("k", put("local"));
    assert.ok(entry.version.hlc > farFuture.hlc);
  });

  test("a delete leaves a tombstone so an older replica write cannot resurrect the key", () => {
    const { store } = setup();
    store.applyEntry("k", remote(5000));
    assert.equal(store.applyDelete("k", { hlc: 6000, node: 1 }), true);
    assert.equal(store.applyEntry("k", remote(5500, "late")), false);
    assert.equal(store.peek("k"), undefined);
    assert.equal(store.applyEntry("k", remote(7000, "newer")), true);
    assert.equal(text(store.peek("k")), "newer");
  });

  test("applyDelete() older than the entry changes nothing", () => {
    const { store } = setup();
    store.applyEntry("k", remote(5000));
    assert.equal(store.applyDelete("k", { hlc: 4000, node: 1 }), false);
    assert.equal(text(store.peek("k")), "remote");
  });

  test("a local delete also leaves a tombstone", () => {
    const { store } = setup();
    store.put("k", put("v"));
    store.delete("k");
    assert.equal(store.applyEntry("k", remote(1000, "older than the delete")), false);
  });

  test("invalidation leaves tombstones too", () => {
    const { store } = setup();
    store.put("p/1", put("v"));
    assert.equal(store.invalidatePrefix("p/"), 1);
    assert.equal(store.applyEntry("p/1", remote(1000)), false);
  });

  test("a flush refuses every write older than itself", () => {
    const { store } = setup();
    store.flush();
    assert.equal(store.applyEntry("k", remote(1000)), false);
    assert.equal(store.applyEntry("k", remote(9_000_000_000 * 1024)), true);
  });

  test("applyEntry() refuses an entry already past its retention", () => {
    const { store, now } = setup({ retainStaleMs: 1000 });
    assert.equal(store.applyEntry("k", remote(5000, "dead", now() - 2000)), false);
    assert.equal(store.applyEntry("k", remote(5000, "stale but retained", now() - 500)), true);
    assert.equal(store.peek("k"), undefined, "a stale entry is not fresh");
    assert.equal(store.lookup("k")?.staleMs, 500);
  });

  test("onChange reports puts, deletes, invalidations, flushes and applied entries, but not evictions or refusals", () => {
    const { store, changes } = setup();
    store.put("a", put("1"));
    store.delete("a");
    store.applyEntry("b", remote(5000));
    store.applyEntry("b", remote(4000));
    store.invalidateTags(["t"]);
    store.flush();
    assert.deepEqual(changes.map((change) => `${change.kind}${"key" in change ? `:${change.key}` : ""}`), ["put:a", "delete:a", "put:b", "delete:b", "flush"]);
  });

  test("entries() lists every retained entry", () => {
    const { store } = setup();
    store.put("a", put("1"));
    store.put("b", put("2"));
    assert.deepEqual(store.entries().map(([key]) => key).sort(), ["a", "b"]);
  });
});

describe("tombstones", () => {
  test("covers() holds for the delete's version and older, not newer", () => {
    const stones = createTombstones({ maxCount: 10, maxAgeMs: 1000, now: () => 0 });
    stones.add("k", { hlc: 10, node: 1 });
    assert.equal(stones.covers("k", { hlc: 10, node: 1 }), true);
    assert.equal(stones.covers("k", { hlc: 9, node: 5 }), true);
    assert.equal(stones.covers("k", { hlc: 11, node: 0 }), false);
    assert.equal(stones.covers("other", { hlc: 1, node: 0 }), false);
  });

  test("keeps at most maxCount, dropping the oldest", () => {
    const stones = createTombstones({ maxCount: 2, maxAgeMs: 1000, now: () => 0 });
    for (const key of ["a", "b", "c"]) stones.add(key, { hlc: 10, node: 1 });
    assert.equal(stones.size, 2);
    assert.deepEqual(stones.entries().map(([key]) => key), ["b", "c"]);
  });

  test("forgets deletes older than maxAgeMs", () => {
    let now = 0;
    const stones = createTombstones({ maxCount: 10, maxAgeMs: 1000, now: () => now });
    stones.add("k", { hlc: 10, node: 1 });
    now = 1001;
    assert.equal(stones.covers("k", { hlc: 1, node: 1 }), false);
  });

  test("versionOf() names the kept delete's version until it ages out", () => {
    let now = 0;
    const stones = createTombstones({ maxCount: 10, maxAgeMs: 1000, now: () => now });
    stones.add("k", { hlc: 10, node: 1 });
    assert.deepEqual(stones.versionOf("k"), { hlc: 10, node: 1 });
    assert.equal(stones.versionOf("other"), undefined);
    now = 1000;
    assert.equal(stones.versionOf("k"), undefined);
  });

  test("store.deletedAt() names the version of a key's recent delete, applied or local", () => {
    const { store } = setup();
    store.applyDelete("remote", { hlc: 5000, node: 7 });
    assert.deepEqual(store.deletedAt("remote"), { hlc: 5000, node: 7 });
    store.put("local", put("v"));
    store.delete("local");
    assert.ok(store.deletedAt("local") !== undefined);
    assert.equal(store.deletedAt("never"), undefined);
    store.put("local", put("again"));
    assert.equal(store.deletedAt("local"), undefined, "a newer write clears the delete");
  });

  test("add() keeps the newer of two deletes", () => {
    const stones = createTombstones({ maxCount: 10, maxAgeMs: 1000, now: () => 0 });
    stones.add("k", { hlc: 20, node: 1 });
    stones.add("k", { hlc: 10, node: 1 });
    assert.equal(stones.covers("k", { hlc: 15, node: 1 }), true);
  });
});
