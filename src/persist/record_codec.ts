import { Decoder, Encoder } from "cbor-x";
import type { StoredEntry } from "../core/entry.ts";
import type { Version } from "../core/version.ts";
import { readArray, readBytes, readDone, readFrom, readText, readUint } from "./cbor_reader.ts";
import { writeBytes, writeEnd, writeHead, writePosition, writeRaw, writeSkip, writeStart, writeText, writeUint32At, writtenView } from "./cbor_writer.ts";
import { crc32 } from "./crc32.ts";

/**
 * The on-disk format of the persistence directory. A file is an 8-byte magic followed by frames:
 *
 * ```
 * frame   = marker (4 bytes E5 DC AC 1E) | crc32 (u32 LE) | length (u32 LE) | payload (length bytes)
 * crc32   = CRC-32 of the length field and the payload, so a flipped length is caught too
 * payload = one CBOR array (plain CBOR, no cbor-x records or shared structures):
 *   put    [1, key, hlc, node, storedAt, expiresAt, contentType, tags, value, negative (0|1)]
 *   delete [2, key, hlc, node]
 *   flush  [3, hlc, node]
 *   end    [9, count]            (the last frame of a snapshot: how many records precede it)
 * ```
 *
 * The marker lets a reader resynchronise after a damaged frame instead of losing the rest of the
 * file: it searches for the next marker whose checksum verifies (frame_scanner.ts). Every record
 * stands alone.
 */

/** Magic of a log file: ASCII "edgelog1". */
export const LOG_MAGIC: Uint8Array = new TextEncoder().encode("edgelog1");
/** Magic of a snapshot file: ASCII "edgesnp1". */
export const SNAPSHOT_MAGIC: Uint8Array = new TextEncoder().encode("edgesnp1");

/** The 4 bytes that start every frame. */
export const FRAME_MARKER: readonly number[] = [0xe5, 0xdc, 0xac, 0x1e];
const MARKER = FRAME_MARKER;
/** Bytes of a frame before its payload: marker, checksum, length. */
export const FRAME_OVERHEAD = 12;
/** Longest payload a reader accepts; a larger length is damage (values are capped at 512 MiB). */
export const MAX_PAYLOAD: number = 1024 ** 3;

const PUT = 1;
const DELETE = 2;
const FLUSH = 3;
const END = 9;

/** One persisted record. `end` closes a snapshot; the others mirror the store's changes. */
export type PersistRecord =
  | { type: "put"; key: string; entry: StoredEntry }
  | { type: "delete"; key: string; version: Version }
  | { type: "flush"; version: Version }
  | { type: "end"; count: number };

// tagUint8Array false: values are plain CBOR byte strings any decoder reads.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, sequential: false });
// copyBuffers: a recovered value must not be a view into the whole file buffer, or one live
// entry would pin hundreds of megabytes.
// int64AsNumber: 64-bit integers (versions, times) as numbers, not BigInts; cbor-x supports the
// option but its typings omit it, hence the variable rather than a literal.
const decoderOptions = { useRecords: false, mapsAsObjects: true, sequential: false, copyBuffers: true, int64AsNumber: true };
const decoder = new Decoder(decoderOptions);

function payloadOf(record: PersistRecord): unknown[] {
  switch (record.type) {
    case "put": {
      const e = record.entry;
      return [PUT, record.key, e.version.hlc, e.version.node, e.storedAt, e.expiresAt, e.contentType, e.tags, e.value, e.negative === true ? 1 : 0];
    }
    case "delete":
      return [DELETE, record.key, record.version.hlc, record.version.node];
    case "flush":
      return [FLUSH, record.version.hlc, record.version.node];
    case "end":
      return [END, record.count];
  }
}

/** Writes one record's CBOR payload: puts and deletes by hand (hot path), the rest through cbor-x. */
function writePayload(record: PersistRecord): void {
  if (record.type === "put") {
    const e = record.entry;
    writeHead(4, 10);
    writeHead(0, PUT);
    writeText(record.key);
    writeHead(0, e.version.hlc);
    writeHead(0, e.version.node);
    writeHead(0, e.storedAt);
    writeHead(0, e.expiresAt);
    writeText(e.contentType);
    writeHead(4, e.tags.length);
    for (const tag of e.tags) writeText(tag);
    writeBytes(e.value);
    writeHead(0, e.negative === true ? 1 : 0);
  } else if (record.type === "delete") {
    writeHead(4, 4);
    writeHead(0, DELETE);
    writeText(record.key);
    writeHead(0, record.version.hlc);
    writeHead(0, record.version.node);
  } else writeRaw(encoder.encode(payloadOf(record)) as Uint8Array);
}

