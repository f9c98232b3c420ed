/**
 * The behaviour every `EntryTable` (eviction policy) must show, whatever it evicts first.
 * `entry_table.test.ts` runs it against each implementation; a new policy only needs one more call.
 * Not a test file itself: its name does not end in `.test.ts`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { StoredEntry } from "../../src/core/entry.ts";
import type { EntryTable, EntryTableOptions } from "../../src/core/entry_table.ts";
import { seededRandom } from "./fakes.ts";

/** Builds a fresh table of the implementation under test. */
export type EntryTableFactory = (options: EntryTableOptions) => EntryTable;

let serial = 0;

/** An entry whose `size` is exactly `size`: the table must trust it, never measure the value. */
export function entryOfSize(size: number, label = "v"): StoredEntry {
  serial++;
  return {
    value: new TextEncoder().encode(`${label}-${serial}`),
    contentType: "application/octet-stream",
    version: { hlc: serial, node: 1 },
    tags: [],
    storedAt: 0,
    expiresAt: 0,
    size,
  };
}

/** A table plus a log of everything it reported through `onEvict`. */
export function tableWithLog(factory: EntryTableFactory, maxBytes: number): { table: EntryTable; evicted: Array<[string, StoredEntry]> } {
  const evicted: Array<[string, StoredEntry]> = [];
  const table = factory({ maxBytes, onEvict: (key, entry) => evicted.push([key, entry]) });
  return { table, evicted };
}

