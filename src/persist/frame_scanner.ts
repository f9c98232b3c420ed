import { crc32 } from "./crc32.ts";
import { decodeRecordAt, FRAME_OVERHEAD, FRAME_MARKER, MAX_PAYLOAD, type PersistRecord } from "./record_codec.ts";

/**
 * Reads the frames of one file (see record_codec.ts for the format) through a sliding window,
 * so recovering a multi-gigabyte snapshot needs one window of memory (8 MiB, or the largest
 * frame), not the whole file. Damage is skipped: a frame that fails its checksum starts a
 * damaged run, which ends at the next frame that verifies (one `corrupt` count per run); an
 * incomplete frame at the end is a torn tail. Nothing unverified reaches `onRecord`.
 */

/** Sequential reads of a file: fills `into[offset, offset+length)`, returns the bytes read, 0 at the end. */
export interface ChunkSource {
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  /** The file's size when known: a frame claiming to run past it is damage, not a reason to read on. */
  readonly size?: number;
}

/** What reading one file found. Damaged parts are counted, never returned. */
export interface ScanResult {
  /** `ok` when the magic matched (damage may still have been skipped); `empty` for a 0-byte or header-torn file; `foreign` when the magic is wrong. */
  status: "ok" | "empty" | "foreign";
  /** Records decoded and handed to the callback. */
  records: number;
  /** Damaged runs skipped: frames failing their checksum, impossible lengths, garbage, or payloads that are not records. */
  corrupt: number;
  /** True when the file ends inside a frame (a write cut short by a crash). */
  tornTail: boolean;
}

const WINDOW_BYTES = 8 * 1024 * 1024;

interface Window {
  buf: Uint8Array;
  view: DataView;
  /** Next byte to look at, and end of the valid bytes, both in `buf`. */
  pos: number;
  end: number;
  /** Absolute file offset of `buf[0]`. */
  base: number;
  eof: boolean;
  /** The file's size: known up front, or once the end is reached (Infinity until then). */
  size: number;
}

interface Damage {
  /** Absolute offset where the damaged run began, and where the frame there claimed to end (-1 if no marker). */
  start: number;
  claimedEnd: number;
}

function markerAt(buf: Uint8Array, pos: number): boolean {
  return buf[pos] === FRAME_MARKER[0] && buf[pos + 1] === FRAME_MARKER[1] && buf[pos + 2] === FRAME_MARKER[2] && buf[pos + 3] === FRAME_MARKER[3];
}

/**
 * Scans `w` from `w.pos` as far as its bytes allow. Returns "more" when the next frame needs
 * bytes past `w.end` (and the file has more), "done" at the end of the file.
 */
function scanWindow(w: Window, result: ScanResult, damage: { run?: Damage }, onRecord: (record: PersistRecord) => void): "more" | "done" {
  const { buf, view } = w;
  while (w.pos < w.end) {
    const pos = w.pos;
    if (pos + FRAME_OVERHEAD > w.end) return w.eof ? "done" : "more";
    if (!markerAt(buf, pos)) {
      damage.run ??= { start: w.base + pos, claimedEnd: -1 };
      const next = buf.indexOf(FRAME_MARKER[0], pos + 1);
      w.pos = next === -1 || next >= w.end ? w.end : next;
      continue;
    }
    const length = view.getUint32(pos + 8, true);
    const frameEnd = pos + FRAME_OVERHEAD + length;
    // A length past the end of the file is damage (or a torn tail, if nothing verifies after it).
    const impossible = length > MAX_PAYLOAD || w.base + frameEnd > w.size;
    if (!impossible && frameEnd > w.end) return "more";
    if (impossible || crc32(buf, pos + 8, frameEnd) !== view.getUint32(pos + 4, true)) {
      damage.run ??= { start: w.base + pos, claimedEnd: length > MAX_PAYLOAD ? -1 : w.base + frameEnd };
      const next = buf.indexOf(FRAME_MARKER[0], pos + 1);
      w.pos = next === -1 || next >= w.end ? w.end : next;
      continue;
    }
    if (damage.run !== undefined) {
      result.corrupt++;
      damage.run = undefined;
    }
    w.pos = frameEnd;
    const record = decodeRecordAt(buf, pos + FRAME_OVERHEAD, frameEnd);
    if (record === undefined) result.corrupt++;
    else {
      result.records++;
      onRecord(record);
    }
  }
  return w.eof ? "done" : "more";
}

