import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Encoder } from "cbor-x";
import { decodeFrameBody, encodeFrame, FrameInvalid, FrameReader } from "../../src/cluster/frame_codec.ts";
import { type Frame, parseFrame, PROTOCOL_VERSION } from "../../src/cluster/frames.ts";
import { seededRandom } from "./fakes.ts";

const MAX = 1024 * 1024;
const utf8 = (text: string) => new TextEncoder().encode(text);
const plain = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });

/** A frame body as raw bytes with its 4-byte big-endian length prefix. */
function framed(body: Uint8Array | number[], declared = body.length): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, declared);
  out.set(body, 4);
  return out;
}

function concat(...parts: Array<Uint8Array | number[]>): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** What a link does with received bytes: split, decode, check. */
function receive(reader: FrameReader, chunk: Uint8Array): Frame[] {
  return reader.push(chunk).map((body) => parseFrame(decodeFrameBody(body)));
}

/** Asserts that `fn` throws FrameInvalid with code bad_request. */
function assertRefused(fn: () => unknown, what: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, `${what} was accepted`);
  assert.ok(thrown instanceof FrameInvalid, `${what} threw ${(thrown as Error)?.name}: ${(thrown as Error)?.message}`);
  assert.equal((thrown as FrameInvalid).code, "bad_request");
}

/** Decodes and checks a complete body, as the link does. */
const decodeAndParse = (body: Uint8Array) => parseFrame(decodeFrameBody(body));

/** A `res` frame body whose `body` field is the raw CBOR `value`. */
function resWithBody(value: number[]): Uint8Array {
  const head = plain.encode({ t: "res", id: 1, ok: true, body: null });
  assert.equal(head[head.length - 1], 0xf6, "the body field comes last, as null");
  return concat(head.subarray(0, head.length - 1), value);
}

const entry = {
  k: "user/1",
  v: new Uint8Array([0, 1, 2, 255]),
  ct: "application/octet-stream",
  tags: ["a", "b"],
  hlc: 1_700_000_000_000 * 1024,
  node: 4_000_000_000,
  sa: 1_700_000_000_000,
  ea: 0,
};
const member = { id: "node-a", peer: "127.0.0.1:7070", http: "127.0.0.1:8080", state: "alive" as const };

const everyFrame: Frame[] = [
  { t: "hello", v: PROTOCOL_VERSION, cluster: "edgecache", node: "node-a", peer: "127.0.0.1:7070", http: "127.0.0.1:8080" },
  { t: "welcome", v: PROTOCOL_VERSION, node: "node-b", peer: "127.0.0.1:7071", http: "127.0.0.1:8081", members: [member] },
  { t: "refuse", reason: "cluster 'x' is not 'edgecache'" },
  { t: "ping", id: 1_700_000_000_123, members: [member, { ...member, id: "node-b", state: "suspect" }] },
  { t: "pong", id: 1_700_000_000_123, members: [] },
  { t: "req", id: 1, rid: "req-1", op: { op: "get", key: "user/1" } },
  {
    t: "req",
    id: 2,
    rid: "req-2",
    op: { op: "put", key: "user/1", v: new Uint8Array([1, 2, 3]), ct: "text/plain", tags: ["t"], ttl: 60_000, pre: { ifMatch: ['"abc"'] } },
  },
  { t: "req", id: 3, rid: "req-3", op: { op: "put", key: "k", v: new Uint8Array(0), ct: "", tags: [], ttl: 0, pre: { ifNoneMatch: "*" } } },
  { t: "req", id: 4, rid: "req-4", op: { op: "delete", key: "user/1" } },
  {
    t: "req",
    id: 5,
    rid: "req-5",
    op: { op: "apply", entries: [entry, { ...entry, k: "neg", neg: true }], deletes: [["gone", 123_456, 7]] },
  },
  { t: "req", id: 6, rid: "req-6", op: { op: "invalidate", prefix: "user/", allow: ["user/"] } },
  { t: "req", id: 7, rid: "req-7", op: { op: "invalidate", tags: ["a", "b"] } },
  { t: "req", id: 8, rid: "req-8", op: { op: "flush" } },
  { t: "req", id: 9, rid: "req-9", op: { op: "explain", key: "user/1" } },
  { t: "req", id: 12, rid: "req-12", op: { op: "peek", key: "user/1" } },
  { t: "req", id: 13, rid: "req-13", op: { op: "offer", keys: [["user/1", 123_456, 7], ["user/2", 1, 0]] } },
  { t: "req", id: 14, rid: "req-14", op: { op: "synced" } },
  { t: "res", id: 10, ok: true, body: { kind: "hit", entry, nested: [1, "two", null, false, 2.5] } },
  { t: "err", id: 11, code: "precondition_failed", message: "Cannot write as If-Match must match" },
  { t: "leave", node: "node-a" },
];

