import type { StoredEntry } from "./entry.ts";
import type { EntryTable, EntryTableOptions } from "./entry_table.ts";

/** Tuning of the approximated LFU policy; the defaults are Redis's. */
export interface LfuOptions extends EntryTableOptions {
  /** Uniform random in [0, 1); injected so tests are deterministic. */
  random: () => number;
  /** Monotonic-enough clock in ms, for frequency aging. */
  now: () => number;
  /** Candidates sampled per eviction. @default 16 */
  samples?: number;
  /** Counter value of a new entry, so it is not evicted before it had a chance. @default 5 */
  initialCounter?: number;
  /** Higher means slower counter growth; a counter saturates after about factor*1M hits. @default 10 */
  logFactor?: number;
  /** Every this many ms without access, a counter decays by one. @default 60_000 */
  decayMs?: number;
}

interface Slot {
  entry: StoredEntry;
  /** Logarithmic access counter, 0..255. */
  counter: number;
  /** When the counter was last brought up to date (ms). */
  touchedAt: number;
  /** Position in the dense key array, for O(1) random sampling and removal. */
  index: number;
}

const MAX_COUNTER = 255;

/**
 * An entry table with approximated least-frequently-used eviction, as Redis's `allkeys-lfu`:
 * each entry has a logarithmic access counter that grows more slowly the hotter it is and decays
 * with idle time, so a key hot long ago does not stay forever. Eviction samples a few random
 * entries and evicts the one with the lowest decayed counter (the longest idle among equals).
 */
export function createLfuTable(options: LfuOptions): EntryTable {
  const samples = options.samples ?? 16;
  const initialCounter = options.initialCounter ?? 5;
  const logFactor = options.logFactor ?? 10;
  const decayMs = options.decayMs ?? 60_000;
  const slots = new Map<string, Slot>();
  const dense: string[] = [];
  let bytes = 0;

  function decayed(slot: Slot, now: number): number {
    const periods = Math.floor((now - slot.touchedAt) / decayMs);
    return periods > 0 ? Math.max(0, slot.counter - periods) : slot.counter;
  }

  function touch(slot: Slot): void {
    const now = options.now();
    let counter = decayed(slot, now);
    if (counter < MAX_COUNTER) {
      const base = Math.max(0, counter - initialCounter);
      if (options.random() < 1 / (base * logFactor + 1)) counter++;
    }
    slot.counter = counter;
    slot.touchedAt = now;
  }

  function removeSlot(key: string, slot: Slot): void {
    const last = dense.pop() as string;
    if (last !== key) {
      dense[slot.index] = last;
      (slots.get(last) as Slot).index = slot.index;
    }
    slots.delete(key);
    bytes -= slot.entry.size;
  }

  function evictOne(protectedKey: string): boolean {
    const now = options.now();
    let victimKey: string | undefined;
    let victim: Slot | undefined;
    let victimScore = Infinity;
    const draws = Math.min(samples, dense.length);
    for (let i = 0; i < draws; i++) {
      // With few entries every one is a candidate, which keeps small caches exact.
      const key = dense.length <= samples ? dense[i] : dense[Math.floor(options.random() * dense.length)];
      if (key === protectedKey) continue;
      const slot = slots.get(key) as Slot;
      const score = decayed(slot, now) * 1e15 + slot.touchedAt;
      if (score < victimScore) {
        victimScore = score;
        victimKey = key;
        victim = slot;
      }
    }
    if (victimKey === undefined || victim === undefined) {
      // Every draw hit the key being written: take any other entry rather than overshoot the cap.
      victimKey = dense.find((key) => key !== protectedKey);
      if (victimKey === undefined) return false;
      victim = slots.get(victimKey) as Slot;
    }
    removeSlot(victimKey, victim);
    options.onEvict(victimKey, victim.entry);
    return true;
  }

  return {
    get count() {
      return slots.size;
    },
    get bytes() {
      return bytes;
    },
    get(key) {
      const slot = slots.get(key);
      if (slot === undefined) return undefined;
      touch(slot);
      return slot.entry;
    },
    peek: (key) => slots.get(key)?.entry,
    set(key, entry) {
      const existing = slots.get(key);
      if (existing !== undefined) {
        bytes += entry.size - existing.entry.size;
        existing.entry = entry;
        touch(existing);
      } else {
        const slot: Slot = { entry, counter: initialCounter, touchedAt: options.now(), index: dense.length };
        slots.set(key, slot);
        dense.push(key);
        bytes += entry.size;
      }
      while (bytes > options.maxBytes && evictOne(key));
    },
    delete(key) {
      const slot = slots.get(key);
      if (slot === undefined) return false;
      removeSlot(key, slot);
      return true;
    },
    keys: () => Array.from(dense).values(),
    clear() {
      slots.clear();
      dense.length = 0;
      bytes = 0;
    },
  };
}
