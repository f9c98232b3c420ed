import { nodeHash, type Version } from "./version.ts";

/** Logical ticks available within one wall-clock millisecond. */
const LOGICAL_PER_MS = 1024;

/** A hybrid logical clock (Kulkarni et al.) that stamps writes with versions. */
export interface HybridClock {
  /** A version for a local write, strictly newer than every version this clock has issued or seen. */
  tick(): Version;
  /** Advances the clock past a version received from another node. */
  observe(remote: Version): void;
}

/** What a hybrid clock needs: the node's id and a wall clock in milliseconds. */
export interface HybridClockOptions {
  nodeId: string;
  /** Wall clock in Unix milliseconds; injected so tests control time. */
  now: () => number;
}

/**
 * Creates a hybrid logical clock. It follows the wall clock when it moves forward and counts
 * logically when it stands still or jumps back, so versions stay monotonic across clock skew.
 */
export function createHybridClock(options: HybridClockOptions): HybridClock {
  const node = nodeHash(options.nodeId);
  let last = 0;
  return {
    tick() {
      const physical = Math.floor(options.now()) * LOGICAL_PER_MS;
      // When the logical counter overflows a millisecond it simply borrows the next one.
      last = physical > last ? physical : last + 1;
      return { hlc: last, node };
    },
    observe(remote) {
      if (remote.hlc > last) last = remote.hlc;
    },
  };
}