/** Byte arrays may come back as a Uint8Array subclass (Buffer); compare contents. */
function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  return value;
}

describe("frame round trips", () => {
  test("every frame type survives encodeFrame -> FrameReader -> decodeFrameBody -> parseFrame", () => {
    for (const frame of everyFrame) {
      const reader = new FrameReader(MAX);
      const frames = receive(reader, encodeFrame(frame));
      assert.equal(frames.length, 1);
      assert.deepEqual(normalise(frames[0]), normalise(frame), `${frame.t} frame`);
    }
  });

  test("byte values come back as Uint8Array with the same bytes", () => {
    const [frame] = receive(new FrameReader(MAX), encodeFrame(everyFrame[6]));
    assert.equal(frame.t, "req");
    const op = (frame as Extract<Frame, { t: "req" }>).op as { v: Uint8Array };
    assert.ok(op.v instanceof Uint8Array);
    assert.deepEqual(Array.from(op.v), [1, 2, 3]);
  });

  test("encodeFrame() writes a 4-byte big-endian length of the CBOR body", () => {
    const bytes = encodeFrame({ t: "leave", node: "n" });
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
    assert.equal(length, bytes.byteLength - 4);
    assert.deepEqual(decodeFrameBody(bytes.subarray(4)), { t: "leave", node: "n" });
  });

  test("several frames in one chunk all come out, in order", () => {
    const reader = new FrameReader(MAX);
    const frames = receive(reader, concat(...everyFrame.map(encodeFrame)));
    assert.deepEqual(frames.map((frame) => frame.t), everyFrame.map((frame) => frame.t));
    assert.deepEqual(normalise(frames), normalise(everyFrame));
  });

  test("a frame split at every possible boundary comes out once, whole", () => {
    const bytes = encodeFrame(everyFrame[9]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const reader = new FrameReader(MAX);
      const first = receive(reader, bytes.subarray(0, cut));
      const second = receive(reader, bytes.subarray(cut));
      assert.equal(first.length + second.length, 1, `cut at ${cut}`);
      assert.deepEqual(normalise([...first, ...second][0]), normalise(everyFrame[9]), `cut at ${cut}`);
    }
  });

  test("a stream of frames delivered one byte at a time yields every frame exactly when its last byte arrives", () => {
    const stream = concat(...everyFrame.map(encodeFrame));
    const ends = new Set<number>();
    let offset = 0;
    for (const frame of everyFrame) ends.add(offset += encodeFrame(frame).length);
    const reader = new FrameReader(MAX);
    const out: Frame[] = [];
    for (let i = 0; i < stream.length; i++) {
      const got = receive(reader, stream.subarray(i, i + 1));
      assert.equal(got.length, ends.has(i + 1) ? 1 : 0, `after byte ${i + 1}`);
      out.push(...got);
    }
    assert.deepEqual(normalise(out), normalise(everyFrame));
  });

  test("a stream of frames cut into random chunks (empty ones included) yields every frame in order", () => {
    const stream = concat(...everyFrame.map(encodeFrame), ...everyFrame.map(encodeFrame));
    const random = seededRandom(99);
    for (let round = 0; round < 200; round++) {
      const reader = new FrameReader(MAX);
      const out: Frame[] = [];
      let offset = 0;
      while (offset < stream.length) {
        const size = Math.floor(random() * 40);
        out.push(...receive(reader, stream.subarray(offset, offset + size)));
        offset += size;
      }
      assert.deepEqual(normalise(out), normalise([...everyFrame, ...everyFrame]), `round ${round}`);
    }
  });

  test("a reader keeps working after a frame exactly maxFrameBytes long", () => {
    const value = new Uint8Array(1000).fill(7);
    const bytes = encodeFrame({ t: "res", id: 1, ok: true, body: value });
    const reader = new FrameReader(bytes.length - 4);
    assert.equal(receive(reader, concat(bytes, bytes)).length, 2);
  });
});

