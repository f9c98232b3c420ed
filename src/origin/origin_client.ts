import { readBoundedBody } from "../api/bounded_body.ts";
import { EdgecacheError } from "../core/errors.ts";
import { backoffDelay } from "./backoff.ts";
import { parseFreshness, type Freshness } from "./cache_control.ts";
import { type BreakerState, createCircuitBreaker } from "./circuit_breaker.ts";

/** What the origin answered for a key: a value (200) or a definite absence (404). */
export type OriginAnswer =
  | { status: 200; body: Uint8Array; contentType: string; freshness: Freshness }
  | { status: 404; freshness: Freshness };

/** How an origin call ended, for metrics. */
export type OriginOutcome = "ok" | "not_found" | "error_status" | "timeout" | "unreachable" | "too_large" | "circuit_open" | "overloaded";

/** The origin client's slice of the configuration. */
export interface OriginClientConfig {
  /** Base URL; a key K is fetched from `${url}/${K}`, each path segment percent-encoded. */
  url: string;
  /** Deadline of one call, retries included. */
  timeoutMs: number;
  /** Largest body accepted (EDGECACHE_MAX_VALUE_BYTES). */
  maxBodyBytes: number;
  /** Extra attempts for failures that are safe to retry (connect errors, 502, 503, 504). */
  retries: number;
  /** Calls in flight at once; more fail fast with `overloaded`. */
  maxConcurrency: number;
  breakerFailureThreshold: number;
  breakerCoolDownMs: number;
  /** Backoff base and cap between attempts. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

/** What the origin client takes from its surroundings. */
export interface OriginClientDeps {
  fetch: typeof fetch;
  now: () => number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Called once per finished call. */
  onCall?: (outcome: OriginOutcome, seconds: number) => void;
  /** Called once per breaker state change. */
  onBreakerTransition?: (from: BreakerState, to: BreakerState) => void;
}

/** Fetches keys from the origin with a deadline, retries, a circuit breaker and a concurrency cap. */
export interface OriginClient {
  fetch(key: string, requestId: string): Promise<OriginAnswer>;
  breakerState(): BreakerState;
}

const RETRYABLE_STATUSES = new Set([502, 503, 504]);

/** A failed attempt: whether to try again, and whether it says the origin is unhealthy. */
class Attempt extends Error {
  constructor(
    readonly outcome: OriginOutcome,
    readonly retryable: boolean,
    readonly error: EdgecacheError,
    readonly unhealthy = true,
  ) {
    super(error.message);
  }
}

/**
 * The origin URL of a key: each `/`-separated segment percent-encoded, so keys cannot escape the
 * base path. URL parsing resolves `.` and `..` segments (encoded or not) before the request goes
 * out, so a key with one could reach any path of the origin host: such keys throw `invalid_key`.
 */
export function originUrl(base: string, key: string): string {
  const segments = key.split("/");
  if (segments.some((segment) => segment === "." || segment === "..")) {
    throw new EdgecacheError("invalid_key", "Cannot load the key from the origin as its path segments must not be '.' or '..': current key has one");
  }
  return `${base}/${segments.map(encodeURIComponent).join("/")}`;
}

/** Creates an origin client. */
export function createOriginClient(config: OriginClientConfig, deps: OriginClientDeps): OriginClient {
  const breaker = createCircuitBreaker({
    failureThreshold: config.breakerFailureThreshold,
    coolDownMs: config.breakerCoolDownMs,
    now: deps.now,
    onTransition: deps.onBreakerTransition,
  });
  let active = 0;

  async function attempt(url: string, requestId: string, remainingMs: number): Promise<OriginAnswer> {
    let response: Response;
    // The signal also bounds the body: when it fires mid-body the read fails, and that is a timeout.
    const signal = AbortSignal.timeout(Math.max(1, remainingMs));
    try {
      response = await deps.fetch(url, { headers: { "x-request-id": requestId }, redirect: "manual", signal });
    } catch (cause) {
      const name = (cause as Error)?.name;
      if (name === "TimeoutError" || name === "AbortError") {
        throw new Attempt("timeout", false, new EdgecacheError("origin_timeout", `Cannot load the key as the origin must answer within ${config.timeoutMs}ms (EDGECACHE_ORIGIN_TIMEOUT): current call timed out`));
      }
      throw new Attempt("unreachable", true, new EdgecacheError("origin_unreachable", `Cannot load the key as the origin must be reachable: current error is ${(cause as Error)?.message ?? cause}`));
    }
    const freshness = parseFreshness(response.headers.get("cache-control"), response.headers.get("age"));
    if (response.status === 404) {
      await response.body?.cancel().catch(() => {});
      return { status: 404, freshness };
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new Attempt(
        "error_status",
        RETRYABLE_STATUSES.has(response.status),
        new EdgecacheError("origin_error", `Cannot load the key as the origin must answer 200 or 404: current status is ${response.status}`),
        // A 4xx is the origin answering, not failing: only 5xx count against its health.
        response.status >= 500,
      );
    }
    try {
      const body = await readBoundedBody(response, config.maxBodyBytes, Math.max(1, remainingMs), "the origin's body");
      return { status: 200, body, contentType: response.headers.get("content-type") ?? "application/octet-stream", freshness };
    } catch (error) {
      if (error instanceof EdgecacheError && error.code === "value_too_large") {
        throw new Attempt("too_large", false, new EdgecacheError("origin_too_large", error.message), false);
      }
      if (signal.aborted || (error instanceof EdgecacheError && error.code === "body_timeout")) {
        throw new Attempt("timeout", false, new EdgecacheError("origin_timeout", `Cannot load the key as the origin must send its body within ${config.timeoutMs}ms: current body is still arriving`));
      }
      throw new Attempt("unreachable", false, new EdgecacheError("origin_unreachable", "Cannot load the key as the origin's body must arrive whole: current connection broke"));
    }
  }

  return {
    breakerState: () => breaker.state(),
    async fetch(key, requestId) {
      // Before any slot is taken: a refused key must not hold a concurrency slot or the half-open probe.
      const url = originUrl(config.url, key);
      const started = deps.now();
      const finish = (outcome: OriginOutcome) => deps.onCall?.(outcome, (deps.now() - started) / 1000);
      // The cap is checked first so a refused call never takes the breaker's half-open probe slot.
      if (active >= config.maxConcurrency) {
        finish("overloaded");
        throw new EdgecacheError("overloaded", `Cannot load the key as at most ${config.maxConcurrency} origin requests may be in flight: current count is ${active}`);
      }
      if (!breaker.tryAcquire()) {
        finish("circuit_open");
        throw new EdgecacheError("origin_circuit_open", "Cannot load the key as the origin's circuit breaker must be closed: current state is open");
      }
      active++;
      const deadline = started + config.timeoutMs;
      try {
        for (let tries = 0; ; tries++) {
          try {
            const answer = await attempt(url, requestId, deadline - deps.now());
            breaker.record(true);
            finish(answer.status === 200 ? "ok" : "not_found");
            return answer;
          } catch (error) {
            if (!(error instanceof Attempt)) throw error;
            const delay = backoffDelay(tries, config.backoffBaseMs ?? 50, config.backoffCapMs ?? 1000, deps.random);
            if (!error.retryable || tries >= config.retries || deps.now() + delay >= deadline) {
              breaker.record(!error.unhealthy);
              finish(error.outcome);
              throw error.error;
            }
            await deps.sleep(delay);
          }
        }
      } finally {
        active--;
      }
    },
  };
}
