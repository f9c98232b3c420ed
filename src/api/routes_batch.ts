import { Decoder, Encoder } from "cbor-x";
import type { Hono } from "hono";
import { EdgecacheError } from "../core/errors.ts";
import { validateKey } from "../core/key.ts";
import { formatEtag } from "../core/version.ts";
import type { KvService } from "../kv/kv_service.ts";
import type { AccessControl } from "./access.ts";
import { readBoundedBody } from "./bounded_body.ts";
import type { AppContext, AppDeps, AppEnv } from "./context.ts";
import { STATUS_BY_CODE } from "./http_errors.ts";
import { parseContentType, parseTags, parseTtlMs } from "./write_params.ts";

/** Operations one batch may carry. */
export const MAX_BATCH_OPS = 1000;

/** The result of one operation of a batch, in the order of the request's operations. */
export interface BatchResult {
  status: number;
  etag?: string;
  content_type?: string;
  /** The value (CBOR responses). */
  value?: Uint8Array;
  /** The value, base64 (JSON responses). */
  value_base64?: string;
  error?: { code: string; message: string };
}

const CBOR_TYPE = "application/cbor";
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, sequential: false });

function bad(message: string): EdgecacheError {
  return new EdgecacheError("bad_request", `Cannot run the batch as ${message}`);
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The body as plain data: CBOR (fresh decoder, no shared structures; byte strings copied, since
 * a stored value that is a view would keep the whole request body alive) or JSON.
 */
function decodeBody(body: Uint8Array, cbor: boolean): unknown {
  try {
    return cbor ? new Decoder({ useRecords: false, mapsAsObjects: true, sequential: false, copyBuffers: true }).decode(body) : JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new EdgecacheError("invalid_json", `Cannot parse the batch as its body must be ${cbor ? "CBOR" : "JSON"}: current body is not`);
  }
}

/** The value of a put: bytes in CBOR; in JSON a UTF-8 `value` or a base64 `value_base64`. */
function valueOf(op: Record<string, unknown>): Uint8Array {
  if (op.value instanceof Uint8Array) return op.value;
  if (typeof op.value === "string") return new TextEncoder().encode(op.value);
  if (typeof op.value_base64 === "string") {
    try {
      return fromBase64(op.value_base64);
    } catch {
      throw bad("value_base64 must be base64: current value is not");
    }
  }
  throw bad("a put must carry value (bytes or UTF-8 text) or value_base64: current put has neither");
}

/**
 * Registers `POST /v1/batch`: many gets, puts and deletes in one request, with the same
 * authentication, scopes, prefixes and limits as the single-key routes. Each operation gets its
 * own result (status, and error code when it failed); one failing operation does not stop the
 * others. Body: `{"ops":[{"op":"get","key":"k"},{"op":"put","key":"k","value":"v","ttl":60,
 * "tags":["a"],"content_type":"text/plain"},{"op":"delete","key":"k"}]}` as JSON, or the same
 * map as CBOR (`Content-Type: application/cbor`, values as byte strings); the response uses the
 * request's encoding.
 */
export function registerBatchRoute(app: Hono<AppEnv>, deps: AppDeps & { kv: KvService }, access: AccessControl): void {
  const { config, kv } = deps;
  const maxBody = MAX_BATCH_OPS * 256 + 16 * 1024 * 1024;

  async function run(c: AppContext, raw: unknown): Promise<BatchResult> {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw bad("each operation must be an object: current one is not");
    const op = raw as Record<string, unknown>;
    const key = validateKey(op.key, config.limits.maxKeyBytes);
    const requestId = c.get("requestId");
    switch (op.op) {
      case "get": {
        access.authorize(c, "cache:read", "batch.get", key);
        const outcome = await kv.read(key, requestId);
        if (outcome.kind === "absent" || outcome.kind === "miss") return { status: 404 };
        const result: BatchResult = { status: 200, content_type: outcome.entry.contentType };
        if (outcome.kind !== "fetched" || outcome.stored) result.etag = formatEtag(outcome.entry.version);
        return { ...result, value: outcome.entry.value };
      }
      case "put": {
        access.authorize(c, "cache:write", "batch.put", key);
        const value = valueOf(op);
        if (value.byteLength > config.limits.maxValueBytes) {
          throw new EdgecacheError("value_too_large", `Cannot accept the value as it must be at most ${config.limits.maxValueBytes} bytes: current size is ${value.byteLength}`);
        }
        if (op.tags !== undefined && (!Array.isArray(op.tags) || !op.tags.every((tag) => typeof tag === "string"))) throw bad("tags must be an array of strings");
        if (op.ttl !== undefined && typeof op.ttl !== "number") throw bad("ttl must be a number of seconds");
        if (op.content_type !== undefined && typeof op.content_type !== "string") throw bad("content_type must be a string");
        const input = {
          value,
          contentType: parseContentType(op.content_type as string | undefined),
          tags: parseTags((op.tags as string[] | undefined)?.join(",")),
          ttlMs: parseTtlMs(op.ttl === undefined ? undefined : String(op.ttl), config.limits),
        };
        const { created, version } = await kv.write(key, input, undefined, requestId);
        return { status: created ? 201 : 204, etag: formatEtag(version) };
      }
      case "delete":
        access.authorize(c, "cache:write", "batch.delete", key);
        await kv.remove(key, undefined, requestId);
        return { status: 204 };
      default:
        throw bad("op must be get, put or delete");
    }
  }

  app.post("/v1/batch", async (c) => {
    await access.authenticate(c, "batch");
    const cbor = (c.req.raw.headers.get("content-type") ?? "").startsWith(CBOR_TYPE);
    const body = decodeBody(await readBoundedBody(c.req.raw, maxBody, config.limits.bodyTimeoutMs, "the batch"), cbor) as { ops?: unknown };
    if (body === null || typeof body !== "object" || !Array.isArray(body.ops) || body.ops.length === 0 || body.ops.length > MAX_BATCH_OPS) {
      throw bad(`the body must be {"ops":[...]} with 1 to ${MAX_BATCH_OPS} operations: current body is not`);
    }
    const results: BatchResult[] = [];
    for (const op of body.ops) {
      try {
        results.push(await run(c, op));
      } catch (error) {
        if (!(error instanceof EdgecacheError)) throw error;
        results.push({ status: STATUS_BY_CODE[error.code], error: { code: error.code, message: error.message } });
      }
    }
    if (cbor) return new Response(encoder.encode({ results }) as Uint8Array<ArrayBuffer>, { headers: { "content-type": CBOR_TYPE } });
    const json = results.map(({ value, ...rest }) => (value === undefined ? rest : { ...rest, value_base64: toBase64(value) }));
    return c.json({ results: json });
  });
}