describe("truncated and lying frames", () => {
  test("a truncated body is not an error: the reader waits for the rest", () => {
    const bytes = encodeFrame(everyFrame[1]);
    const reader = new FrameReader(MAX);
    assert.deepEqual(reader.push(bytes.subarray(0, 2)), [], "half a prefix");
    assert.deepEqual(reader.push(bytes.subarray(2, 4)), [], "a prefix, no body");
    assert.deepEqual(reader.push(bytes.subarray(4, bytes.length - 1)), [], "all but the last byte");
    assert.equal(reader.push(bytes.subarray(bytes.length - 1)).length, 1);
  });

  for (const declared of [0xffffffff, 0x80000000, MAX + 1]) {
    test(`a length prefix claiming ${declared} bytes is refused on the prefix alone, before any body arrives`, () => {
      const reader = new FrameReader(MAX);
      const prefix = framed([], declared);
      assertRefused(() => reader.push(prefix), `prefix ${declared}`);
    });
  }

  test("a lying prefix split over two chunks is refused as soon as its 4th byte arrives", () => {
    const reader = new FrameReader(MAX);
    assert.deepEqual(reader.push(new Uint8Array([0xff, 0xff, 0xff])), []);
    assertRefused(() => reader.push(new Uint8Array([0xff])), "prefix 0xffffffff in two chunks");
  });

  test("a lying prefix after a valid frame is refused", () => {
    const reader = new FrameReader(MAX);
    assertRefused(() => reader.push(concat(encodeFrame(everyFrame[0]), framed([], 0xffffffff))), "a lie after a frame");
  });

  test("a length prefix of exactly maxFrameBytes is allowed and waited for", () => {
    const reader = new FrameReader(MAX);
    assert.deepEqual(reader.push(framed([0x80], MAX)), []);
  });

  test("a zero length is refused", () => {
    assertRefused(() => new FrameReader(MAX).push(framed([])), "zero length");
  });

  test("an empty or truncated CBOR body inside a complete frame is refused", () => {
    assertRefused(() => decodeFrameBody(new Uint8Array(0)), "empty body");
    const body = plain.encode({ t: "leave", node: "node-a" });
    for (let cut = 1; cut < body.length; cut++) assertRefused(() => decodeFrameBody(body.subarray(0, cut)), `body cut at ${cut}`);
    // Through the reader: the frame's declared length is honest, its CBOR is not.
    assertRefused(() => receive(new FrameReader(MAX), framed([0x83, 0x01])), "array of 3 with 1 item");
  });
});

