import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StoreChange } from "../../src/core/store.ts";
import { changeBytes, createChangeQueue } from "../../src/persist/change_queue.ts";
import { T0 } from "./helpers.ts";

function put(key: string, hlc: number, size = 10): StoreChange {
  return { kind: "put", key, entry: { value: new Uint8Array(size), contentType: "text/plain", version: { hlc, node: 1 }, tags: [], storedAt: T0, expiresAt: 0, size: 0 } };
}
const del = (key: string, hlc: number): StoreChange => ({ kind: "delete", key, version: { hlc, node: 1 } });
const keysOf = (changes: StoreChange[]) => changes.map((change) => (change.kind === "flush" ? "<flush>" : `${change.key}@${change.kind === "put" ? change.entry.version.hlc : change.version.hlc}`));

describe("the file log's change queue", () => {
  test("keeps only the newest change per key, in the order keys last changed", () => {
    const queue = createChangeQueue(1024 * 1024);
    queue.push(put("a", 1), T0);
    queue.push(put("b", 2), T0);
    queue.push(del("a", 3), T0);
    assert.equal(queue.depth, 2);
    assert.deepEqual(keysOf(queue.take(1024 * 1024)!.changes), ["b@2", "a@3"]);
    assert.equal(queue.depth, 0);
    assert.equal(queue.bytes, 0);
  });

  test("a flush supersedes everything queued before it and is written first", () => {
    const queue = createChangeQueue(1024 * 1024);
    queue.push(put("a", 1), T0);
    queue.push({ kind: "flush", version: { hlc: 2, node: 1 } }, T0);
    queue.push(put("b", 3), T0);
    assert.deepEqual(keysOf(queue.take(1024 * 1024)!.changes), ["<flush>", "b@3"]);
  });

  test("take() respects the batch size but always takes at least one change", () => {
    const queue = createChangeQueue(1024 * 1024);
    for (let i = 0; i < 10; i++) queue.push(put(`k${i}`, i, 1000), T0);
    const first = queue.take(2500)!;
    assert.equal(first.changes.length, 2);
    const huge = createChangeQueue(1024 * 1024);
    huge.push(put("big", 1, 100_000), T0);
    assert.equal(huge.take(10)!.changes.length, 1);
  });

  test("overflow drops the oldest changes, counts them, and the byte bound holds", () => {
    const max = 10 * changeBytes(put("k00", 0, 100));
    const queue = createChangeQueue(max);
    let dropped = 0;
    for (let i = 0; i < 100; i++) dropped += queue.push(put(`k${String(i).padStart(2, "0")}`, i, 100), T0 + i);
    assert.equal(dropped, 90);
    assert.ok(queue.bytes <= max);
    assert.equal(queue.depth, 10);
    assert.equal(queue.oldestAt(), T0 + 90, "the newest changes are the ones kept");
  });

  test("putBack() restores a failed batch ahead of newer changes, unless a newer change replaced it", () => {
    const queue = createChangeQueue(1024 * 1024);
    queue.push(put("a", 1), T0);
    queue.push(put("b", 2), T0);
    const batch = queue.take(1024 * 1024)!;
    queue.push(put("b", 3), T0);
    queue.push(put("c", 4), T0);
    assert.equal(queue.putBack(batch, T0), 0);
    assert.deepEqual(keysOf(queue.take(1024 * 1024)!.changes), ["a@1", "b@3", "c@4"]);
  });

  test("putBack() of a batch that a later flush superseded keeps only the flush and what followed it", () => {
    const queue = createChangeQueue(1024 * 1024);
    queue.push(put("a", 1), T0);
    const batch = queue.take(1024 * 1024)!;
    queue.push({ kind: "flush", version: { hlc: 5, node: 1 } }, T0);
    queue.push(put("z", 6), T0);
    queue.putBack(batch, T0);
    assert.deepEqual(keysOf(queue.take(1024 * 1024)!.changes), ["<flush>", "z@6"]);
  });

  test("changeBytes() counts the value, key and tags", () => {
    const small = changeBytes(put("k", 1, 1));
    const large = changeBytes(put("k", 1, 10_001));
    assert.equal(large - small, 10_000);
    const plain = put("k", 1) as Extract<StoreChange, { kind: "put" }>;
    assert.ok(changeBytes({ ...plain, entry: { ...plain.entry, tags: ["tag"] } }) > changeBytes(plain));
  });
});
