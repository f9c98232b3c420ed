import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EdgecacheError } from "../../src/core/errors.ts";
import { createSingleFlight } from "../../src/core/single_flight.ts";

/** A promise settled by hand, so a flight stays open exactly as long as the test wants. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("createSingleFlight", () => {
  test("concurrent runs for one key execute work once and all get the same value", async () => {
    const flight = createSingleFlight<{ n: number }>({ maxWaiters: 100 });
    const gate = deferred<{ n: number }>();
    let calls = 0;
    const work = () => {
      calls++;
      return gate.promise;
    };
    const runs = Array.from({ length: 10 }, () => flight.run("k", work));
    assert.equal(flight.active, 1);
    const value = { n: 42 };
    gate.resolve(value);
    const results = await Promise.all(runs);
    assert.equal(calls, 1);
    for (const result of results) assert.equal(result.value, value, "every caller gets the very same value");
    assert.deepEqual(results.map((r) => r.shared), [false, true, true, true, true, true, true, true, true, true]);
    assert.equal(flight.active, 0, "a finished flight is forgotten");
  });

  test("an error wakes every waiter with that error and the next run starts afresh", async () => {
    const flight = createSingleFlight<string>({ maxWaiters: 100 });
    const gate = deferred<string>();
    let calls = 0;
    const runs = Array.from({ length: 5 }, () =>
      flight.run("k", () => {
        calls++;
        return gate.promise;
      }));
    const failure = new EdgecacheError("origin_timeout", "boom");
    gate.reject(failure);
    const settled = await Promise.allSettled(runs);
    assert.equal(calls, 1);
    for (const outcome of settled) {
      assert.equal(outcome.status, "rejected");
      assert.equal((outcome as PromiseRejectedResult).reason, failure);
      assert.equal(((outcome as PromiseRejectedResult).reason as EdgecacheError).code, "origin_timeout");
    }
    assert.equal(flight.active, 0);

    const next = await flight.run("k", () => {
      calls++;
      return Promise.resolve("fresh");
    });
    assert.deepEqual(next, { value: "fresh", shared: false });
    assert.equal(calls, 2, "the run after a failed flight executes its own work");
  });

  test("a run after a successful flight finished executes work again", async () => {
    const flight = createSingleFlight<number>({ maxWaiters: 10 });
    let calls = 0;
    const work = () => Promise.resolve(++calls);
    assert.deepEqual(await flight.run("k", work), { value: 1, shared: false });
    assert.deepEqual(await flight.run("k", work), { value: 2, shared: false });
  });

  test("different keys run independently", async () => {
    const flight = createSingleFlight<string>({ maxWaiters: 10 });
    const gateA = deferred<string>();
    const gateB = deferred<string>();
    const started: string[] = [];
    const a = flight.run("a", () => {
      started.push("a");
      return gateA.promise;
    });
    const b = flight.run("b", () => {
      started.push("b");
      return gateB.promise;
    });
    assert.deepEqual(started, ["a", "b"], "the second key does not wait for the first");
    assert.equal(flight.active, 2);
    gateB.resolve("B");
    assert.deepEqual(await b, { value: "B", shared: false }, "b finishes while a is still running");
    assert.equal(flight.active, 1);
    gateA.resolve("A");
    assert.deepEqual(await a, { value: "A", shared: false });
    assert.equal(flight.active, 0);
  });

  test("a caller beyond maxWaiters gets EdgecacheError overloaded while the others still share", async () => {
    const flight = createSingleFlight<string>({ maxWaiters: 2 });
    const gate = deferred<string>();
    let calls = 0;
    const work = () => {
      calls++;
      return gate.promise;
    };
    const first = flight.run("k", work);
    const waiters = [flight.run("k", work), flight.run("k", work)];
    await assert.rejects(flight.run("k", work), (error: unknown) => {
      assert.ok(error instanceof EdgecacheError);
      assert.equal(error.code, "overloaded");
      return true;
    });
    // Other keys are not affected by one key's full queue.
    assert.deepEqual(await flight.run("other", () => Promise.resolve("x")), { value: "x", shared: false });
    gate.resolve("v");
    assert.deepEqual(await first, { value: "v", shared: false });
    for (const waiter of waiters) assert.deepEqual(await waiter, { value: "v", shared: true });
    assert.equal(calls, 1);
    // The bound is per flight: a new flight accepts waiters again.
    const again = deferred<string>();
    const runs = [flight.run("k", () => again.promise), flight.run("k", work), flight.run("k", work)];
    again.resolve("w");
    assert.deepEqual((await Promise.all(runs)).map((r) => r.value), ["w", "w", "w"]);
  });
});
