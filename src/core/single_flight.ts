import { EdgecacheError } from "./errors.ts";

/** The result of joining a flight: the shared value and whether this caller started the work. */
export interface FlightResult<T> {
  value: T;
  /** False for the caller whose call ran `work`; true for callers that waited on it. */
  shared: boolean;
}

/**
 * Collapses concurrent calls for the same key into one execution (groupcache's singleflight).
 * Callers that arrive while a flight is running wait for its outcome, success or error, and a
 * finished flight is forgotten at once, so the next call starts afresh. `work` must settle within
 * its own deadline: waiters are bounded by that deadline, and by `maxWaiters` so a stuck key
 * cannot pile up unbounded memory.
 */
export interface SingleFlight<T> {
  run(key: string, work: () => Promise<T>): Promise<FlightResult<T>>;
  /** Keys with a flight in progress. */
  readonly active: number;
}

/** Creates a single-flight group. `maxWaiters` bounds callers per key beyond the first. */
export function createSingleFlight<T>(options: { maxWaiters: number }): SingleFlight<T> {
  const flights = new Map<string, { promise: Promise<T>; waiters: number }>();
  return {
    get active() {
      return flights.size;
    },
    async run(key, work) {
      const existing = flights.get(key);
      if (existing !== undefined) {
        if (existing.waiters >= options.maxWaiters) {
          throw new EdgecacheError("overloaded", `Cannot wait for the key's fetch as at most ${options.maxWaiters} requests may wait per key: current count is ${existing.waiters}`);
        }
        existing.waiters++;
        return { value: await existing.promise, shared: true };
      }
      const flight = { promise: work(), waiters: 0 };
      flights.set(key, flight);
      try {
        return { value: await flight.promise, shared: false };
      } finally {
        flights.delete(key);
      }
    },
  };
}
