import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ENTRY_OVERHEAD_BYTES, entrySize, type StoredEntry, utf8Length } from "../../src/core/entry.ts";
import { EdgecacheError, PreconditionFailed } from "../../src/core/errors.ts";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { createStore, type EvictionPolicy, type PutInput, type Store } from "../../src/core/store.ts";
import { compareVersions, formatEtag } from "../../src/core/version.ts";
import { createFakeClock, type FakeClock, seededRandom } from "./fakes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CONTENT_TYPE = "text/plain";

function input(value: string, options: { tags?: string[]; ttlMs?: number; contentType?: string } = {}): PutInput {
  return { value: encoder.encode(value), contentType: options.contentType ?? CONTENT_TYPE, tags: options.tags ?? [], ttlMs: options.ttlMs ?? 0 };
}

/** Bytes a put of `value` under `key` will count, computed independently of the store. */
function sizeOf(key: string, value: string, tags: string[] = [], contentType = CONTENT_TYPE): number {
  return entrySize(encoder.encode(key).length, encoder.encode(value), contentType, tags);
}

function setup(eviction: EvictionPolicy, maxBytes = 1_000_000, random: () => number = seededRandom(3)): { store: Store; clock: FakeClock } {
  const clock = createFakeClock();
  const hlc = createHybridClock({ nodeId: "node-a", now: clock.now });
  const store = createStore({ maxBytes, eviction }, { now: clock.now, random, clock: hlc });
  return { store, clock };
}

function text(entry: StoredEntry | undefined): string | undefined {
  return entry === undefined ? undefined : decoder.decode(entry.value);
}

const isPreconditionFailed = (error: unknown) => {
  assert.ok(error instanceof PreconditionFailed, `expected PreconditionFailed, got ${String(error)}`);
  assert.equal(error.code, "precondition_failed");
  return true;
};

/** Everything observable about a store, to prove a failed call changed nothing. */
function snapshot(store: Store, keys: string[]) {
  return {
    stats: store.stats(),
    entries: keys.map((key) => {
      const entry = store.peek(key);
      return entry === undefined ? undefined : { value: text(entry), etag: formatEtag(entry.version), tags: entry.tags };
    }),
  };
}

