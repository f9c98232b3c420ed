import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compareVersions, formatEtag, nodeHash } from "../../src/core/version.ts";

describe("versions", () => {
  test("compareVersions() orders by clock first", () => {
    assert.ok(compareVersions({ hlc: 1, node: 99 }, { hlc: 2, node: 1 }) < 0);
    assert.ok(compareVersions({ hlc: 2, node: 1 }, { hlc: 1, node: 99 }) > 0);
  });

  test("compareVersions() breaks clock ties by node hash and returns 0 only for equal versions", () => {
    assert.ok(compareVersions({ hlc: 5, node: 1 }, { hlc: 5, node: 2 }) < 0);
    assert.ok(compareVersions({ hlc: 5, node: 2 }, { hlc: 5, node: 1 }) > 0);
    assert.equal(compareVersions({ hlc: 5, node: 2 }, { hlc: 5, node: 2 }), 0);
  });

  test("compareVersions() is a total order usable by Array.sort", () => {
    const versions = [{ hlc: 3, node: 1 }, { hlc: 1, node: 7 }, { hlc: 3, node: 0 }, { hlc: 2, node: 4 }, { hlc: 1, node: 2 }];
    assert.deepEqual([...versions].sort(compareVersions), [
      { hlc: 1, node: 2 },
      { hlc: 1, node: 7 },
      { hlc: 2, node: 4 },
      { hlc: 3, node: 0 },
      { hlc: 3, node: 1 },
    ]);
  });

  test("formatEtag() makes a quoted strong entity tag of base-36 clock and node", () => {
    assert.equal(formatEtag({ hlc: 35, node: 36 }), '"z-10"');
    const etag = formatEtag({ hlc: 1_700_000_000_000 * 1024 + 7, node: 0xffffffff });
    assert.match(etag, /^"[0-9a-z]+-[0-9a-z]+"$/);
    assert.equal(etag, `"${(1_700_000_000_000 * 1024 + 7).toString(36)}-${(0xffffffff).toString(36)}"`);
  });

  test("formatEtag() gives distinct tags to distinct versions", () => {
    const tags = new Set<string>();
    for (let hlc = 0; hlc < 50; hlc++) for (let node = 0; node < 50; node++) tags.add(formatEtag({ hlc, node }));
    assert.equal(tags.size, 2_500);
  });

  test("nodeHash() is 32-bit FNV-1a, stable across runs and runtimes", () => {
    assert.equal(nodeHash(""), 0x811c9dc5);
    assert.equal(nodeHash("a"), 0xe40c292c);
    assert.equal(nodeHash("foobar"), 0xbf9cf968);
    assert.equal(nodeHash("edge-1"), nodeHash("edge-1"));
  });

  test("nodeHash() returns an unsigned 32-bit integer that differs between node ids", () => {
    const hashes = new Set<number>();
    for (let i = 0; i < 1_000; i++) {
      const hash = nodeHash(`node-${i}`);
      assert.ok(Number.isInteger(hash) && hash >= 0 && hash <= 0xffffffff);
      hashes.add(hash);
    }
    assert.equal(hashes.size, 1_000);
  });
});