/** Settles the end of the file: a damaged run or a partial frame left at the end. */
function finish(w: Window, result: ScanResult, damage: { run?: Damage }): ScanResult {
  const fileEnd = w.base + w.end;
  if (damage.run !== undefined) {
    // A whole frame that fails its checksum is damage; anything after it (or a frame that runs
    // past the end) is what a write cut short by a crash leaves: a torn tail.
    const whole = damage.run.claimedEnd !== -1 && damage.run.claimedEnd <= fileEnd;
    if (whole) result.corrupt++;
    result.tornTail = !whole || damage.run.claimedEnd < fileEnd;
  } else if (w.pos < w.end) result.tornTail = true;
  return result;
}

function checkMagic(w: Window, magic: Uint8Array, result: ScanResult): boolean {
  if (w.end < magic.length) {
    // A crash while writing the header leaves a prefix of it: that is a torn, empty file.
    const prefix = w.buf.subarray(0, w.end).every((byte, i) => byte === magic[i]);
    result.status = w.end === 0 || prefix ? "empty" : "foreign";
    return false;
  }
  for (let i = 0; i < magic.length; i++) {
    if (w.buf[i] !== magic[i]) {
      result.status = "foreign";
      return false;
    }
  }
  w.pos = magic.length;
  return true;
}

/** Scans a file held in memory. */
export function scanBytes(bytes: Uint8Array, magic: Uint8Array, onRecord: (record: PersistRecord) => void): ScanResult {
  const result: ScanResult = { status: "ok", records: 0, corrupt: 0, tornTail: false };
  const w: Window = { buf: bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), pos: 0, end: bytes.length, base: 0, eof: true, size: bytes.length };
  if (!checkMagic(w, magic, result)) return result;
  const damage: { run?: Damage } = {};
  scanWindow(w, result, damage, onRecord);
  return finish(w, result, damage);
}

/** Moves the unread bytes to the front, grows the window if one frame needs it, and reads more. */
async function refill(w: Window, source: ChunkSource): Promise<void> {
  const keep = w.end - w.pos;
  let needed = keep + 1;
  if (keep >= FRAME_OVERHEAD && markerAt(w.buf, w.pos)) {
    // scanWindow asks for more only for a frame that fits in the file, so this growth is bounded by it.
    needed = Math.max(needed, FRAME_OVERHEAD + w.view.getUint32(w.pos + 8, true));
  }
  let buf = w.buf;
  if (needed > buf.length) {
    buf = new Uint8Array(Math.max(needed, buf.length * 2));
    buf.set(w.buf.subarray(w.pos, w.end));
  } else buf.copyWithin(0, w.pos, w.end);
  w.base += w.pos;
  w.buf = buf;
  w.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  w.pos = 0;
  w.end = keep;
  while (w.end < buf.length) {
    const read = await source.read(buf, w.end, buf.length - w.end);
    if (read === 0) {
      w.eof = true;
      w.size = w.base + w.end;
      return;
    }
    w.end += read;
    if (w.end >= needed) return;
  }
}

/** Scans a file read sequentially from `source` through a sliding window of `windowBytes` (grown for a larger frame). */
export async function scanSource(source: ChunkSource, magic: Uint8Array, onRecord: (record: PersistRecord) => void, windowBytes = WINDOW_BYTES): Promise<ScanResult> {
  const result: ScanResult = { status: "ok", records: 0, corrupt: 0, tornTail: false };
  const buf = new Uint8Array(Math.max(windowBytes, FRAME_OVERHEAD));
  const w: Window = { buf, view: new DataView(buf.buffer), pos: 0, end: 0, base: 0, eof: false, size: source.size ?? Infinity };
  while (w.end < magic.length && !w.eof) await refill(w, source);
  if (!checkMagic(w, magic, result)) return result;
  const damage: { run?: Damage } = {};
  while (scanWindow(w, result, damage, onRecord) === "more" && !w.eof) await refill(w, source);
  return finish(w, result, damage);
}
