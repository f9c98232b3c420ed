import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EdgecacheError, type ErrorCode } from "../../src/core/errors.ts";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { createStore, type Store } from "../../src/core/store.ts";
import type { OriginAnswer, OriginClient } from "../../src/origin/origin_client.ts";
import { createOriginLoader, createReadThrough, type Loader, type LoadResult, type ReadOutcome, type ReadThroughConfig } from "../../src/origin/read_through.ts";
import { createFakeClock, type FakeClock, seededRandom } from "./fakes.ts";
import { rejectionCode, until } from "../helpers/async_assert.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const CONFIG: ReadThroughConfig = {
  defaultTtlMs: 60_000,
  maxTtlMs: 3_600_000,
  negativeTtlMs: 0,
  staleWhileRevalidateMs: 0,
  staleIfErrorMs: 0,
  maxWaitersPerKey: 10_000,
};

/** A gate that holds callers until `open()`; opened gates let everyone through at once. */
function createGate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** An in-memory loader: counts calls, stores what it returns, and can fail or block. */
interface FakeLoader extends Loader {
  calls: string[];
  /** What the next loads produce. */
  mode: { kind: "value"; text: string; ttlMs: number } | { kind: "absent" } | { kind: "fail"; code: ErrorCode };
  /** While set, loads wait here before answering. */
  gate: Promise<void> | undefined;
}

function fakeLoader(store: Store): FakeLoader {
  const loader: FakeLoader = {
    calls: [],
    mode: { kind: "value", text: "from origin", ttlMs: 60_000 },
    gate: undefined,
    async load(key): Promise<LoadResult> {
      loader.calls.push(key);
      const mode = loader.mode;
      if (loader.gate !== undefined) await loader.gate;
      if (mode.kind === "fail") throw new EdgecacheError(mode.code, "fake origin failure");
      if (mode.kind === "absent") return { kind: "absent", stored: false };
      const { entry } = store.put(key, { value: encoder.encode(mode.text), contentType: "text/plain", tags: [], ttlMs: mode.ttlMs });
      return { kind: "value", entry, stored: true };
    },
  };
  return loader;
}

interface Setup {
  clock: FakeClock;
  store: Store;
  loader: FakeLoader;
  read: (key: string) => Promise<ReadOutcome>;
  collapsed: number[];
  stale: string[];
  refreshErrors: unknown[];
}

function setup(overrides: Partial<ReadThroughConfig> = {}, retainStaleMs = 0): Setup {
  const config = { ...CONFIG, ...overrides };
  const clock = createFakeClock();
  const store = createStore({ maxBytes: 1_000_000, eviction: "lru", retainStaleMs }, { now: clock.now, random: seededRandom(7), clock: createHybridClock({ nodeId: "n1", now: clock.now }) });
  const loader = fakeLoader(store);
  const counters = { collapsed: [0], stale: [] as string[], refreshErrors: [] as unknown[] };
  const readThrough = createReadThrough(config, {
    store,
    loader,
    now: clock.now,
    onCollapsed: () => counters.collapsed[0]++,
    onStale: (reason) => counters.stale.push(reason),
    onRefreshError: (_key, error) => counters.refreshErrors.push(error),
  });
  return { clock, store, loader, read: (key) => readThrough.read(key, "req"), ...counters };
}

function put(store: Store, key: string, text: string, ttlMs: number) {
  return store.put(key, { value: encoder.encode(text), contentType: "text/plain", tags: [], ttlMs }).entry;
}

function textOf(outcome: ReadOutcome): string {
  assert.ok(outcome.kind === "hit" || outcome.kind === "fetched" || outcome.kind === "stale", `expected a value, got ${outcome.kind}`);
  return decoder.decode(outcome.entry.value);
}

