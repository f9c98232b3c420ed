import { Decoder, Encoder } from "cbor-x";
import { EdgecacheError } from "../core/errors.ts";

/** Bytes of the big-endian length prefix of every frame. */
const PREFIX_BYTES = 4;

// Plain CBOR maps and arrays only: no record structures, no shared or sequential state, so each
// frame stands alone and nothing one frame defines can change how the next one decodes.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, sequential: false });

/** Raised for a frame that is too large, malformed or of the wrong shape; the link is closed. */
export class FrameInvalid extends EdgecacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("bad_request", message, options);
    this.name = "FrameInvalid";
  }
}

/** Encodes one frame: a 4-byte big-endian length, then the CBOR body. */
export function encodeFrame(frame: unknown): Uint8Array {
  const body = encoder.encode(frame);
  const out = new Uint8Array(PREFIX_BYTES + body.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength);
  out.set(body, PREFIX_BYTES);
  return out;
}

/** Deepest nesting of arrays and maps a frame may use; the protocol itself needs about six. */
const MAX_DEPTH = 32;

/**
 * Walks a frame body's CBOR before cbor-x sees any of it, because cbor-x gives meaning to tags
 * whatever its options say: records (105, 0xdfff, which define structures in module state),
 * dates, big integers, sets, maps, shared references (cycles) and `RegExp`/`Error` construction.
 * The encoder above never writes a tag, an indefinite length or a 64-bit integer (it writes
 * large numbers as floats; cbor-x would hand a 64-bit integer back as a BigInt), so a body is
 * refused if it has one, nests deeper than MAX_DEPTH, declares more items or bytes than are left, or does not end
 * where its one value ends (trailing bytes).
 */
function checkPlainCbor(body: Uint8Array): void {
  const refuse = (problem: string, at: number): never => {
    throw new FrameInvalid(`Cannot decode the frame as it must be plain CBOR (one value, no tags, no indefinite lengths, at most ${MAX_DEPTH} levels deep): current problem is ${problem} at byte ${at}`);
  };
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let position = 0;
  // Items still to read at each open level; the outermost level holds the body's one value.
  const remaining = [1];
  while (remaining.length > 0) {
    if (remaining[remaining.length - 1] === 0) {
      remaining.pop();
      continue;
    }
    remaining[remaining.length - 1]--;
    const start = position;
    if (position >= body.byteLength) refuse("a truncated value", start);
    const initial = body[position++];
    const major = initial >> 5;
    const info = initial & 0x1f;
    const width = info < 24 ? 0 : info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -1;
    if (width < 0) refuse(info === 31 ? "an indefinite length" : "a reserved encoding", start);
    if (body.byteLength - position < width) refuse("a truncated length", start);
    let argument = info;
    if (width === 1) argument = body[position];
    else if (width === 2) argument = view.getUint16(position);
    else if (width === 4) argument = view.getUint32(position);
    else if (width === 8) argument = view.getUint32(position) * 2 ** 32 + view.getUint32(position + 4);
    position += width;
    const left = body.byteLength - position;
    if (width === 8 && major <= 1) refuse("a 64-bit integer", start);
    if (major === 2 || major === 3) {
      if (argument > left) refuse(`a string of ${argument} bytes with ${left} left`, start);
      position += argument;
    } else if (major === 4 || major === 5) {
      // Every item takes at least one byte, so a count beyond what is left is a lie.
      const items = major === 4 ? argument : argument * 2;
      if (items > left) refuse(`${items} items with ${left} bytes left`, start);
      if (remaining.length > MAX_DEPTH) refuse("nesting too deep", start);
      remaining.push(items);
    } else if (major === 6) {
      refuse(`tag ${argument}`, start);
    } else if (major === 7 && (info < 20 || info === 24)) {
      refuse(`simple value ${argument}`, start);
    }
  }
  if (position !== body.byteLength) refuse(`${body.byteLength - position} trailing bytes`, position);
}

/** Decodes one frame body with a fresh decoder, so no state survives between frames. Throws FrameInvalid. */
export function decodeFrameBody(body: Uint8Array): unknown {
  checkPlainCbor(body);
  const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, sequential: false });
  let value: unknown;
  try {
    value = decoder.decode(body);
  } catch (cause) {
    // Truncated input, unknown encodings and nesting deeper than the stack all end up here.
    throw new FrameInvalid(`Cannot decode the frame as it must be well-formed CBOR: current error is ${(cause as Error)?.message ?? cause}`, { cause });
  }
  return value;
}

/**
 * Splits a byte stream into frames. The declared length is checked against `maxFrameBytes`
 * before any of the body is buffered, so a peer announcing 4 GiB costs nothing.
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Adds received bytes and returns every complete frame body now available. Throws FrameInvalid. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    const bodies: Uint8Array[] = [];
    for (;;) {
      if (this.#buffered < PREFIX_BYTES) return bodies;
      const prefix = this.#peek(PREFIX_BYTES);
      const length = new DataView(prefix.buffer, prefix.byteOffset, PREFIX_BYTES).getUint32(0);
      if (length > this.maxFrameBytes) {
        throw new FrameInvalid(`Cannot accept the frame as it must be at most ${this.maxFrameBytes} bytes: current length is ${length}`);
      }
      if (length === 0) throw new FrameInvalid("Cannot accept the frame as it must not be empty: current length is 0");
      if (this.#buffered < PREFIX_BYTES + length) return bodies;
      const frame = this.#take(PREFIX_BYTES + length);
      bodies.push(frame.subarray(PREFIX_BYTES));
    }
  }

  #peek(bytes: number): Uint8Array {
    if (this.#chunks[0].byteLength >= bytes) return this.#chunks[0];
    return this.#concat(bytes, false);
  }

  #take(bytes: number): Uint8Array {
    return this.#concat(bytes, true);
  }

  #concat(bytes: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(bytes);
    let offset = 0;
    let index = 0;
    while (offset < bytes) {
      const chunk = this.#chunks[index];
      const take = Math.min(chunk.byteLength, bytes - offset);
      out.set(chunk.subarray(0, take), offset);
      offset += take;
      if (consume) {
        if (take === chunk.byteLength) this.#chunks.shift();
        else this.#chunks[index] = chunk.subarray(take);
      } else index++;
    }
    if (consume) this.#buffered -= bytes;
    return out;
  }
}