/** Encodes records as consecutive frames in one buffer (one write per batch). */
export function encodeFrames(records: readonly PersistRecord[]): Uint8Array {
  writeStart();
  for (const record of records) {
    const frame = writePosition();
    writeRaw(MARKER);
    writeSkip(8);
    writePayload(record);
    const end = writePosition();
    writeUint32At(frame + 8, end - frame - FRAME_OVERHEAD);
    writeUint32At(frame + 4, crc32(writtenView(), frame + 8, end));
  }
  return writeEnd();
}

/** A file's magic followed by `records` as frames: a whole file in one buffer (used by tests and snapshots). */
export function encodeFile(magic: Uint8Array, records: readonly PersistRecord[]): Uint8Array {
  const frames = encodeFrames(records);
  const out = new Uint8Array(magic.byteLength + frames.byteLength);
  out.set(magic);
  out.set(frames, magic.byteLength);
  return out;
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isVersion = (hlc: unknown, node: unknown) => isInt(hlc) && isInt(node) && node <= 0xffffffff;

const NO_TAGS = Object.freeze([]) as unknown as string[];

/** The fast path of `decodeRecord` (see cbor_reader.ts); undefined hands the payload to cbor-x. */
function readRecord(bytes: Uint8Array, start: number, end: number): PersistRecord | undefined {
  readFrom(bytes, start, end);
  const length = readArray();
  const type = readUint();
  if (type === PUT && length === 10) {
    const key = readText();
    const hlc = readUint();
    const node = readUint();
    const storedAt = readUint();
    const expiresAt = readUint();
    const contentType = readText();
    const tagCount = readArray();
    if (key === undefined || contentType === undefined || tagCount < 0 || hlc < 0 || node < 0 || node > 0xffffffff || storedAt < 0 || expiresAt < 0) return undefined;
    // Most entries have no tags: they share one frozen empty array (the store never mutates tags).
    const tags: string[] = tagCount === 0 ? NO_TAGS : [];
    for (let i = 0; i < tagCount; i++) {
      const tag = readText();
      if (tag === undefined) return undefined;
      tags.push(tag);
    }
    const value = readBytes();
    const negative = readUint();
    if (value === undefined || (negative !== 0 && negative !== 1) || !readDone()) return undefined;
    const version = { hlc, node };
    const entry: StoredEntry = negative === 1
      ? { value, contentType, version, tags, storedAt, expiresAt, size: 0, negative: true }
      : { value, contentType, version, tags, storedAt, expiresAt, size: 0 };
    return { type: "put", key, entry };
  }
  if (type === DELETE && length === 4) {
    const key = readText();
    const hlc = readUint();
    const node = readUint();
    if (key === undefined || hlc < 0 || node < 0 || node > 0xffffffff || !readDone()) return undefined;
    return { type: "delete", key, version: { hlc, node } };
  }
  return undefined;
}

/** Decodes the payload at `bytes[start, end)`; undefined when it is not a record of this format (checksum right, shape wrong). */
export function decodeRecordAt(bytes: Uint8Array, start: number, end: number): PersistRecord | undefined {
  return readRecord(bytes, start, end) ?? decodeRecord(bytes.subarray(start, end));
}

/** Decodes one payload with cbor-x; undefined when it is not a record of this format (checksum right, shape wrong). */
export function decodeRecord(payload: Uint8Array): PersistRecord | undefined {
  let value: unknown;
  try {
    value = decoder.decode(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const a = value as unknown[];
  switch (a[0]) {
    case PUT: {
      const [, key, hlc, node, storedAt, expiresAt, contentType, tags, bytes, negative] = a;
      if (a.length !== 10 || typeof key !== "string" || !isVersion(hlc, node) || !isInt(storedAt) || !isInt(expiresAt)) return undefined;
      if (typeof contentType !== "string" || !(bytes instanceof Uint8Array) || (negative !== 0 && negative !== 1)) return undefined;
      if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) return undefined;
      const entry: StoredEntry = {
        // A plain Uint8Array view: decoders hand back Buffer subclasses on some runtimes.
        value: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        contentType,
        version: { hlc: hlc as number, node: node as number },
        tags: tags as string[],
        storedAt,
        expiresAt,
        size: 0,
        ...(negative === 1 ? { negative: true } : {}),
      };
      return { type: "put", key, entry };
    }
    case DELETE:
      if (a.length !== 4 || typeof a[1] !== "string" || !isVersion(a[2], a[3])) return undefined;
      return { type: "delete", key: a[1], version: { hlc: a[2] as number, node: a[3] as number } };
    case FLUSH:
      if (a.length !== 3 || !isVersion(a[1], a[2])) return undefined;
      return { type: "flush", version: { hlc: a[1] as number, node: a[2] as number } };
    case END:
      if (a.length !== 2 || !isInt(a[1])) return undefined;
      return { type: "end", count: a[1] };
    default:
      return undefined;
  }
}