describe("createReadThrough", () => {
  test("a fresh hit is served from the store and never loads", async () => {
    const { store, loader, read } = setup();
    const stored = put(store, "k", "cached", 10_000);
    for (let i = 0; i < 3; i++) {
      const outcome = await read("k");
      assert.equal(outcome.kind, "hit");
      if (outcome.kind === "hit") assert.equal(outcome.entry, stored);
    }
    assert.deepEqual(loader.calls, []);
  });

  test("concurrent misses for one key load once; every waiter's outcome is marked collapsed", async () => {
    const s = setup();
    const gate = createGate();
    s.loader.gate = gate.promise;
    const reads = Array.from({ length: 50 }, () => s.read("k"));
    gate.open();
    const outcomes = await Promise.all(reads);
    assert.deepEqual(s.loader.calls, ["k"]);
    for (const [i, outcome] of outcomes.entries()) {
      assert.equal(outcome.kind, "fetched");
      if (outcome.kind !== "fetched") continue;
      assert.equal(outcome.collapsed, i > 0, `read ${i}`);
      assert.equal(outcome.stored, true);
      assert.equal(outcome.entry, (outcomes[0] as { entry: unknown }).entry, "all get the very same entry");
    }
    assert.equal(s.collapsed[0], 49);
    // Filled now: the next read is a hit.
    assert.equal((await s.read("k")).kind, "hit");
    assert.equal(s.loader.calls.length, 1);
  });

  test("misses for different keys load independently", async () => {
    const s = setup();
    const gate = createGate();
    s.loader.gate = gate.promise;
    const reads = [s.read("a"), s.read("b"), s.read("a")];
    assert.deepEqual(s.loader.calls, ["a", "b"], "b's load starts while a's is still running");
    gate.open();
    const outcomes = await Promise.all(reads);
    assert.deepEqual(s.loader.calls, ["a", "b"]);
    assert.deepEqual(outcomes.map((o) => o.kind === "fetched" && o.collapsed), [false, false, true]);
  });

  test("a miss whose load fails throws its code, and the next read loads afresh", async () => {
    const s = setup({ staleIfErrorMs: 60_000 }, 60_000);
    s.loader.mode = { kind: "fail", code: "origin_unreachable" };
    assert.equal(await rejectionCode(s.read("k")), "origin_unreachable", "nothing stale to fall back on");
    s.loader.mode = { kind: "value", text: "recovered", ttlMs: 1000 };
    assert.equal(textOf(await s.read("k")), "recovered");
    assert.equal(s.loader.calls.length, 2);
  });

  test("within stale-while-revalidate, stale reads return at once and trigger exactly one background load", async () => {
    const s = setup({ staleWhileRevalidateMs: 5_000 }, 5_000);
    put(s.store, "k", "old", 10_000);
    s.clock.advance(12_000);
    const gate = createGate();
    s.loader.gate = gate.promise;
    s.loader.mode = { kind: "value", text: "new", ttlMs: 10_000 };
    // The load is blocked, so these can only resolve by serving the stale entry.
    const outcomes = await Promise.all(Array.from({ length: 100 }, () => s.read("k")));
    for (const outcome of outcomes) {
      assert.equal(outcome.kind, "stale");
      if (outcome.kind !== "stale") continue;
      assert.equal(outcome.reason, "stale-while-revalidate");
      assert.equal(outcome.staleMs, 2_000);
      assert.equal(decoder.decode(outcome.entry.value), "old");
    }
    assert.deepEqual(s.loader.calls, ["k"], "one refresh for 100 stale reads");
    assert.equal(s.stale.length, 100);
    assert.ok(s.stale.every((reason) => reason === "stale-while-revalidate"));
    gate.open();
    await until(() => s.store.peek("k") !== undefined, "the refresh to store the new value");
    const after = await s.read("k");
    assert.equal(after.kind, "hit");
    assert.equal(textOf(after), "new");
    assert.equal(s.loader.calls.length, 1);
    assert.deepEqual(s.refreshErrors, []);
  });

  test("a failed background refresh is reported, the stale entry is still served, and the next stale read retries", async () => {
    const s = setup({ staleWhileRevalidateMs: 5_000 }, 5_000);
    put(s.store, "k", "old", 1_000);
    s.clock.advance(2_000);
    s.loader.mode = { kind: "fail", code: "origin_error" };
    const first = await s.read("k");
    assert.equal(first.kind, "stale");
    await until(() => s.refreshErrors.length === 1, "the refresh error to be reported");
    assert.equal((s.refreshErrors[0] as EdgecacheError).code, "origin_error");
    const second = await s.read("k");
    assert.equal(second.kind, "stale");
    assert.equal(textOf(second), "old");
    await until(() => s.loader.calls.length === 2, "a second refresh");
  });

  test("beyond stale-while-revalidate but within stale-if-error, a failing load serves the stale entry", async () => {
    const s = setup({ staleWhileRevalidateMs: 5_000, staleIfErrorMs: 60_000 }, 60_000);
    put(s.store, "k", "old", 10_000);
    s.clock.advance(10_000 + 30_000);
    for (const code of ["origin_error", "origin_unreachable", "origin_timeout", "origin_circuit_open", "overloaded"] as const) {
      s.loader.mode = { kind: "fail", code };
      const outcome = await s.read("k");
      assert.equal(outcome.kind, "stale", code);
      if (outcome.kind !== "stale") continue;
      assert.equal(outcome.reason, "stale-if-error");
      assert.equal(outcome.staleMs, 30_000);
      assert.equal(outcome.error?.code, code);
      assert.equal(decoder.decode(outcome.entry.value), "old");
    }
    assert.equal(s.loader.calls.length, 5, "beyond SWR each read waits on its own load");
    assert.ok(s.stale.every((reason) => reason === "stale-if-error"));
  });

  test("beyond stale-while-revalidate, a successful load replaces the stale entry", async () => {
    const s = setup({ staleWhileRevalidateMs: 5_000, staleIfErrorMs: 60_000 }, 60_000);
    put(s.store, "k", "old", 1_000);
    s.clock.advance(20_000);
    s.loader.mode = { kind: "value", text: "new", ttlMs: 1_000 };
    const outcome = await s.read("k");
    assert.equal(outcome.kind, "fetched");
    assert.equal(textOf(outcome), "new");
  });

  test("errors that are not origin failures are thrown even when a stale entry is within stale-if-error", async () => {
    const s = setup({ staleIfErrorMs: 60_000 }, 60_000);
    put(s.store, "k", "old", 1_000);
    s.clock.advance(2_000);
    s.loader.mode = { kind: "fail", code: "internal" };
    assert.equal(await rejectionCode(s.read("k")), "internal");
  });

  test("beyond both windows, the load's error is thrown", async () => {
    const s = setup({ staleWhileRevalidateMs: 5_000, staleIfErrorMs: 20_000 }, 120_000);
    put(s.store, "k", "old", 1_000);
    s.clock.advance(1_000 + 20_001);
    s.loader.mode = { kind: "fail", code: "origin_timeout" };
    assert.ok(s.store.lookup("k") !== undefined, "the entry is still retained");
    assert.equal(await rejectionCode(s.read("k")), "origin_timeout");
    assert.deepEqual(s.stale, []);
  });

  test("exactly at the stale-if-error boundary the stale entry is still served", async () => {
    const s = setup({ staleIfErrorMs: 20_000 }, 20_001);
    put(s.store, "k", "old", 1_000);
    s.clock.advance(1_000 + 20_000);
    s.loader.mode = { kind: "fail", code: "origin_error" };
    assert.equal((await s.read("k")).kind, "stale");
  });

  test("a fresh negative entry answers absent from the cache without loading", async () => {
    const s = setup({ negativeTtlMs: 10_000 });
    s.store.put("gone", { value: new Uint8Array(0), contentType: "", tags: [], ttlMs: 10_000, negative: true });
    assert.deepEqual(await s.read("gone"), { kind: "absent", cached: true, collapsed: false, stored: false });
    assert.deepEqual(s.loader.calls, []);
  });

  test("an expired negative entry is never served stale: the key is loaded again", async () => {
    const s = setup({ staleWhileRevalidateMs: 60_000, staleIfErrorMs: 60_000 }, 60_000);
    s.store.put("gone", { value: new Uint8Array(0), contentType: "", tags: [], ttlMs: 1_000, negative: true });
    s.clock.advance(2_000);
    s.loader.mode = { kind: "value", text: "exists now", ttlMs: 1_000 };
    assert.equal(textOf(await s.read("gone")), "exists now");
    s.store.put("gone2", { value: new Uint8Array(0), contentType: "", tags: [], ttlMs: 1_000, negative: true });
    s.clock.advance(2_000);
    s.loader.mode = { kind: "fail", code: "origin_error" };
    assert.equal(await rejectionCode(s.read("gone2")), "origin_error", "no stale-if-error from a remembered absence");
  });

  test("an absent load is reported as an uncached absence, collapsed for waiters", async () => {
    const s = setup();
    s.loader.mode = { kind: "absent" };
    const outcomes = await Promise.all([s.read("k"), s.read("k")]);
    assert.deepEqual(outcomes, [
      { kind: "absent", cached: false, collapsed: false, stored: false },
      { kind: "absent", cached: false, collapsed: true, stored: false },
    ]);
    assert.equal(s.loader.calls.length, 1);
  });

  test("more waiters than maxWaitersPerKey get overloaded", async () => {
    const s = setup({ maxWaitersPerKey: 2 });
    const gate = createGate();
    s.loader.gate = gate.promise;
    const reads = Array.from({ length: 4 }, () => s.read("k"));
    const settled = Promise.allSettled(reads);
    gate.open();
    const results = await settled;
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "fulfilled", "rejected"]);
    assert.equal(((results[3] as PromiseRejectedResult).reason as EdgecacheError).code, "overloaded");
    assert.equal(s.loader.calls.length, 1);
  });
});

