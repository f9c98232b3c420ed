import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Encoder } from "cbor-x";
import type { StoredEntry } from "../../src/core/entry.ts";
import { crc32 } from "../../src/persist/crc32.ts";
import { type ChunkSource, scanBytes, scanSource } from "../../src/persist/frame_scanner.ts";
import { decodeRecord, decodeRecordAt, encodeFile, encodeFrames, FRAME_OVERHEAD, LOG_MAGIC, type PersistRecord, SNAPSHOT_MAGIC } from "../../src/persist/record_codec.ts";
import { bytes, T0 } from "./helpers.ts";

function entry(value: string, hlc: number, extra: Partial<StoredEntry> = {}): StoredEntry {
  return { value: bytes(value), contentType: "text/plain; charset=utf-8", version: { hlc, node: 0xdeadbeef }, tags: ["a", "b"], storedAt: T0, expiresAt: T0 + 60_000, size: 0, ...extra };
}

const RECORDS: PersistRecord[] = [
  { type: "put", key: "user/1", entry: entry("alpha", 1000) },
  { type: "put", key: "ключ/ü", entry: entry("", 1001, { tags: [], expiresAt: 0, negative: true, contentType: "" }) },
  { type: "delete", key: "user/2", version: { hlc: T0 * 1024 + 5, node: 7 } },
  { type: "flush", version: { hlc: 1002, node: 1 } },
  { type: "put", key: "bin", entry: entry("x".repeat(300), 1003) },
  { type: "end", count: 5 },
];

function scanAll(file: Uint8Array, magic = LOG_MAGIC) {
  const found: PersistRecord[] = [];
  const result = scanBytes(file, magic, (record) => found.push(record));
  return { ...result, found };
}

/** Records compared without the decoder's view details. */
function plain(record: PersistRecord): unknown {
  return record.type === "put" ? { ...record, entry: { ...record.entry, value: Array.from(record.entry.value) } } : record;
}

describe("crc32()", () => {
  test("matches the IEEE check value and the zlib value of a longer input", () => {
    assert.equal(crc32(bytes("123456789")), 0xcbf43926);
    assert.equal(crc32(bytes("The quick brown fox jumps over the lazy dog")), 0x414fa339);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });

  test("a range gives the checksum of just those bytes", () => {
    const all = bytes("xx123456789yy");
    assert.equal(crc32(all, 2, 11), 0xcbf43926);
  });
});