describe("hostile CBOR is refused without allocating for it", () => {
  test("an array, map or string claiming 2^32-1 items in a tiny body is refused", () => {
    const lies: Array<[string, number[]]> = [
      ["array of 0xffffffff", [0x9a, 0xff, 0xff, 0xff, 0xff, 0x00]],
      ["map of 0xffffffff", [0xba, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00]],
      ["byte string of 0xffffffff", [0x5a, 0xff, 0xff, 0xff, 0xff, 0x00]],
      ["text string of 0xffffffff", [0x7a, 0xff, 0xff, 0xff, 0xff, 0x61]],
      ["array of 2^64-1", [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]],
      ["byte string of 2^40", [0x5b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]],
      ["array of 1000 arrays of 1000", [0x99, 0x03, 0xe8, ...Array(1000).fill([0x99, 0x03, 0xe8]).flat()]],
    ];
    for (const [name, body] of lies) assertRefused(() => decodeAndParse(new Uint8Array(body)), name);
  });

  test("100k nested arrays are refused", () => {
    const body = new Uint8Array(100_001).fill(0x81);
    body[100_000] = 0x00;
    assertRefused(() => decodeFrameBody(body), "100k nested arrays");
    assertRefused(() => receive(new FrameReader(MAX), framed(body)), "100k nested arrays through the reader");
  });

  test("100k nested maps are refused", () => {
    const body = new Uint8Array(200_002);
    for (let i = 0; i < 100_000; i++) body.set([0xa1, 0x60], i * 2);
    body.set([0x00, 0x00], 200_000);
    assertRefused(() => decodeFrameBody(body.subarray(0, 200_001)), "100k nested maps");
  });

  test("nesting far deeper than the protocol needs (1000 levels) is refused, even inside a response body", () => {
    const nested = [...new Array(1000).fill(0x81), 0x00];
    assertRefused(() => decodeFrameBody(resWithBody(nested)), "1000 nested arrays in res.body");
  });

  test("indefinite-length items, which the encoder never sends, are refused", () => {
    assertRefused(() => decodeFrameBody(resWithBody([0x9f, 0x01, 0xff])), "indefinite array");
    assertRefused(() => decodeFrameBody(resWithBody([0xbf, 0x61, 0x61, 0x01, 0xff])), "indefinite map");
    assertRefused(() => decodeFrameBody(resWithBody([0x5f, 0x41, 0x01, 0xff])), "indefinite byte string");
    assertRefused(() => decodeFrameBody(new Uint8Array([0xff])), "a lone break");
  });

  test("simple values other than false, true, null and undefined are refused", () => {
    assertRefused(() => decodeFrameBody(resWithBody([0xf0])), "simple(16)");
    assertRefused(() => decodeFrameBody(resWithBody([0xf8, 0x20])), "simple(32)");
    assertRefused(() => decodeFrameBody(resWithBody([0xfc])), "reserved 28");
  });

  test("the plain values the protocol uses decode to plain data", () => {
    assert.deepEqual(decodeFrameBody(plain.encode([false, true, null, 1.5, -3, "x"])), [false, true, null, 1.5, -3, "x"]);
    assert.deepEqual(decodeFrameBody(new Uint8Array([0x81, 0xf7])), [undefined]);
  });

  test("a 64-bit integer, which cbor-x would hand back as a BigInt, is refused (the encoder writes large numbers as floats)", () => {
    // ping id 2^32 as a uint64 (0x1b), which another encoder could choose.
    const body = concat(plain.encode({ t: "ping", members: [], id: null }).slice(0, -1), [0x1b, 0, 0, 0, 1, 0, 0, 0, 0]);
    assertRefused(() => decodeAndParse(body), "a uint64 id");
    assertRefused(() => decodeAndParse(resWithBody([0x3b, 0, 0, 0, 0, 0, 0, 0, 1])), "a negative int64 body");
    // The encoder's own large numbers (ids are wall-clock ms, versions ms * 1024) round-trip as numbers.
    const frame = decodeAndParse(plain.encode({ t: "ping", id: 2 ** 53 - 1, members: [] }));
    assert.equal((frame as { id: unknown }).id, 2 ** 53 - 1);
  });
});

