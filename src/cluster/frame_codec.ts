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

/** Decodes one frame body with a fresh decoder, so no state survives between frames. */
export function decodeFrameBody(body: Uint8Array): unknown {
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