describe("record codec", () => {
  test("every record type survives encode and scan unchanged", () => {
    const { status, records, corrupt, tornTail, found } = scanAll(encodeFile(LOG_MAGIC, RECORDS));
    assert.deepEqual({ status, records, corrupt, tornTail }, { status: "ok", records: RECORDS.length, corrupt: 0, tornTail: false });
    assert.deepEqual(found.map(plain), RECORDS.map(plain));
  });

  test("decoded values are plain Uint8Arrays that do not share the file's buffer", () => {
    const file = encodeFile(LOG_MAGIC, [RECORDS[0]]);
    const { found } = scanAll(file);
    const value = (found[0] as Extract<PersistRecord, { type: "put" }>).entry.value;
    assert.equal(Object.getPrototypeOf(value), Uint8Array.prototype);
    assert.notEqual(value.buffer, file.buffer);
  });

  test("the fast reader and cbor-x decode every record shape identically", () => {
    const long = "k".repeat(70);
    const samples: PersistRecord[] = [
      ...RECORDS,
      { type: "put", key: long, entry: entry("v".repeat(70_000), 2 ** 52 + 7, { tags: ["ü-tag", "t".repeat(100)], contentType: "application/vnd.example+json; charset=utf-8" }) },
      { type: "put", key: "same-type-again", entry: entry("x", 5, { contentType: "application/vnd.example+json; charset=utf-8", storedAt: 0, expiresAt: 2 ** 40 }) },
      { type: "delete", key: "日本語のキー", version: { hlc: 0, node: 0xffffffff } },
    ];
    for (const record of samples) {
      const frame = encodeFrames([record]);
      const fast = decodeRecordAt(frame, FRAME_OVERHEAD, frame.length);
      const general = decodeRecord(frame.subarray(FRAME_OVERHEAD));
      assert.deepEqual(fast && plain(fast), general && plain(general), record.type);
      assert.deepEqual(fast && plain(fast), plain(record), record.type);
    }
  });

  test("a record written by a general CBOR encoder (large integers as floats) decodes the same", () => {
    const e = entry("general", T0 * 1024 + 9);
    const payload = new Encoder({ useRecords: false, tagUint8Array: false }).encode([1, "k", e.version.hlc, e.version.node, e.storedAt, e.expiresAt, e.contentType, e.tags, e.value, 0]);
    assert.equal(payload[4], 0xfb, "the general encoder wrote a float64");
    const decoded = decodeRecord(payload);
    assert.deepEqual(decoded && plain(decoded), plain({ type: "put", key: "k", entry: e }));
  });

  test("a zero-length file is empty, not an error", () => {
    assert.equal(scanAll(new Uint8Array(0)).status, "empty");
  });

  test("a file cut inside its magic is empty; a wrong magic is foreign", () => {
    assert.equal(scanAll(LOG_MAGIC.subarray(0, 5)).status, "empty");
    assert.equal(scanAll(bytes("GIF89a")).status, "foreign");
    assert.equal(scanAll(bytes('{"json": "from someone else", "size": 1234}')).status, "foreign");
    assert.equal(scanAll(encodeFile(SNAPSHOT_MAGIC, RECORDS)).status, "foreign", "a snapshot is not read as a log");
  });

  test("a torn tail at every cut point yields exactly the whole records before it", () => {
    const file = encodeFile(LOG_MAGIC, RECORDS);
    const ends: number[] = [];
    let pos = LOG_MAGIC.length;
    for (const frame of RECORDS.map((record) => encodeFrames([record]))) ends.push((pos += frame.byteLength));
    for (let cut = LOG_MAGIC.length; cut < file.length; cut++) {
      const { found, corrupt, tornTail } = scanAll(file.subarray(0, cut));
      const whole = ends.filter((end) => end <= cut).length;
      assert.equal(found.length, whole, `cut at ${cut}`);
      assert.equal(corrupt, 0, `cut at ${cut}`);
      assert.equal(tornTail, cut !== LOG_MAGIC.length && !ends.includes(cut), `cut at ${cut}`);
    }
  });

  test("a flipped byte anywhere never yields a changed record, and at most one record is lost", () => {
    const file = encodeFile(LOG_MAGIC, RECORDS);
    const originals = new Set(RECORDS.map((record) => JSON.stringify(plain(record))));
    for (let i = LOG_MAGIC.length; i < file.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const damaged = file.slice();
        damaged[i] ^= mask;
        const { found, corrupt, tornTail } = scanAll(damaged);
        for (const record of found) assert.ok(originals.has(JSON.stringify(plain(record))), `byte ${i} mask ${mask}: a changed record was returned`);
        assert.ok(found.length >= RECORDS.length - 1, `byte ${i} mask ${mask}: lost ${RECORDS.length - found.length} records`);
        assert.ok(corrupt + (tornTail ? 1 : 0) >= 1, `byte ${i} mask ${mask}: the damage was not counted`);
      }
    }
  });

  test("a damaged length field is caught by the checksum and the reader resynchronises on the next frame", () => {
    const file = encodeFile(LOG_MAGIC, RECORDS);
    const damaged = file.slice();
    // The first frame's length field: make it claim far more than the file holds.
    new DataView(damaged.buffer).setUint32(LOG_MAGIC.length + 8, 5, true);
    const { found, corrupt } = scanAll(damaged);
    assert.equal(corrupt, 1);
    assert.deepEqual(found.map(plain), RECORDS.slice(1).map(plain));
  });

  test("garbage between frames is skipped and counted once", () => {
    const a = encodeFrames([RECORDS[0]]);
    const b = encodeFrames([RECORDS[2]]);
    const garbage = new Uint8Array(100).fill(0xe5);
    const file = new Uint8Array([...LOG_MAGIC, ...a, ...garbage, ...b]);
    const { found, corrupt } = scanAll(file);
    assert.equal(found.length, 2);
    assert.equal(corrupt, 1);
  });

  test("zeroes after the last frame (a tail the file system extended but never wrote) are a torn tail", () => {
    const file = new Uint8Array([...encodeFile(LOG_MAGIC, RECORDS.slice(0, 2)), ...new Uint8Array(4096)]);
    const { found, corrupt, tornTail } = scanAll(file);
    assert.equal(found.length, 2);
    assert.equal(corrupt, 0);
    assert.equal(tornTail, true);
  });

  test("a frame with a valid checksum but a foreign payload is skipped, not served", () => {
    const frame = encodeFrames([RECORDS[0]]);
    assert.equal(decodeRecord(bytes("not cbor at all")), undefined);
    assert.equal(decodeRecord(new Uint8Array([0x83, 0x01, 0x02, 0x03])), undefined, "[1, 2, 3] is not a put");
    assert.equal(decodeRecord(new Uint8Array([0x82, 0x09, 0x20])), undefined, "[9, -1] is not an end");
    assert.ok(frame.byteLength > FRAME_OVERHEAD);
  });
});

