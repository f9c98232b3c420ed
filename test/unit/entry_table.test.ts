import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EntryTableOptions } from "../../src/core/entry_table.ts";
import { createLfuTable, type LfuOptions } from "../../src/core/lfu_table.ts";
import { createLruTable } from "../../src/core/lru_table.ts";
import { entryOfSize, runEntryTableContract, tableWithLog } from "./entry_table.contract.ts";
import { createFakeClock, seededRandom } from "./fakes.ts";

runEntryTableContract("lru", (options) => createLruTable(options));

runEntryTableContract("lfu", (options) => {
  const clock = createFakeClock();
  return createLfuTable({ ...options, random: seededRandom(7), now: clock.now });
});

runEntryTableContract("lfu with 2 samples", (options) => {
  // Fewer samples than entries exercises the random-sampling path rather than the exact scan.
  const clock = createFakeClock();
  return createLfuTable({ ...options, random: seededRandom(11), now: clock.now, samples: 2 });
});

describe("lru table policy", () => {
  const lru = (options: EntryTableOptions) => createLruTable(options);

  test("lru table evicts the least recently written entry when nothing was read", () => {
    const { table, evicted } = tableWithLog(lru, 300);
    for (const key of ["a", "b", "c"]) table.set(key, entryOfSize(100));
    table.set("d", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["a"]);
  });

  test("lru table get() makes an entry most recently used, so the next oldest is evicted", () => {
    const { table, evicted } = tableWithLog(lru, 300);
    for (const key of ["a", "b", "c"]) table.set(key, entryOfSize(100));
    table.get("a");
    table.set("d", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["b"]);
    table.get("c");
    table.set("e", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["b", "a"]);
  });

  test("lru table peek() does not refresh recency", () => {
    const { table, evicted } = tableWithLog(lru, 300);
    for (const key of ["a", "b", "c"]) table.set(key, entryOfSize(100));
    table.peek("a");
    table.set("d", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["a"]);
  });

  test("lru table replacing an entry makes it most recently used", () => {
    const { table, evicted } = tableWithLog(lru, 300);
    for (const key of ["a", "b", "c"]) table.set(key, entryOfSize(100));
    table.set("a", entryOfSize(100));
    table.set("d", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["b"]);
  });
});

describe("lfu table policy", () => {
  /** `random` always 0 makes every access bump the counter, so frequencies are exact. */
  function lfu(clock = createFakeClock(), extra: Partial<LfuOptions> = {}) {
    return (options: EntryTableOptions) => createLfuTable({ ...options, random: () => 0, now: clock.now, ...extra });
  }

  test("lfu table keeps a frequently read key over a once-read key, even when the latter was used more recently", () => {
    const clock = createFakeClock();
    const { table, evicted } = tableWithLog(lfu(clock), 200);
    table.set("hot", entryOfSize(100));
    clock.advance(1_000);
    table.set("cold", entryOfSize(100));
    for (let i = 0; i < 10; i++) table.get("hot");
    clock.advance(1_000);
    table.get("cold");
    table.set("new", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["cold"], "an LRU would have evicted hot here");
    assert.ok(table.peek("hot") !== undefined);
  });

  test("lfu table counters age: a key hot long ago is evicted before a recently warm key", () => {
    const clock = createFakeClock();
    const { table, evicted } = tableWithLog(lfu(clock), 200);
    table.set("once-hot", entryOfSize(100));
    for (let i = 0; i < 50; i++) table.get("once-hot");
    clock.advance(2 * 3_600_000); // 120 decay periods of 60 s
    table.set("warm", entryOfSize(100));
    table.get("warm");
    table.get("warm");
    table.set("new", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["once-hot"]);
  });

  test("lfu table keeps a hot key over a warm key while its counter has not decayed", () => {
    const clock = createFakeClock();
    const { table, evicted } = tableWithLog(lfu(clock), 200);
    table.set("once-hot", entryOfSize(100));
    for (let i = 0; i < 50; i++) table.get("once-hot");
    clock.advance(60_000); // one decay period: 55 -> 54, still far above the warm key
    table.set("warm", entryOfSize(100));
    table.get("warm");
    table.get("warm");
    table.set("new", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["warm"]);
  });

  test("lfu table evicts the longest idle entry among equally frequent ones", () => {
    const clock = createFakeClock();
    const { table, evicted } = tableWithLog(lfu(clock), 300);
    table.set("b", entryOfSize(100));
    clock.advance(10);
    table.set("a", entryOfSize(100));
    clock.advance(10);
    table.set("c", entryOfSize(100));
    clock.advance(10);
    table.set("d", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["b"]);
  });

  test("lfu table peek() does not count as an access", () => {
    const clock = createFakeClock();
    const { table, evicted } = tableWithLog(lfu(clock), 200);
    table.set("peeked", entryOfSize(100));
    clock.advance(10);
    table.set("other", entryOfSize(100));
    for (let i = 0; i < 10; i++) table.peek("peeked");
    table.set("new", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["peeked"]);
  });

  test("lfu table counters grow logarithmically: with random 0.5 repeated reads stop counting after the first", () => {
    const clock = createFakeClock();
    const { table, evicted } = tableWithLog(
      (options) => createLfuTable({ ...options, random: () => 0.5, now: clock.now }),
      200,
    );
    // Both counters start at 5; one read lifts each to 6 (probability 1); from 6 a bump needs
    // random < 1/11, so a thousand more reads of "many" leave the two tied and idle time decides.
    table.set("many", entryOfSize(100));
    table.set("one", entryOfSize(100));
    for (let i = 0; i < 1_000; i++) table.get("many");
    clock.advance(10);
    table.get("one");
    table.set("new", entryOfSize(100));
    assert.deepEqual(evicted.map(([key]) => key), ["many"]);
  });

  test("lfu table set() still evicts down to maxBytes when every sampled candidate is the key being written", () => {
    // One sample per eviction and a random that always draws the first slot: the sampler keeps
    // landing on the protected key being written and must still find another victim.
    const clock = createFakeClock();
    const { table, evicted } = tableWithLog(lfu(clock, { samples: 1 }), 300);
    for (const key of ["a", "b", "c"]) table.set(key, entryOfSize(100));
    table.set("a", entryOfSize(200));
    assert.equal(evicted.length, 1);
    assert.notEqual(evicted[0][0], "a");
    assert.ok(table.bytes <= 300, `bytes ${table.bytes} exceed maxBytes 300`);
    assert.equal(table.bytes, 300);
  });
});