describe("tags are refused", () => {
  const tagged: Array<[string, number[]]> = [
    ["an unknown tag (4660)", [0xd9, 0x12, 0x34, 0x00]],
    ["a huge unknown tag", [0xda, 0x7f, 0xff, 0xff, 0xff, 0x00]],
    ["tag 0 (date string)", [0xc0, 0x61, 0x78]],
    ["tag 1 (epoch date)", [0xc1, 0x00]],
    ["tag 2 (bignum)", [0xc2, 0x41, 0x01]],
    ["tag 3 (negative bignum)", [0xc3, 0x41, 0x01]],
    ["tag 27 (RegExp constructor)", [0xd8, 27, 0x83, 0x66, ...utf8("RegExp"), 0x61, 0x61, 0x60]],
    ["tag 28/29 (shared reference cycle)", [0xd8, 28, 0x81, 0xd8, 29, 0x00]],
    ["tag 29 (dangling shared reference)", [0xd8, 29, 0x05]],
    ["tag 64 (typed array)", [0xd8, 64, 0x41, 0x05]],
    ["tag 72 (Int8Array)", [0xd8, 72, 0x41, 0x05]],
    ["tag 105 (legacy inline record)", [0xd8, 105, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x61, 0x61, 0x01]],
    ["tag 258 (Set)", [0xd9, 0x01, 0x02, 0x80]],
    ["tag 259 (Map)", [0xd9, 0x01, 0x03, 0xa0]],
    ["tag 55799 (self-described CBOR)", [0xd9, 0xd9, 0xf7, 0x00]],
    ["tag 0xdfff (record definition)", [0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x61, 0x61, 0x01]],
    ["tag 0xdffe (record definitions)", [0xd9, 0xdf, 0xfe, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x61, 0x61, 0x00]],
    ["tag 0xe000 (record reference)", [0xd9, 0xe0, 0x00, 0x01]],
    ["tag 51 (packed table)", [0xd8, 51, 0x84, 0x81, 0x01, 0x80, 0x80, 0x00]],
  ];
  for (const [name, value] of tagged) {
    test(`${name} is refused at the top level and inside a response body`, () => {
      assertRefused(() => decodeAndParse(new Uint8Array(value)), `${name} at the top level`);
      assertRefused(() => decodeAndParse(resWithBody(value)), `${name} in res.body`);
    });
  }

  test("a frame from an encoder that uses records is refused, not half-understood", () => {
    const withRecords = new Encoder({ useRecords: true });
    assertRefused(() => decodeAndParse(withRecords.encode({ t: "leave", node: "node-a" })), "a record-encoded frame");
  });

  test("a record definition in one frame does not change how the next frame decodes", () => {
    const nextFrame = resWithBody([0xd9, 0xe0, 0x00, 0x63, ...utf8("abc")]);
    const plainNext = plain.encode({ t: "res", id: 2, ok: true, body: { t: "x" } });
    const before = (() => {
      try {
        return { value: decodeFrameBody(plainNext) };
      } catch (error) {
        return { code: (error as FrameInvalid).code };
      }
    })();
    // Frame 1 defines record 0xe000 = { t } inline, the way a records encoder would.
    const definition = resWithBody([0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x61, 0x74, 0x63, ...utf8("hey")]);
    const reader = new FrameReader(MAX);
    try {
      receive(reader, framed(definition));
    } catch { /* refusing it is fine too; what matters is the next frame */ }
    // Frame 2 uses record 0xe000 as if it had been defined: it must not decode as { t: "abc" }.
    assertRefused(() => decodeAndParse(nextFrame), "a reference to a record defined in an earlier frame");
    assert.deepEqual(decodeFrameBody(plainNext), before.value, "an ordinary frame decodes as it did before");
    // The same holds on a fresh reader and through a records-encoder frame with a shared structure.
    const withRecords = new Encoder({ useRecords: true });
    const recordFrame = withRecords.encode({ t: "res", id: 1, ok: true, body: { x: 1 } });
    try {
      decodeFrameBody(recordFrame);
    } catch { /* expected */ }
    assertRefused(() => decodeFrameBody(withRecords.encode({ t: "res", id: 1, ok: true, body: { x: 2 } })), "second records frame");
    assert.deepEqual(decodeFrameBody(plainNext), before.value);
  });
});

describe("trailing bytes", () => {
  test("bytes after the CBOR value inside a frame body are refused", () => {
    const body = plain.encode({ t: "leave", node: "node-a" });
    assertRefused(() => decodeFrameBody(concat(body, [0x00])), "one trailing byte");
    assertRefused(() => decodeFrameBody(concat(body, body)), "a second value");
    assertRefused(() => decodeFrameBody(concat(body, [0xff])), "a trailing break");
    assertRefused(() => receive(new FrameReader(MAX), framed(concat(body, [0xf6]))), "trailing null through the reader");
  });

  test("the same body without trailing bytes is accepted", () => {
    const body = plain.encode({ t: "leave", node: "node-a" });
    assert.deepEqual(decodeAndParse(body), { t: "leave", node: "node-a" });
  });
});

