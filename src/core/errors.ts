/**
 * Errors with stable codes. The core knows nothing of HTTP: `src/api/http_errors.ts` is the one
 * place that maps a code to a status. Callers branch on `code`, never on message text.
 * Messages follow one grammar: "Cannot X as Y must be ...: current value is ...".
 */

/** Every code an edgecache error can carry; each maps to one HTTP status in the API layer. */
export const ERROR_CODES = [
  "bad_request",
  "invalid_key",
  "key_too_long",
  "invalid_ttl",
  "invalid_tags",
  "invalid_json",
  "value_too_large",
  "body_timeout",
  "not_found",
  "method_not_allowed",
  "precondition_failed",
  "token_missing",
  "token_invalid",
  "token_expired",
  "scope_denied",
  "prefix_denied",
  "origin_error",
  "origin_unreachable",
  "origin_too_large",
  "origin_timeout",
  "origin_circuit_open",
  "peer_unavailable",
  "not_ready",
  "overloaded",
  "internal",
] as const;

/** A stable error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** True when `code` is one of ours (e.g. a code received from a peer). */
export function isErrorCode(code: string): code is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code);
}

/** Base error of edgecache: a stable machine-readable `code` plus a human message. */
export class EdgecacheError extends Error {
  /** Stable snake_case code, safe to branch on and to put in the JSON error body. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EdgecacheError";
    this.code = code;
  }
}

/** Raised when a token is missing, malformed, expired or not signed by a configured key. */
export class AuthFailed extends EdgecacheError {
  constructor(code: "token_missing" | "token_invalid" | "token_expired", message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "AuthFailed";
  }
}

/** Raised when a valid token lacks the scope or key prefix a request needs. */
export class AccessDenied extends EdgecacheError {
  constructor(code: "scope_denied" | "prefix_denied", message: string) {
    super(code, message);
    this.name = "AccessDenied";
  }
}

/** Raised by a conditional write or delete whose precondition does not hold; nothing is changed. */
export class PreconditionFailed extends EdgecacheError {
  constructor(message: string) {
    super("precondition_failed", message);
    this.name = "PreconditionFailed";
  }
}

/** Raised when a peer cannot be reached (link down, breaker open, timeout); callers try the next replica. */
export class PeerUnavailable extends EdgecacheError {
  /**
   * True when the request may have reached the peer (a timeout, a link that dropped with the
   * request in flight) or a write was already applied here: such a write must not be retried on
   * another node, which would apply it twice.
   */
  readonly attempted: boolean;
  /**
   * True when the peer itself answered with this error (it could not reach the nodes it needed,
   * or is still catching up): the peer is alive, so its circuit breaker must not count it.
   */
  readonly answered: boolean;

  constructor(message: string, options?: { cause?: unknown; attempted?: boolean; answered?: boolean }) {
    super("peer_unavailable", message, options);
    this.name = "PeerUnavailable";
    this.attempted = options?.attempted ?? false;
    this.answered = options?.answered ?? false;
  }
}
