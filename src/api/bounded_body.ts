import { EdgecacheError } from "../core/errors.ts";

/**
 * Reads a request (or origin response) body while enforcing a byte limit and a deadline, without ever buffering more
 * than the limit: a declared `Content-Length` over the limit is refused before reading, and a
 * streamed (chunked) body is cut off as soon as it passes the limit. Throws `value_too_large`
 * or `body_timeout`.
 */
export async function readBoundedBody(message: Request | Response, maxBytes: number, timeoutMs: number, what = "the value"): Promise<Uint8Array> {
  const declared = message.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    // An origin's response body is released at once. A client's request body is left to the
    // runtime: cancelling it can drop the connection before the 413 is written.
    if (message instanceof Response) await message.body?.cancel().catch(() => {});
    throw tooLarge(what, maxBytes, Number(declared));
  }
  if (message.body === null) return new Uint8Array(0);
  const reader = message.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EdgecacheError("body_timeout", `Cannot read the request body as it must arrive within ${timeoutMs}ms: current body is still arriving`)),
      timeoutMs,
    );
  });
  const read = () =>
    reader.read().catch((cause) => {
      throw new EdgecacheError("bad_request", "Cannot read the request body as the client must send all of it: current connection ended early", { cause });
    });
  try {
    for (;;) {
      const { done, value } = await Promise.race([read(), deadline]);
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        chunks.length = 0;
        await drain(read);
        throw tooLarge(what, maxBytes, total);
      }
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** Bytes of an oversized body read and discarded before answering 413. */
const DRAIN_BYTES = 1024 * 1024;
const DRAIN_MS = 1000;

/**
 * Reads and discards a little more of an oversized body before the 413 goes out (a lingering
 * close, as nginx does): closing a socket with unread data makes the kernel send a reset, which
 * can destroy the 413 before the client reads it. Bounded in bytes and time, never buffered.
 */
async function drain(read: () => Promise<ReadableStreamReadResult<Uint8Array>>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), DRAIN_MS)));
  let drained = 0;
  try {
    while (drained < DRAIN_BYTES) {
      const result = await Promise.race([read(), timeout]);
      if (result === "timeout" || result.done) return;
      drained += result.value.byteLength;
    }
  } catch {
    // The client went away: nothing left to protect.
  } finally {
    clearTimeout(timer);
  }
}

function tooLarge(what: string, max: number, current: number): EdgecacheError {
  return new EdgecacheError("value_too_large", `Cannot accept ${what} as it must be at most ${max} bytes: current size is at least ${current}`);
}