for (const policy of ["lru", "lfu"] as const) {
  describe(`store (${policy})`, () => {
    describe("reads and writes", () => {
      test(`store.put() then get() returns the value, content type, tags and times (${policy})`, () => {
        const { store, clock } = setup(policy);
        const { created, entry } = store.put("users/42", input("hello", { tags: ["users"], ttlMs: 5_000, contentType: "application/json" }));
        assert.equal(created, true);
        const got = store.get("users/42");
        assert.equal(got, entry);
        assert.equal(text(got), "hello");
        assert.equal(got?.contentType, "application/json");
        assert.deepEqual(got?.tags, ["users"]);
        assert.equal(got?.storedAt, clock.now());
        assert.equal(got?.expiresAt, clock.now() + 5_000);
      });

      test(`store.put() reports created only for a key that held no fresh entry (${policy})`, () => {
        const { store, clock } = setup(policy);
        assert.equal(store.put("k", input("1")).created, true);
        assert.equal(store.put("k", input("2")).created, false);
        store.delete("k");
        assert.equal(store.put("k", input("3", { ttlMs: 1_000 })).created, true);
        clock.advance(1_000);
        assert.equal(store.put("k", input("4")).created, true, "an expired entry counts as absent");
      });

      test(`store.get() of an absent key returns undefined and counts a miss (${policy})`, () => {
        const { store } = setup(policy);
        assert.equal(store.get("nope"), undefined);
        assert.equal(store.stats().misses, 1);
        assert.equal(store.stats().hits, 0);
      });

      test(`store.peek() neither counts a hit nor a miss (${policy})`, () => {
        const { store } = setup(policy);
        store.put("k", input("v"));
        assert.equal(text(store.peek("k")), "v");
        assert.equal(store.peek("absent"), undefined);
        assert.equal(store.stats().hits, 0);
        assert.equal(store.stats().misses, 0);
      });

      test(`store.delete() returns true for a fresh entry and false for an absent one (${policy})`, () => {
        const { store } = setup(policy);
        store.put("k", input("v"));
        assert.equal(store.delete("k"), true);
        assert.equal(store.get("k"), undefined);
        assert.equal(store.delete("k"), false);
        assert.equal(store.delete("never"), false);
      });
    });

    describe("byte accounting", () => {
      test(`store entry size counts the key in UTF-8 bytes, the value, the content type, the tags and the overhead (${policy})`, () => {
        const { store } = setup(policy);
        const key = "caf\u00e9/\u{1F600}"; // 4 + 1 + 4 bytes of multi-byte characters
        const { entry } = store.put(key, input("abc", { tags: ["t1"] }));
        assert.equal(utf8Length(key), encoder.encode(key).length);
        assert.equal(entry.size, encoder.encode(key).length + 3 + CONTENT_TYPE.length + ("t1".length + 16) + ENTRY_OVERHEAD_BYTES);
        assert.equal(entry.size, sizeOf(key, "abc", ["t1"]));
      });

      test(`store bytes grow and shrink exactly with entry sizes on put, overwrite and delete (${policy})`, () => {
        const { store } = setup(policy);
        assert.equal(store.stats().bytes, 0);
        store.put("a", input("x".repeat(100)));
        assert.equal(store.stats().bytes, sizeOf("a", "x".repeat(100)));
        store.put("b", input("y".repeat(10), { tags: ["t"] }));
        assert.equal(store.stats().bytes, sizeOf("a", "x".repeat(100)) + sizeOf("b", "y".repeat(10), ["t"]));
        store.put("a", input("z"));
        assert.equal(store.stats().bytes, sizeOf("a", "z") + sizeOf("b", "y".repeat(10), ["t"]));
        store.delete("b");
        assert.equal(store.stats().bytes, sizeOf("a", "z"));
        store.delete("a");
        assert.equal(store.stats().bytes, 0);
        assert.equal(store.stats().entries, 0);
      });

      test(`store.put() evicts to stay within maxBytes and counts each eviction (${policy})`, () => {
        const size = sizeOf("k0", "v".repeat(100));
        const { store } = setup(policy, size * 3);
        for (let i = 0; i < 10; i++) {
          store.put(`k${i}`, input("v".repeat(100)));
          assert.ok(store.stats().bytes <= size * 3);
        }
        const stats = store.stats();
        assert.equal(stats.entries, 3);
        assert.equal(stats.bytes, size * 3);
        assert.equal(stats.evictions, 7);
        assert.ok(store.peek("k9") !== undefined, "the entry just written is kept");
      });

      test(`store bytes never exceed maxBytes and always equal the sum of fresh entry sizes under a random workload (${policy})`, () => {
        const maxBytes = 8 * 1024;
        const { store, clock } = setup(policy, maxBytes);
        const random = seededRandom(99);
        const keys = Array.from({ length: 40 }, (_, i) => `key/${i}`);
        const tagsOf = (i: number) => (i % 3 === 0 ? ["t1"] : i % 3 === 1 ? ["t2", "t1"] : []);
        for (let step = 0; step < 2_000; step++) {
          const i = Math.floor(random() * keys.length);
          const roll = random();
          if (roll < 0.5) {
            const ttlMs = random() < 0.3 ? 1 + Math.floor(random() * 5_000) : 0;
            store.put(keys[i], input("v".repeat(Math.floor(random() * 1_500)), { tags: tagsOf(step), ttlMs }));
          } else if (roll < 0.8) store.get(keys[i]);
          else if (roll < 0.9) store.delete(keys[i]);
          else if (roll < 0.95) clock.advance(Math.floor(random() * 2_000));
          else store.sweepExpired(5);
          assert.ok(store.stats().bytes <= maxBytes, `step ${step}`);
        }
        let sum = 0;
        let live = 0;
        let tagged = 0;
        for (const key of keys) {
          const entry = store.peek(key);
          if (entry === undefined) continue;
          sum += entry.size;
          live++;
          if (entry.tags.includes("t1") || entry.tags.includes("t2")) tagged++;
        }
        assert.equal(store.stats().bytes, sum);
        assert.equal(store.stats().entries, live);
        assert.equal(store.invalidateTags(["t1", "t2"]), tagged, "the tag index holds exactly the live tagged keys");
        assert.equal(store.invalidatePrefix(""), live - tagged);
        assert.equal(store.stats().bytes, 0);
      });

      test(`store.put() refuses with value_too_large an entry that cannot fit maxBytes, changing nothing (${policy})`, () => {
        const maxBytes = 4_096;
        const { store } = setup(policy, maxBytes);
        store.put("k", input("small"));
        const before = snapshot(store, ["k"]);
        const overhead = sizeOf("k", "");
        assert.throws(() => store.put("k", input("x".repeat(maxBytes - overhead + 1))), (error: unknown) => {
          assert.ok(error instanceof EdgecacheError);
          assert.equal(error.code, "value_too_large");
          return true;
        });
        assert.throws(() => store.put("other", input("x".repeat(maxBytes))), { code: "value_too_large" });
        assert.deepEqual(snapshot(store, ["k", "other"]), { ...before, entries: [...before.entries, undefined] });
      });

      test(`store.put() accepts an entry of exactly maxBytes, evicting everything else (${policy})`, () => {
        const maxBytes = 4_096;
        const { store } = setup(policy, maxBytes);
        store.put("a", input("1"));
        store.put("b", input("2"));
        const value = "x".repeat(maxBytes - sizeOf("k", ""));
        const { entry } = store.put("k", input(value));
        assert.equal(entry.size, maxBytes);
        assert.equal(store.stats().bytes, maxBytes);
        assert.equal(store.stats().entries, 1);
        assert.equal(store.stats().evictions, 2);
      });
    });

    describe("expiry", () => {
      test(`store.get() returns an entry until its TTL passes, then removes it and counts an expiration and a miss (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("k", input("v", { ttlMs: 1_000 }));
        clock.advance(999);
        assert.equal(text(store.get("k")), "v");
        clock.advance(1);
        assert.equal(store.get("k"), undefined);
        const stats = store.stats();
        assert.equal(stats.expirations, 1);
        assert.equal(stats.hits, 1);
        assert.equal(stats.misses, 1);
        assert.equal(stats.entries, 0);
        assert.equal(stats.bytes, 0);
      });

      test(`store.peek() and delete() treat an expired entry as absent and remove it (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("a", input("v", { ttlMs: 10 }));
        store.put("b", input("v", { ttlMs: 10 }));
        clock.advance(10);
        assert.equal(store.peek("a"), undefined);
        assert.equal(store.delete("b"), false);
        assert.equal(store.stats().entries, 0);
        assert.equal(store.stats().expirations, 2);
      });

      test(`store entries with TTL 0 never expire (${policy})`, () => {
        const { store, clock } = setup(policy);
        const { entry } = store.put("k", input("v", { ttlMs: 0 }));
        assert.equal(entry.expiresAt, 0);
        clock.advance(10 * 365 * 86_400_000);
        assert.equal(text(store.get("k")), "v");
        assert.equal(store.sweepExpired(100), 0);
      });

      test(`store.sweepExpired() reclaims expired entries that were never read (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("a", input("v", { ttlMs: 1_000, tags: ["t"] }));
        store.put("b", input("v", { ttlMs: 1_500 }));
        store.put("c", input("v", { ttlMs: 60_000 }));
        store.put("d", input("v"));
        assert.equal(store.sweepExpired(100), 0, "nothing is due yet");
        clock.advance(2_000);
        assert.equal(store.sweepExpired(100), 2);
        const stats = store.stats();
        assert.equal(stats.entries, 2);
        assert.equal(stats.bytes, sizeOf("c", "v") + sizeOf("d", "v"));
        assert.equal(stats.expirations, 2);
        assert.equal(stats.misses, 0, "sweeping is not a read");
        assert.equal(store.sweepExpired(100), 0, "a swept entry is not swept twice");
      });

      test(`store.sweepExpired() reclaims at most limit entries per call (${policy})`, () => {
        const { store, clock } = setup(policy);
        for (let i = 0; i < 5; i++) store.put(`k${i}`, input("v", { ttlMs: 1_000 }));
        clock.advance(5_000);
        assert.equal(store.sweepExpired(2), 2);
        assert.equal(store.stats().entries, 3);
        assert.equal(store.sweepExpired(2), 2);
        assert.equal(store.sweepExpired(2), 1);
        assert.equal(store.stats().entries, 0);
        assert.equal(store.stats().expirations, 5);
      });

      test(`store.sweepExpired() does not remove an entry rewritten with a later expiry (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("later", input("old", { ttlMs: 1_000 }));
        store.put("never", input("old", { ttlMs: 1_000 }));
        clock.advance(500);
        store.put("later", input("new", { ttlMs: 3_600_000 }));
        store.put("never", input("new", { ttlMs: 0 }));
        clock.advance(5_000);
        assert.equal(store.sweepExpired(100), 0);
        assert.equal(text(store.get("later")), "new");
        assert.equal(text(store.get("never")), "new");
        assert.equal(store.stats().expirations, 0);
      });

      test(`store.sweepExpired() still reclaims an entry rewritten with a later expiry once that passes (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("k", input("old", { ttlMs: 1_000 }));
        store.put("k", input("new", { ttlMs: 10_000 }));
        clock.advance(2_000);
        assert.equal(store.sweepExpired(100), 0);
        clock.advance(10_000);
        assert.equal(store.sweepExpired(100), 1);
        assert.equal(store.stats().entries, 0);
      });

      test(`store.sweepExpired() skips entries deleted or already expired on read (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("deleted", input("v", { ttlMs: 1_000 }));
        store.put("read", input("v", { ttlMs: 1_000 }));
        store.delete("deleted");
        clock.advance(2_000);
        assert.equal(store.get("read"), undefined);
        assert.equal(store.sweepExpired(100), 0);
        assert.equal(store.stats().expirations, 1);
      });
    });

    describe("tags and invalidation", () => {
      test(`store.invalidateTags() removes every key carrying any of the tags and returns how many (${policy})`, () => {
        const { store } = setup(policy);
        store.put("a", input("v", { tags: ["red"] }));
        store.put("b", input("v", { tags: ["blue", "red"] }));
        store.put("c", input("v", { tags: ["green"] }));
        store.put("d", input("v"));
        assert.equal(store.invalidateTags(["red", "green"]), 3);
        assert.equal(store.peek("a"), undefined);
        assert.equal(store.peek("b"), undefined);
        assert.equal(store.peek("c"), undefined);
        assert.equal(text(store.peek("d")), "v");
        assert.equal(store.invalidateTags(["blue"]), 0, "b left the blue tag when it was removed");
        assert.equal(store.invalidateTags(["unknown"]), 0);
      });

      test(`store.invalidateTags() honours the allow filter (${policy})`, () => {
        const { store } = setup(policy);
        store.put("tenant-a/1", input("v", { tags: ["t"] }));
        store.put("tenant-b/1", input("v", { tags: ["t"] }));
        assert.equal(store.invalidateTags(["t"], (key) => key.startsWith("tenant-a/")), 1);
        assert.ok(store.peek("tenant-b/1") !== undefined);
        assert.equal(store.invalidateTags(["t"]), 1);
      });

      test(`store.invalidateTags() leaves no stale key behind after an overwrite changes the tags (${policy})`, () => {
        const { store } = setup(policy);
        store.put("k", input("v1", { tags: ["old"] }));
        store.put("k", input("v2", { tags: ["new"] }));
        assert.equal(store.invalidateTags(["old"]), 0);
        assert.equal(text(store.peek("k")), "v2");
        assert.equal(store.invalidateTags(["new"]), 1);
      });

      test(`store.invalidateTags() leaves no stale key behind after a delete (${policy})`, () => {
        const { store } = setup(policy);
        store.put("k", input("v1", { tags: ["t"] }));
        store.delete("k");
        store.put("k", input("v2"));
        assert.equal(store.invalidateTags(["t"]), 0);
        assert.equal(text(store.peek("k")), "v2");
      });

      test(`store.invalidateTags() leaves no stale key behind after an eviction (${policy})`, () => {
        const size = sizeOf("k0", "v", ["t"]);
        const { store } = setup(policy, size * 2);
        store.put("k0", input("v", { tags: ["t"] }));
        store.put("k1", input("v", { tags: ["t"] }));
        store.put("k2", input("v", { tags: ["t"] }));
        assert.equal(store.stats().evictions, 1);
        const evicted = ["k0", "k1"].find((key) => store.peek(key) === undefined) as string;
        store.put(evicted, input("untagged"));
        // Re-putting made room by evicting another tagged key, so exactly one tagged key is left.
        assert.equal(store.stats().evictions, 2);
        assert.equal(store.invalidateTags(["t"]), 1);
        assert.equal(text(store.peek(evicted)), "untagged");
      });

      test(`store.invalidateTags() leaves no stale key behind after expiry on read or by sweep (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("read", input("v1", { tags: ["t"], ttlMs: 1_000 }));
        store.put("swept", input("v1", { tags: ["t"], ttlMs: 1_000 }));
        clock.advance(2_000);
        assert.equal(store.get("read"), undefined);
        assert.equal(store.sweepExpired(100), 1);
        store.put("read", input("v2"));
        store.put("swept", input("v2"));
        assert.equal(store.invalidateTags(["t"]), 0);
        assert.equal(store.stats().entries, 2);
      });

      test(`store.invalidateTags() does not count expired entries but removes them (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("expired", input("v", { tags: ["t"], ttlMs: 1_000 }));
        store.put("fresh", input("v", { tags: ["t"] }));
        clock.advance(1_000);
        assert.equal(store.invalidateTags(["t"]), 1);
        assert.equal(store.stats().entries, 0);
        assert.equal(store.stats().expirations, 1);
      });

      test(`store.invalidatePrefix() removes exactly the keys starting with the prefix (${policy})`, () => {
        const { store } = setup(policy);
        for (const key of ["users/1", "users/2", "users/1/avatar", "users", "usersX", "posts/1"]) store.put(key, input("v"));
        assert.equal(store.invalidatePrefix("users/"), 3);
        assert.deepEqual(["users/1", "users/2", "users/1/avatar", "users", "usersX", "posts/1"].filter((key) => store.peek(key) !== undefined), [
          "users",
          "usersX",
          "posts/1",
        ]);
        assert.equal(store.invalidatePrefix("nothing/"), 0);
      });

      test(`store.invalidatePrefix() honours the allow filter and skips expired entries (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("p/keep", input("v"));
        store.put("p/drop", input("v"));
        store.put("p/expired", input("v", { ttlMs: 1 }));
        clock.advance(1);
        assert.equal(store.invalidatePrefix("p/", (key) => key !== "p/keep"), 1);
        assert.ok(store.peek("p/keep") !== undefined);
        assert.equal(store.stats().entries, 1);
      });

      test(`store.invalidatePrefix() removes the keys from the tag index too (${policy})`, () => {
        const { store } = setup(policy);
        store.put("p/1", input("v1", { tags: ["t"] }));
        assert.equal(store.invalidatePrefix("p/"), 1);
        store.put("p/1", input("v2"));
        assert.equal(store.invalidateTags(["t"]), 0);
      });

      test(`store.invalidatePrefix() does not count evicted keys (${policy})`, () => {
        const size = sizeOf("p/0", "v");
        const { store } = setup(policy, size * 2);
        for (let i = 0; i < 5; i++) store.put(`p/${i}`, input("v"));
        assert.equal(store.invalidatePrefix("p/"), 2);
        assert.equal(store.stats().bytes, 0);
      });

      test(`store.flush() removes everything, returns the count and clears the indexes (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("a", input("v", { tags: ["t"], ttlMs: 1_000 }));
        store.put("b", input("v", { tags: ["t"] }));
        assert.equal(store.flush(), 2);
        assert.equal(store.stats().entries, 0);
        assert.equal(store.stats().bytes, 0);
        store.put("a", input("v2"));
        store.put("b", input("v2"));
        assert.equal(store.invalidateTags(["t"]), 0);
        clock.advance(2_000);
        assert.equal(store.sweepExpired(100), 0);
        assert.equal(store.stats().entries, 2);
        assert.equal(store.stats().evictions, 0, "a flush is not an eviction");
      });
    });

    describe("preconditions", () => {
      test(`store.put() with If-Match naming the current ETag succeeds (${policy})`, () => {
        const { store } = setup(policy);
        const { entry } = store.put("k", input("v1"));
        const result = store.put("k", input("v2"), { ifMatch: ['"other"', formatEtag(entry.version)] });
        assert.equal(result.created, false);
        assert.equal(text(store.peek("k")), "v2");
      });

      test(`store.put() with If-Match not naming the current ETag throws precondition_failed and changes nothing (${policy})`, () => {
        const { store } = setup(policy);
        const first = store.put("k", input("v1", { tags: ["t"] }));
        store.put("k", input("v2", { tags: ["t"] }));
        const before = snapshot(store, ["k"]);
        assert.throws(() => store.put("k", input("v3", { tags: ["u"] }), { ifMatch: [formatEtag(first.entry.version), '"nope"'] }), isPreconditionFailed);
        assert.deepEqual(snapshot(store, ["k"]), before);
        assert.equal(store.invalidateTags(["u"]), 0);
      });

      test(`store.put() with If-Match on an absent key throws precondition_failed and creates nothing (${policy})`, () => {
        const { store } = setup(policy);
        assert.throws(() => store.put("k", input("v"), { ifMatch: "*" }), isPreconditionFailed);
        assert.throws(() => store.put("k", input("v"), { ifMatch: ['"abc-1"'] }), isPreconditionFailed);
        assert.equal(store.peek("k"), undefined);
        assert.equal(store.stats().entries, 0);
        assert.equal(store.stats().bytes, 0);
      });

      test(`store.put() with If-Match * replaces an existing entry (${policy})`, () => {
        const { store } = setup(policy);
        store.put("k", input("v1"));
        assert.equal(store.put("k", input("v2"), { ifMatch: "*" }).created, false);
        assert.equal(text(store.peek("k")), "v2");
      });

      test(`store.put() with If-Match on an expired entry throws precondition_failed (${policy})`, () => {
        const { store, clock } = setup(policy);
        const { entry } = store.put("k", input("v1", { ttlMs: 1_000 }));
        clock.advance(1_000);
        assert.throws(() => store.put("k", input("v2"), { ifMatch: [formatEtag(entry.version)] }), isPreconditionFailed);
        assert.equal(store.peek("k"), undefined);
      });

      test(`store.put() with If-None-Match * creates an absent key but refuses an existing one, changing nothing (${policy})`, () => {
        const { store } = setup(policy);
        assert.equal(store.put("k", input("v1"), { ifNoneMatch: "*" }).created, true);
        const before = snapshot(store, ["k"]);
        assert.throws(() => store.put("k", input("v2"), { ifNoneMatch: "*" }), isPreconditionFailed);
        assert.deepEqual(snapshot(store, ["k"]), before);
      });

      test(`store.put() with If-None-Match * succeeds over an expired entry (${policy})`, () => {
        const { store, clock } = setup(policy);
        store.put("k", input("v1", { ttlMs: 1_000 }));
        clock.advance(1_000);
        assert.equal(store.put("k", input("v2"), { ifNoneMatch: "*" }).created, true);
        assert.equal(text(store.peek("k")), "v2");
      });

      test(`store.put() with an If-None-Match list refuses only when it names the current ETag (${policy})`, () => {
        const { store } = setup(policy);
        const { entry } = store.put("k", input("v1"));
        const etag = formatEtag(entry.version);
        assert.throws(() => store.put("k", input("v2"), { ifNoneMatch: ['"x"', etag] }), isPreconditionFailed);
        assert.equal(text(store.peek("k")), "v1");
        store.put("k", input("v3"), { ifNoneMatch: ['"x"', '"y"'] });
        assert.equal(text(store.peek("k")), "v3");
        assert.equal(store.put("new", input("v"), { ifNoneMatch: [etag] }).created, true);
      });

      test(`store.delete() with If-Match deletes only when the ETag matches (${policy})`, () => {
        const { store } = setup(policy);
        const { entry } = store.put("k", input("v", { tags: ["t"] }));
        const before = snapshot(store, ["k"]);
        assert.throws(() => store.delete("k", { ifMatch: ['"stale"'] }), isPreconditionFailed);
        assert.deepEqual(snapshot(store, ["k"]), before);
        assert.equal(store.delete("k", { ifMatch: [formatEtag(entry.version)] }), true);
        assert.equal(store.peek("k"), undefined);
        assert.throws(() => store.delete("k", { ifMatch: "*" }), isPreconditionFailed);
      });

      test(`store.delete() with If-None-Match * refuses an existing entry (${policy})`, () => {
        const { store } = setup(policy);
        store.put("k", input("v"));
        assert.throws(() => store.delete("k", { ifNoneMatch: "*" }), isPreconditionFailed);
        assert.equal(text(store.peek("k")), "v");
        assert.equal(store.delete("absent", { ifNoneMatch: "*" }), false);
      });
    });

    describe("versions", () => {
      test(`store versions strictly increase across writes even when the wall clock stands still or goes back (${policy})`, () => {
        const { store, clock } = setup(policy);
        const versions = [];
        for (let i = 0; i < 5; i++) versions.push(store.put(i % 2 === 0 ? "a" : "b", input(`${i}`)).entry.version);
        clock.advance(-60_000);
        for (let i = 0; i < 5; i++) versions.push(store.put("a", input(`${i}`)).entry.version);
        clock.advance(120_000);
        versions.push(store.put("a", input("later")).entry.version);
        for (let i = 1; i < versions.length; i++) assert.ok(compareVersions(versions[i], versions[i - 1]) > 0, `write ${i}`);
        assert.equal(new Set(versions.map(formatEtag)).size, versions.length, "every write has a distinct ETag");
      });

      test(`store.put() does not issue a version for a refused write (${policy})`, () => {
        const { store } = setup(policy, 4_096);
        const first = store.put("k", input("v1")).entry.version;
        assert.throws(() => store.put("k", input("v2"), { ifNoneMatch: "*" }));
        assert.throws(() => store.put("k", input("x".repeat(8_192))));
        const second = store.put("k", input("v3")).entry.version;
        assert.equal(second.hlc, first.hlc + 1, "the clock did not tick for the refused writes");
      });
    });

    describe("stats", () => {
      test(`store.stats() starts at zero with maxBytes and a zero hit ratio (${policy})`, () => {
        const { store } = setup(policy, 123_456);
        assert.deepEqual(store.stats(), { hits: 0, misses: 0, evictions: 0, expirations: 0, entries: 0, bytes: 0, maxBytes: 123_456, hitRatio: 0 });
      });

      test(`store.stats() counts hits, misses and the hit ratio (${policy})`, () => {
        const { store } = setup(policy);
        store.put("k", input("v"));
        store.get("k");
        store.get("k");
        store.get("k");
        store.get("absent");
        const stats = store.stats();
        assert.equal(stats.hits, 3);
        assert.equal(stats.misses, 1);
        assert.equal(stats.hitRatio, 0.75);
        assert.equal(stats.entries, 1);
      });
    });
  });
}