/** A source that hands out at most `step` bytes per read, like a slow pipe. */
function trickle(bytes: Uint8Array, step: number): ChunkSource {
  let at = 0;
  return {
    read(into, offset, length) {
      const n = Math.min(length, step, bytes.length - at);
      into.set(bytes.subarray(at, at + n), offset);
      at += n;
      return Promise.resolve(n);
    },
  };
}

describe("frame scanner through a sliding window", () => {
  async function both(file: Uint8Array, window: number, step: number) {
    const inMemory: PersistRecord[] = [];
    const streamed: PersistRecord[] = [];
    const a = scanBytes(file, LOG_MAGIC, (record) => inMemory.push(record));
    const b = await scanSource(trickle(file, step), LOG_MAGIC, (record) => streamed.push(record), window);
    return { a: { ...a, found: inMemory.map(plain) }, b: { ...b, found: streamed.map(plain) } };
  }

  test("finds exactly what the in-memory scan finds, whatever the window and read sizes, damage included", async () => {
    const file = encodeFile(LOG_MAGIC, RECORDS);
    const cases: Uint8Array[] = [file, file.subarray(0, file.length - 5), new Uint8Array([...file, ...new Uint8Array(50)])];
    for (let i = LOG_MAGIC.length; i < file.length; i += 3) {
      const damaged = file.slice();
      damaged[i] ^= 0x5a;
      cases.push(damaged);
    }
    for (const [n, bytes] of cases.entries()) {
      for (const [window, step] of [[16, 7], [64, 1000], [100, 3], [1 << 20, 1 << 20]]) {
        const { a, b } = await both(bytes, window, step);
        assert.deepEqual(b, a, `case ${n}, window ${window}, reads of ${step}`);
      }
    }
  });

  test("a frame larger than the window grows it", async () => {
    const big: PersistRecord = { type: "put", key: "big", entry: entry("z".repeat(100_000), 7) };
    const file = encodeFile(LOG_MAGIC, [RECORDS[0], big, RECORDS[2]]);
    const { a, b } = await both(file, 32, 4096);
    assert.equal(b.records, 3);
    assert.deepEqual(b, a);
  });

  test("empty, header-torn and foreign files read the same as in memory", async () => {
    for (const file of [new Uint8Array(0), LOG_MAGIC.subarray(0, 3), bytes("not ours at all")]) {
      const { a, b } = await both(file, 16, 2);
      assert.deepEqual(b, a);
    }
  });
});