/** A stand-in OriginClient: scripted answers, counted calls, optionally held until released. */
function fakeOrigin(answer: OriginAnswer | EdgecacheError) {
  const origin = {
    answer,
    calls: [] as string[],
    gate: undefined as Promise<void> | undefined,
    async fetch(key: string, _requestId: string): Promise<OriginAnswer> {
      origin.calls.push(key);
      if (origin.gate !== undefined) await origin.gate;
      if (origin.answer instanceof EdgecacheError) throw origin.answer;
      return origin.answer;
    },
    breakerState: () => "closed" as const,
  };
  return origin satisfies OriginClient;
}

function ok(text: string, freshness: OriginAnswer["freshness"] = { storable: true }): OriginAnswer {
  return { status: 200, body: encoder.encode(text), contentType: "text/x-origin", freshness };
}

function loaderSetup(answer: OriginAnswer | EdgecacheError, overrides: Partial<ReadThroughConfig> = {}, storeOptions: { maxBytes?: number; retainStaleMs?: number } = {}) {
  const clock = createFakeClock();
  const store = createStore(
    { maxBytes: storeOptions.maxBytes ?? 1_000_000, eviction: "lru", retainStaleMs: storeOptions.retainStaleMs ?? 0 },
    { now: clock.now, random: seededRandom(1), clock: createHybridClock({ nodeId: "n1", now: clock.now }) },
  );
  const origin = fakeOrigin(answer);
  const loader = createOriginLoader(store, origin, { ...CONFIG, ...overrides }, clock.now);
  return { clock, store, origin, loader };
}

