/**
 * A fast writer for the CBOR subset of persistence records (definite arrays, unsigned integers,
 * text and byte strings), writing straight into one growing batch buffer. The writer loop encodes
 * every change the node makes; a general encoder's per-call set-up and intermediate buffers cost
 * more than the record. The output is plain CBOR that cbor-x (or any decoder) reads.
 *
 * The buffer is module state: `writeStart` begins a batch, `writeEnd` returns a copy of it.
 * Writing is synchronous, so no two batches can interleave.
 */

const encoder = new TextEncoder();
let out = new Uint8Array(1 << 16);
let view = new DataView(out.buffer);
let pos = 0;

function ensure(bytes: number): void {
  if (pos + bytes <= out.length) return;
  let size = out.length * 2;
  while (size < pos + bytes) size *= 2;
  const bigger = new Uint8Array(size);
  bigger.set(out.subarray(0, pos));
  out = bigger;
  view = new DataView(out.buffer);
}

/** Begins a batch. */
export function writeStart(): void {
  pos = 0;
}

/** The current write position (a frame's start, for `writeAt`). */
export function writePosition(): number {
  return pos;
}

/** Reserves `count` bytes to be filled later with `writeUint32At`. */
export function writeSkip(count: number): void {
  ensure(count);
  pos += count;
}

/** Raw bytes. */
export function writeRaw(bytes: ArrayLike<number>): void {
  ensure(bytes.length);
  out.set(bytes, pos);
  pos += bytes.length;
}

/** A little-endian u32 at an earlier position. */
export function writeUint32At(at: number, value: number): void {
  view.setUint32(at, value, true);
}

/** The batch so far, as a view valid until the next write (for checksumming in place). */
export function writtenView(): Uint8Array {
  return out;
}

/** A CBOR head: major type and argument, in its shortest form. */
export function writeHead(major: number, value: number): void {
  ensure(9);
  const m = major << 5;
  if (value < 24) out[pos++] = m | value;
  else if (value < 0x100) {
    out[pos++] = m | 24;
    out[pos++] = value;
  } else if (value < 0x10000) {
    out[pos++] = m | 25;
    view.setUint16(pos, value);
    pos += 2;
  } else if (value < 0x100000000) {
    out[pos++] = m | 26;
    view.setUint32(pos, value);
    pos += 4;
  } else {
    out[pos++] = m | 27;
    view.setUint32(pos, Math.floor(value / 0x100000000));
    view.setUint32(pos + 4, value >>> 0);
    pos += 8;
  }
}

/** A CBOR text string. */
export function writeText(text: string): void {
  const length = text.length;
  if (length < 128) {
    let ascii = true;
    for (let i = 0; i < length && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
    if (ascii) {
      writeHead(3, length);
      ensure(length);
      for (let i = 0; i < length; i++) out[pos++] = text.charCodeAt(i);
      return;
    }
  }
  const bytes = encoder.encode(text);
  writeHead(3, bytes.length);
  writeRaw(bytes);
}

/** A CBOR byte string. */
export function writeBytes(bytes: Uint8Array): void {
  writeHead(2, bytes.length);
  writeRaw(bytes);
}

/** A copy of the batch, detached from the writer's buffer. */
export function writeEnd(): Uint8Array {
  const batch = out.slice(0, pos);
  // A huge batch (a large value) should not keep its buffer for the rest of the process.
  if (out.length > 1 << 22) {
    out = new Uint8Array(1 << 16);
    view = new DataView(out.buffer);
  }
  return batch;
}
