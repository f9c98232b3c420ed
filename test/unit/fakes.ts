/**
 * Deterministic stand-ins for the injected dependencies of the core (clock and randomness), shared
 * by the unit tests. Not a test file itself: its name does not end in `.test.ts`.
 */

/** A hand-driven wall clock in Unix ms. */
export interface FakeClock {
  /** The current time; pass as `now` wherever a clock is injected. */
  now: () => number;
  /** Moves time forward (or backward, with a negative `ms`). */
  advance(ms: number): void;
  /** Jumps to an absolute time. */
  set(ms: number): void;
}

/** 2023-11-14T22:13:20Z: a realistic epoch far from 0, so "0 means never" bugs cannot hide. */
export const T0 = 1_700_000_000_000;

/** Creates a fake clock starting at `start`. */
export function createFakeClock(start = T0): FakeClock {
  let current = start;
  return {
    now: () => current,
    advance(ms) {
      current += ms;
    },
    set(ms) {
      current = ms;
    },
  };
}

/** mulberry32: a tiny seeded PRNG returning uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Asserts-friendly capture of a thrown error's `code` (undefined when nothing was thrown). */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code ?? `no code: ${String(error)}`;
  }
  return undefined;
}

/** Async variant of `codeOf`. */
export async function codeOfAsync(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    return (error as { code?: string }).code ?? `no code: ${String(error)}`;
  }
  return undefined;
}