describe("createOriginLoader", () => {
  test("re-checks the store first: a key someone filled is returned without a fetch", async () => {
    const { store, origin, loader } = loaderSetup(ok("origin"));
    const filled = put(store, "k", "filled meanwhile", 10_000);
    assert.deepEqual(await loader.load("k", "r"), { kind: "value", entry: filled, stored: false });
    store.put("neg", { value: new Uint8Array(0), contentType: "", tags: [], ttlMs: 10_000, negative: true });
    assert.deepEqual(await loader.load("neg", "r"), { kind: "absent", stored: false });
    assert.deepEqual(origin.calls, []);
  });

  test("stores a 200 with the TTL from its freshness", async () => {
    const { clock, store, origin, loader } = loaderSetup(ok("v", { storable: true, ttlMs: 30_000 }));
    const result = await loader.load("k", "r");
    assert.equal(result.kind, "value");
    if (result.kind !== "value") return;
    assert.equal(result.stored, true);
    assert.equal(result.entry.expiresAt, clock.now() + 30_000);
    assert.equal(result.entry.contentType, "text/x-origin");
    const kept = store.peek("k");
    assert.equal(kept, result.entry);
    assert.equal(decoder.decode(kept?.value), "v");
    assert.deepEqual(origin.calls, ["k"]);
  });

  test("uses the default TTL when the origin gives none", async () => {
    const { clock, loader } = loaderSetup(ok("v"), { defaultTtlMs: 45_000 });
    const result = await loader.load("k", "r");
    assert.equal(result.kind === "value" && result.entry.expiresAt, clock.now() + 45_000);
  });

  test("caps the origin's TTL at maxTtl", async () => {
    const { clock, loader } = loaderSetup(ok("v", { storable: true, ttlMs: 100 * 3_600_000 }), { maxTtlMs: 3_600_000 });
    const result = await loader.load("k", "r");
    assert.equal(result.kind === "value" && result.entry.expiresAt, clock.now() + 3_600_000);
  });

  test("does not store no-store, private or max-age=0 answers but still returns them", async () => {
    for (const freshness of [{ storable: false }, { storable: false, ttlMs: 60_000 }, { storable: true, ttlMs: 0 }]) {
      const { store, loader } = loaderSetup(ok("serve once", freshness));
      const result = await loader.load("k", "r");
      assert.equal(result.kind, "value");
      if (result.kind !== "value") continue;
      assert.equal(result.stored, false, JSON.stringify(freshness));
      assert.equal(decoder.decode(result.entry.value), "serve once");
      assert.equal(result.entry.contentType, "text/x-origin");
      assert.equal(store.peek("k"), undefined, JSON.stringify(freshness));
      assert.equal(store.stats().entries, 0);
    }
  });

  test("stores a 404 as a negative entry for negativeTtlMs", async () => {
    const { clock, store, loader } = loaderSetup({ status: 404, freshness: { storable: true } }, { negativeTtlMs: 15_000 });
    assert.deepEqual(await loader.load("k", "r"), { kind: "absent", stored: true });
    const kept = store.peek("k");
    assert.equal(kept?.negative, true);
    assert.equal(kept?.expiresAt, clock.now() + 15_000);
  });

  test("does not remember a 404 when negativeTtlMs is 0 or the 404 says no-store", async () => {
    const zero = loaderSetup({ status: 404, freshness: { storable: true } }, { negativeTtlMs: 0 });
    assert.deepEqual(await zero.loader.load("k", "r"), { kind: "absent", stored: false });
    assert.equal(zero.store.stats().entries, 0);
    const noStore = loaderSetup({ status: 404, freshness: { storable: false } }, { negativeTtlMs: 15_000 });
    assert.deepEqual(await noStore.loader.load("k", "r"), { kind: "absent", stored: false });
    assert.equal(noStore.store.stats().entries, 0);
  });

  test("does not overwrite a value a client PUT while the fetch was in flight", async () => {
    for (const answer of [ok("origin", { storable: true, ttlMs: 60_000 }), { status: 404, freshness: { storable: true } } as OriginAnswer]) {
      const { clock, store, origin, loader } = loaderSetup(answer, { negativeTtlMs: 60_000 });
      const gate = createGate();
      origin.gate = gate.promise;
      const loading = loader.load("k", "r");
      await until(() => origin.calls.length === 1, "the fetch to start");
      clock.advance(5);
      const client = put(store, "k", "client wrote this", 0);
      gate.open();
      const result = await loading;
      assert.equal(result.stored, false);
      assert.equal(store.peek("k"), client, `the client's write survives an origin ${answer.status}`);
      assert.equal(decoder.decode(store.peek("k")?.value), "client wrote this");
    }
  });

  test("a stale copy in the store is replaced by the fetched value", async () => {
    const { clock, store, loader } = loaderSetup(ok("fresh", { storable: true, ttlMs: 1_000 }), {}, { retainStaleMs: 60_000 });
    put(store, "k", "stale", 1_000);
    clock.advance(5_000);
    const result = await loader.load("k", "r");
    assert.equal(result.stored, true);
    assert.equal(decoder.decode(store.peek("k")?.value), "fresh");
  });

  test("a value too large for the store's memory cap is returned but not stored", async () => {
    const { store, loader } = loaderSetup(ok("x".repeat(2_000)), {}, { maxBytes: 1_000 });
    const result = await loader.load("k", "r");
    assert.equal(result.kind, "value");
    assert.equal(result.stored, false);
    assert.equal(store.peek("k"), undefined);
  });

  test("origin errors propagate with their code and store nothing", async () => {
    const { store, loader } = loaderSetup(new EdgecacheError("origin_timeout", "slow"), { negativeTtlMs: 10_000 });
    assert.equal(await rejectionCode(loader.load("k", "r")), "origin_timeout");
    assert.equal(store.stats().entries, 0);
  });

  test("with createReadThrough, concurrent misses make one origin call and later reads are hits", async () => {
    const { store, origin, loader, clock } = loaderSetup(ok("shared", { storable: true, ttlMs: 60_000 }));
    const readThrough = createReadThrough(CONFIG, { store, loader, now: clock.now });
    const gate = createGate();
    origin.gate = gate.promise;
    const reads = Array.from({ length: 20 }, () => readThrough.read("k", "r"));
    gate.open();
    const outcomes = await Promise.all(reads);
    assert.deepEqual(origin.calls, ["k"]);
    assert.ok(outcomes.every((o) => o.kind === "fetched" && o.stored && decoder.decode(o.entry.value) === "shared"));
    assert.equal((await readThrough.read("k", "r")).kind, "hit");
    assert.equal(origin.calls.length, 1);
  });
});
