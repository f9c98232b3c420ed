/**
 * A log-linear latency histogram in microseconds (HdrHistogram's idea, small): values below 256 us
 * are exact, larger ones fall in 128 sub-buckets per power of two, so any percentile is within
 * 1% of the true value while memory stays fixed (~3,300 counters) however long a run is.
 */
export interface LatencyHistogram {
  /** Records one latency in microseconds. */
  record(micros: number): void;
  /** The latency at percentile `p` (0-100) in microseconds; 0 when empty. */
  percentile(p: number): number;
  /** Largest recorded value, exact. */
  readonly max: number;
  /** Number of recorded values. */
  readonly count: number;
  /** Adds another histogram's counts into this one. */
  merge(other: LatencyHistogram): void;
  /** The raw counters, for merging. */
  readonly counts: Uint32Array;
}

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
const LINEAR = 2 * SUB;
const MAX_EXPONENT = 32 - SUB_BITS;
const BUCKETS = LINEAR + MAX_EXPONENT * SUB;

function indexOf(micros: number): number {
  const v = Math.min(0xffffffff, Math.max(0, Math.round(micros)));
  if (v < LINEAR) return v;
  const exponent = 31 - Math.clz32(v) - SUB_BITS;
  return LINEAR + (exponent - 1) * SUB + ((v >>> exponent) - SUB);
}

/** The middle of bucket `index`, in microseconds. */
function valueOf(index: number): number {
  if (index < LINEAR) return index;
  const exponent = Math.floor((index - LINEAR) / SUB) + 1;
  const mantissa = ((index - LINEAR) % SUB) + SUB;
  return mantissa * 2 ** exponent + 2 ** (exponent - 1);
}

/** Creates an empty histogram. */
export function createLatencyHistogram(): LatencyHistogram {
  const counts = new Uint32Array(BUCKETS);
  let max = 0;
  let count = 0;
  return {
    counts,
    get max() {
      return max;
    },
    get count() {
      return count;
    },
    record(micros) {
      counts[indexOf(micros)]++;
      count++;
      if (micros > max) max = micros;
    },
    percentile(p) {
      if (count === 0) return 0;
      const rank = Math.max(1, Math.ceil((p / 100) * count));
      let seen = 0;
      for (let i = 0; i < BUCKETS; i++) {
        seen += counts[i];
        if (seen >= rank) return Math.min(valueOf(i), max);
      }
      return max;
    },
    merge(other) {
      for (let i = 0; i < BUCKETS; i++) counts[i] += other.counts[i];
      count += other.count;
      if (other.max > max) max = other.max;
    },
  };
}
