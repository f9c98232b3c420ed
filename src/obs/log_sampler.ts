/**
 * Bounds how many lines of one kind are logged per second, so an outage that fails every request
 * cannot turn the log into a second outage. Suppressed lines are counted and reported on the
 * next line that gets through.
 */
export interface LogSampler {
  /** Returns how many lines were suppressed before this one (0 or more), or -1 to suppress this one. */
  admit(): number;
}

/** Creates a sampler admitting at most `perSecond` lines per wall-clock second. */
export function createLogSampler(perSecond: number, now: () => number): LogSampler {
  let windowStart = 0;
  let admitted = 0;
  let suppressed = 0;
  return {
    admit() {
      const time = now();
      if (time - windowStart >= 1000) {
        windowStart = time;
        admitted = 0;
      }
      if (admitted >= perSecond) {
        suppressed++;
        return -1;
      }
      admitted++;
      const report = suppressed;
      suppressed = 0;
      return report;
    },
  };
}
