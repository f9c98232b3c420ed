import type { Logger } from "../obs/logger.ts";

/** A run of failures of one operation. */
export interface Fault {
  /** errno name or HTTP status of the latest failure. */
  code: string;
  /** Unix ms of the first failure of the run. */
  since: number;
  /** Failures in this run. */
  attempts: number;
}

/**
 * Whether one operation (writing, snapshotting) is failing. Logs exactly one line when a run of
 * failures starts and one when it ends, never one per attempt, so a full disk cannot flood the log.
 */
export interface FaultState {
  /** The current run of failures, or undefined while the operation works. */
  readonly current: Fault | undefined;
  /** Notes a failure; the first of a run is logged at warn. Returns the run so far. */
  fail(code: string, context: Record<string, unknown>): Fault;
  /** Notes a success; the end of a run is logged at info. Returns whether a run ended. */
  succeed(context: Record<string, unknown>): boolean;
}

/** Creates a fault state whose start and end lines read `failing` and `recovered`. */
export function createFaultState(options: { log: Logger; now: () => number; failing: string; recovered: string }): FaultState {
  let current: Fault | undefined;
  return {
    get current() {
      return current;
    },
    fail(code, context) {
      if (current === undefined) {
        current = { code, since: options.now(), attempts: 0 };
        options.log.warn({ code, ...context }, options.failing);
      }
      current.code = code;
      current.attempts++;
      return current;
    },
    succeed(context) {
      if (current === undefined) return false;
      options.log.info({ code: current.code, attempts: current.attempts, ...context }, options.recovered);
      current = undefined;
      return true;
    },
  };
}
