/**
 * Draws ranks 0..n-1 with Zipf popularity: P(rank k) proportional to 1/(k+1)^s. `s = 0` is
 * uniform. Uses an inverse-CDF table (8 bytes per key) and binary search, exact and simple.
 */
export function createZipfSampler(n: number, s: number, random: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Cannot sample as n must be a positive integer: current value is ${n}`);
  if (!(s >= 0)) throw new RangeError(`Cannot sample as s must be >= 0: current value is ${s}`);
  if (s === 0) return () => Math.floor(random() * n);
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (cdf[mid] < target) low = mid + 1;
      else high = mid;
    }
    return low;
  };
}