/** Runs the shared behavioural tests against `factory` under a describe block named `name`. */
export function runEntryTableContract(name: string, factory: EntryTableFactory): void {
  describe(`${name} entry table contract`, () => {
    test(`${name}: get() and peek() return the entry set() stored, and undefined for absent keys`, () => {
      const { table } = tableWithLog(factory, 1000);
      const a = entryOfSize(100);
      table.set("a", a);
      assert.equal(table.get("a"), a);
      assert.equal(table.peek("a"), a);
      assert.equal(table.get("b"), undefined);
      assert.equal(table.peek("b"), undefined);
    });

    test(`${name}: bytes and count grow and shrink exactly with entry sizes`, () => {
      const { table, evicted } = tableWithLog(factory, 10_000);
      assert.equal(table.bytes, 0);
      assert.equal(table.count, 0);
      table.set("a", entryOfSize(100));
      table.set("b", entryOfSize(250));
      table.set("c", entryOfSize(1));
      assert.equal(table.bytes, 351);
      assert.equal(table.count, 3);
      assert.equal(table.delete("b"), true);
      assert.equal(table.bytes, 101);
      assert.equal(table.count, 2);
      table.delete("a");
      table.delete("c");
      assert.equal(table.bytes, 0);
      assert.equal(table.count, 0);
      assert.deepEqual(evicted.map(([key]) => key), []);
    });

    test(`${name}: replacing a key adjusts bytes by the size difference and is not an eviction`, () => {
      const { table, evicted } = tableWithLog(factory, 10_000);
      table.set("a", entryOfSize(100));
      table.set("b", entryOfSize(100));
      const bigger = entryOfSize(700);
      table.set("a", bigger);
      assert.equal(table.bytes, 800);
      assert.equal(table.count, 2);
      assert.equal(table.peek("a"), bigger);
      const smaller = entryOfSize(10);
      table.set("a", smaller);
      assert.equal(table.bytes, 110);
      assert.equal(table.peek("a"), smaller);
      assert.deepEqual(evicted.map(([key]) => key), []);
    });

    test(`${name}: delete() reports whether the key was present and is never reported as an eviction`, () => {
      const { table, evicted } = tableWithLog(factory, 1000);
      table.set("a", entryOfSize(100));
      assert.equal(table.delete("a"), true);
      assert.equal(table.delete("a"), false);
      assert.equal(table.delete("never"), false);
      assert.equal(table.peek("a"), undefined);
      assert.deepEqual(evicted.map(([key]) => key), []);
    });

    test(`${name}: set() evicts just enough entries to stay within maxBytes and reports each one`, () => {
      const { table, evicted } = tableWithLog(factory, 1000);
      const stored = new Map<string, StoredEntry>();
      for (const key of ["a", "b", "c", "d"]) {
        const entry = entryOfSize(250);
        stored.set(key, entry);
        table.set(key, entry);
      }
      assert.equal(table.bytes, 1000);
      assert.deepEqual(evicted.map(([key]) => key), []);
      table.set("e", entryOfSize(250));
      assert.equal(evicted.length, 1, "one 250-byte entry makes room for one 250-byte entry");
      const [victimKey, victimEntry] = evicted[0];
      assert.equal(victimEntry, stored.get(victimKey), "onEvict hands over the evicted key's own entry");
      assert.equal(table.peek(victimKey), undefined);
      assert.equal(table.count, 4);
      assert.equal(table.bytes, 1000);
    });

    test(`${name}: set() evicts several entries when a large entry needs their room`, () => {
      const { table, evicted } = tableWithLog(factory, 1000);
      for (const key of ["a", "b", "c", "d", "e"]) table.set(key, entryOfSize(200));
      table.set("big", entryOfSize(700));
      assert.ok(table.peek("big") !== undefined, "the entry being stored is kept");
      assert.equal(evicted.length, 4, "700 bytes need four of the five 200-byte entries gone");
      assert.equal(table.count, 2);
      assert.equal(table.bytes, 900);
    });

    test(`${name}: an entry of exactly maxBytes evicts everything else and is kept`, () => {
      const { table, evicted } = tableWithLog(factory, 1000);
      for (const key of ["a", "b", "c"]) table.set(key, entryOfSize(300));
      const whole = entryOfSize(1000);
      table.set("whole", whole);
      assert.equal(table.peek("whole"), whole);
      assert.deepEqual(evicted.map(([key]) => key).sort(), ["a", "b", "c"]);
      assert.equal(table.count, 1);
      assert.equal(table.bytes, 1000);
    });

    test(`${name}: growing an existing entry evicts other entries, never the one being replaced`, () => {
      const { table, evicted } = tableWithLog(factory, 1000);
      for (const key of ["a", "b", "c", "d"]) table.set(key, entryOfSize(250));
      const grown = entryOfSize(600);
      table.set("a", grown);
      assert.equal(table.peek("a"), grown);
      assert.ok(!evicted.some(([key]) => key === "a"));
      assert.equal(evicted.length, 2, "1350 bytes need two 250-byte entries gone");
      assert.equal(table.bytes, 850);
      assert.equal(table.count, 2);
    });

    test(`${name}: keys() lists every key and survives deleting keys while iterating`, () => {
      const { table } = tableWithLog(factory, 10_000);
      for (const key of ["a", "b/c", "d", "é"]) table.set(key, entryOfSize(10));
      const seen: string[] = [];
      for (const key of table.keys()) {
        seen.push(key);
        table.delete(key);
      }
      assert.deepEqual(seen.sort(), ["a", "b/c", "d", "é"]);
      assert.equal(table.count, 0);
      assert.equal(table.bytes, 0);
    });

    test(`${name}: clear() empties the table without reporting evictions and leaves it usable`, () => {
      const { table, evicted } = tableWithLog(factory, 1000);
      for (const key of ["a", "b", "c"]) table.set(key, entryOfSize(300));
      table.clear();
      assert.equal(table.count, 0);
      assert.equal(table.bytes, 0);
      assert.equal(table.peek("a"), undefined);
      assert.deepEqual(Array.from(table.keys()), []);
      assert.deepEqual(evicted.map(([key]) => key), []);
      for (const key of ["x", "y", "z"]) table.set(key, entryOfSize(300));
      assert.equal(table.bytes, 900);
      assert.deepEqual(evicted.map(([key]) => key), [], "the cleared entries no longer take room");
    });

    test(`${name}: under a random workload bytes always equals the sum of held sizes and never exceeds maxBytes`, () => {
      const maxBytes = 5_000;
      const { table, evicted } = tableWithLog(factory, maxBytes);
      const model = new Map<string, StoredEntry>();
      const random = seededRandom(42);
      for (let step = 0; step < 3_000; step++) {
        const key = `k${Math.floor(random() * 60)}`;
        const roll = random();
        evicted.length = 0;
        if (roll < 0.55) {
          const entry = entryOfSize(1 + Math.floor(random() * 900));
          table.set(key, entry);
          model.set(key, entry);
        } else if (roll < 0.85) {
          assert.equal(table.get(key), model.get(key));
        } else {
          assert.equal(table.delete(key), model.delete(key));
        }
        for (const [victim, entry] of evicted) {
          assert.notEqual(victim, key, "the key just written is never its own victim");
          assert.equal(model.get(victim), entry);
          model.delete(victim);
        }
        let sum = 0;
        for (const entry of model.values()) sum += entry.size;
        assert.equal(table.bytes, sum, `step ${step}`);
        assert.equal(table.count, model.size, `step ${step}`);
        assert.ok(table.bytes <= maxBytes, `step ${step}: ${table.bytes} > ${maxBytes}`);
      }
      for (const [key, entry] of model) assert.equal(table.peek(key), entry);
      assert.deepEqual(Array.from(table.keys()).sort(), Array.from(model.keys()).sort());
    });
  });
}
