import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createTagIndex } from "../../src/core/tag_index.ts";

describe("tag index", () => {
  test("tagIndex.keysWithAny() returns each key carrying any of the tags, once", () => {
    const index = createTagIndex();
    index.add("a", ["red", "blue"]);
    index.add("b", ["red"]);
    index.add("c", ["green"]);
    assert.deepEqual(index.keysWithAny(["red", "blue"]).sort(), ["a", "b"]);
    assert.deepEqual(index.keysWithAny(["green"]), ["c"]);
    assert.deepEqual(index.keysWithAny(["missing"]), []);
    assert.deepEqual(index.keysWithAny([]), []);
    assert.equal(index.tagCount, 3);
  });

  test("tagIndex.remove() unfiles a key and drops tags nobody carries any more", () => {
    const index = createTagIndex();
    index.add("a", ["red", "blue"]);
    index.add("b", ["red"]);
    index.remove("a", ["red", "blue"]);
    assert.deepEqual(index.keysWithAny(["red", "blue"]), ["b"]);
    assert.equal(index.tagCount, 1);
    index.remove("b", ["red"]);
    assert.equal(index.tagCount, 0);
  });

  test("tagIndex.remove() of tags a key does not carry leaves other keys alone", () => {
    const index = createTagIndex();
    index.add("a", ["red"]);
    index.remove("b", ["red", "never"]);
    assert.deepEqual(index.keysWithAny(["red"]), ["a"]);
    assert.equal(index.tagCount, 1);
  });

  test("tagIndex.keysWithAny() returns a snapshot that is safe to mutate the index under", () => {
    const index = createTagIndex();
    for (const key of ["a", "b", "c"]) index.add(key, ["t"]);
    const keys = index.keysWithAny(["t"]);
    for (const key of keys) index.remove(key, ["t"]);
    assert.deepEqual(keys.sort(), ["a", "b", "c"]);
    assert.equal(index.tagCount, 0);
  });

  test("tagIndex.clear() unfiles everything", () => {
    const index = createTagIndex();
    index.add("a", ["x", "y"]);
    index.clear();
    assert.equal(index.tagCount, 0);
    assert.deepEqual(index.keysWithAny(["x", "y"]), []);
  });
});
