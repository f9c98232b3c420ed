/**
 * Finds expired keys without a timer per entry: keys are filed in one-second buckets by expiry
 * time, and a min-heap of bucket times lets a periodic sweep visit only buckets that are due.
 * Entries are also checked lazily on every read, so the sweep only reclaims memory early.
 */
export interface ExpiryIndex {
  /** Files `key` under its expiry time (ms); 0 means never and is not filed. */
  add(key: string, expiresAt: number): void;
  /** Unfiles `key` from the bucket of `expiresAt`, e.g. when it is replaced or deleted. */
  remove(key: string, expiresAt: number): void;
  /** Removes and returns up to `limit` keys filed under buckets that ended before `now`. */
  takeDue(now: number, limit: number): string[];
  /** Unfiles everything. */
  clear(): void;
  /** Number of keys filed. */
  readonly size: number;
}

const BUCKET_MS = 1000;

/** Creates an empty expiry index. */
export function createExpiryIndex(): ExpiryIndex {
  const buckets = new Map<number, Set<string>>();
  const heap: number[] = [];
  let size = 0;

  function push(bucket: number): void {
    heap.push(bucket);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= heap[i]) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  function pop(): void {
    const last = heap.pop() as number;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left] < heap[smallest]) smallest = left;
      if (right < heap.length && heap[right] < heap[smallest]) smallest = right;
      if (smallest === i) return;
      [heap[smallest], heap[i]] = [heap[i], heap[smallest]];
      i = smallest;
    }
  }

  return {
    get size() {
      return size;
    },
    add(key, expiresAt) {
      if (expiresAt === 0) return;
      const bucket = Math.floor(expiresAt / BUCKET_MS);
      let keys = buckets.get(bucket);
      if (keys === undefined) {
        keys = new Set();
        buckets.set(bucket, keys);
        push(bucket);
      }
      if (!keys.has(key)) {
        keys.add(key);
        size++;
      }
    },
    remove(key, expiresAt) {
      if (expiresAt === 0) return;
      const keys = buckets.get(Math.floor(expiresAt / BUCKET_MS));
      // An emptied bucket stays in the heap until it is due; takeDue drops it then.
      if (keys?.delete(key)) size--;
    },
    takeDue(now, limit) {
      const due: string[] = [];
      while (heap.length > 0 && due.length < limit) {
        const bucket = heap[0];
        // A bucket is due once every expiry time it can hold has passed.
        if ((bucket + 1) * BUCKET_MS > now) break;
        const keys = buckets.get(bucket);
        if (keys !== undefined) {
          for (const key of keys) {
            if (due.length >= limit) break;
            due.push(key);
            keys.delete(key);
            size--;
          }
          if (keys.size > 0) break;
          buckets.delete(bucket);
        }
        pop();
      }
      return due;
    },
    clear() {
      buckets.clear();
      heap.length = 0;
      size = 0;
    },
  };
}
