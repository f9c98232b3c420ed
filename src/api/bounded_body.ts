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
    await message.body?.cancel().catch(() => {});
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
      if (total > maxBytes) throw tooLarge(what, maxBytes, total);
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

function tooLarge(what: string, max: number, current: number): EdgecacheError {
  return new EdgecacheError("value_too_large", `Cannot accept ${what} as it must be at most ${max} bytes: current size is at least ${current}`);
}
