/** The three states of a circuit breaker. */
export type BreakerState = "closed" | "open" | "half_open";

/** A circuit breaker around calls to one dependency. */
export interface CircuitBreaker {
  /** Current state, moving open -> half_open when the cool-down has passed. */
  state(): BreakerState;
  /** Whether a call may go out now; in half-open only one probe at a time is allowed. */
  tryAcquire(): boolean;
  /** Reports the outcome of a call that `tryAcquire` allowed. */
  record(success: boolean): void;
}

/** Breaker tuning. */
export interface BreakerOptions {
  /** Consecutive failed calls that open the breaker. @default 5 */
  failureThreshold: number;
  /** How long it stays open before letting one probe through, in ms. @default 5000 */
  coolDownMs: number;
  now: () => number;
  /** Called once per state change, never per request. */
  onTransition?: (from: BreakerState, to: BreakerState) => void;
}

/**
 * A consecutive-failure circuit breaker: closed until `failureThreshold` calls fail in a row,
 * then open (calls fail fast) for `coolDownMs`, then half-open with a single probe whose outcome
 * closes it again or reopens it.
 */
export function createCircuitBreaker(options: BreakerOptions): CircuitBreaker {
  let current: BreakerState = "closed";
  let failures = 0;
  let openedAt = 0;
  let probeInFlight = false;

  const move = (to: BreakerState) => {
    if (to === current) return;
    const from = current;
    current = to;
    options.onTransition?.(from, to);
  };

  const state = (): BreakerState => {
    if (current === "open" && options.now() - openedAt >= options.coolDownMs) {
      probeInFlight = false;
      move("half_open");
    }
    return current;
  };

  return {
    state,
    tryAcquire() {
      const now = state();
      if (now === "closed") return true;
      if (now === "open" || probeInFlight) return false;
      probeInFlight = true;
      return true;
    },
    record(success) {
      if (success) {
        failures = 0;
        probeInFlight = false;
        move("closed");
        return;
      }
      failures++;
      if (current === "half_open" || failures >= options.failureThreshold) {
        probeInFlight = false;
        openedAt = options.now();
        move("open");
      }
    },
  };
}
