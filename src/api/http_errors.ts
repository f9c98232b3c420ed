import { EdgecacheError, type ErrorCode } from "../core/errors.ts";

/** The HTTP status of each error code: the one place codes meet HTTP. */
export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_key: 400,
  invalid_ttl: 400,
  invalid_tags: 400,
  invalid_json: 400,
  key_too_long: 414,
  value_too_large: 413,
  body_timeout: 408,
  not_found: 404,
  method_not_allowed: 405,
  precondition_failed: 412,
  token_missing: 401,
  token_invalid: 401,
  token_expired: 401,
  scope_denied: 403,
  prefix_denied: 403,
  origin_error: 502,
  origin_unreachable: 502,
  origin_too_large: 502,
  origin_timeout: 504,
  origin_circuit_open: 503,
  peer_unavailable: 503,
  not_ready: 503,
  overloaded: 503,
  internal: 500,
};

/** The contract's JSON error body. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** Turns any thrown value into the contract's error response; unknown errors become 500 `internal`. */
export function errorResponse(error: unknown, headers: Record<string, string> = {}): Response {
  const known = error instanceof EdgecacheError;
  const code: ErrorCode = known ? error.code : "internal";
  // Internal details stay in the logs; the client gets a stable, boring message.
  const message = known ? error.message : "Cannot complete the request as an internal error occurred: see the node's log";
  const status = STATUS_BY_CODE[code];
  const extra: Record<string, string> = status === 401 ? { "www-authenticate": 'Bearer realm="edgecache"' } : {};
  return new Response(errorBody(code, message), {
    status,
    headers: { "content-type": "application/json", ...extra, ...headers },
  });
}