describe("store eviction policy", () => {
  test("store.put() with lru evicts the least recently used entry when the byte cap is reached", () => {
    const size = sizeOf("k0", "v");
    const { store } = setup("lru", size * 3);
    store.put("k0", input("v"));
    store.put("k1", input("v"));
    store.put("k2", input("v"));
    store.get("k0");
    store.put("k3", input("v"));
    assert.equal(store.peek("k1"), undefined);
    assert.deepEqual(["k0", "k2", "k3"].map((key) => store.peek(key) !== undefined), [true, true, true]);
  });

  test("store.put() with lfu keeps a frequently read entry over a recently read one", () => {
    const size = sizeOf("hot1", "v");
    const { store } = setup("lfu", size * 2, () => 0);
    store.put("hot1", input("v"));
    store.put("cold", input("v"));
    for (let i = 0; i < 10; i++) store.get("hot1");
    store.get("cold");
    store.put("new1", input("v"));
    assert.equal(store.peek("cold"), undefined);
    assert.ok(store.peek("hot1") !== undefined);
  });

  test("store.put() passes the injected clock to lfu, so an entry hot long ago ages out", () => {
    const size = sizeOf("hot1", "v");
    const { store, clock } = setup("lfu", size * 2, () => 0);
    store.put("hot1", input("v"));
    for (let i = 0; i < 30; i++) store.get("hot1");
    clock.advance(86_400_000);
    store.put("warm", input("v"));
    store.get("warm");
    store.put("new1", input("v"));
    assert.equal(store.peek("hot1"), undefined);
    assert.ok(store.peek("warm") !== undefined);
  });
});