describe("parseFrame() refuses frames of the wrong shape", () => {
  const bad: Array<[string, unknown]> = [
    ["a req with a string id", { t: "req", id: "1", rid: "r", op: { op: "get", key: "k" } }],
    ["a req with a negative id", { t: "req", id: -1, rid: "r", op: { op: "get", key: "k" } }],
    ["a req with a fractional id", { t: "req", id: 1.5, rid: "r", op: { op: "get", key: "k" } }],
    ["a req with an id over 2^53", { t: "req", id: 2 ** 60, rid: "r", op: { op: "get", key: "k" } }],
    ["an unknown frame type", { t: "shutdown" }],
    ["a frame with no type", { id: 1 }],
    ["a frame that is not an object", "hello"],
    ["a frame that is an array", ["hello"]],
    ["null", null],
    ["an extra field", { t: "leave", node: "node-a", extra: 1 }],
    ["a hello with an extra field", { ...everyFrame[0], admin: true }],
    ["a hello without a node", { t: "hello", v: 1, cluster: "c", peer: "p", http: "h" }],
    ["a hello with a string version", { ...everyFrame[0], v: "1" }],
    ["a node id with a slash", { t: "leave", node: "../etc" }],
    ["a node id of 65 characters", { t: "leave", node: "n".repeat(65) }],
    ["an unknown op", { t: "req", id: 1, rid: "r", op: { op: "drop_table" } }],
    ["an op with an extra field", { t: "req", id: 1, rid: "r", op: { op: "get", key: "k", admin: true } }],
    ["an empty key", { t: "req", id: 1, rid: "r", op: { op: "get", key: "" } }],
    ["a key over 64 KiB", { t: "req", id: 1, rid: "r", op: { op: "get", key: "k".repeat(65537) } }],
    ["a request id over 128 characters", { t: "req", id: 1, rid: "r".repeat(129), op: { op: "flush" } }],
    ["a put with a string value", { t: "req", id: 1, rid: "r", op: { op: "put", key: "k", v: "text", ct: "", tags: [], ttl: 0 } }],
    ["a put with a negative ttl", {
      t: "req",
      id: 1,
      rid: "r",
      op: { op: "put", key: "k", v: new Uint8Array(1), ct: "", tags: [], ttl: -1 },
    }],
    ["a put with 33 tags", {
      t: "req",
      id: 1,
      rid: "r",
      op: { op: "put", key: "k", v: new Uint8Array(1), ct: "", tags: Array(33).fill("t"), ttl: 0 },
    }],
    ["a res with ok false", { t: "res", id: 1, ok: false, body: null }],
    ["an err without a message", { t: "err", id: 1, code: "internal" }],
    ["a member in an unknown state", { t: "ping", id: 1, members: [{ ...member, state: "zombie" }] }],
    ["an entry with a string version", { t: "req", id: 1, rid: "r", op: { op: "apply", entries: [{ ...entry, hlc: "1" }], deletes: [] } }],
    ["a delete tuple with a fourth element", { t: "req", id: 1, rid: "r", op: { op: "apply", entries: [], deletes: [["k", 1, 2, 3]] } }],
    ["an offer of 10,001 keys", { t: "req", id: 1, rid: "r", op: { op: "offer", keys: Array(10_001).fill(["k", 1, 2]) } }],
    ["an offer with a negative version", { t: "req", id: 1, rid: "r", op: { op: "offer", keys: [["k", -1, 2]] } }],
    ["a synced with a field", { t: "req", id: 1, rid: "r", op: { op: "synced", all: true } }],
    ["a peek without a key", { t: "req", id: 1, rid: "r", op: { op: "peek" } }],
  ];
  for (const [name, value] of bad) {
    test(`${name} is refused`, () => assertRefused(() => parseFrame(value), name));
  }

  test("arrays over the schema's limits are refused: 10,001 entries, 100,001 deletes, 1,025 members", () => {
    const entries = Array.from({ length: 10_001 }, (_, i) => ({ ...entry, k: `k${i}`, v: new Uint8Array(0) }));
    const frame = { t: "req", id: 1, rid: "r", op: { op: "apply", entries, deletes: [] } };
    assertRefused(() => decodeAndParse(plain.encode(frame)), "10,001 entries");
    const deletes = Array.from({ length: 100_001 }, (_, i) => [`k${i}`, 1, 1]);
    assertRefused(
      () => decodeAndParse(plain.encode({ t: "req", id: 1, rid: "r", op: { op: "apply", entries: [], deletes } })),
      "100,001 deletes",
    );
    const members = Array.from({ length: 1025 }, (_, i) => ({ ...member, id: `n${i}` }));
    assertRefused(() => decodeAndParse(plain.encode({ t: "ping", id: 1, members })), "1,025 members");
    // At the limit it is fine.
    assert.equal(decodeAndParse(plain.encode({ t: "ping", id: 1, members: members.slice(0, 1024) })).t, "ping");
  });

  test("FrameInvalid is what the link closes on, and it carries code bad_request", () => {
    const error = new FrameInvalid("x");
    assert.equal(error.code, "bad_request");
    assert.equal(error.name, "FrameInvalid");
  });
});
