/**
 * Micro-benchmarks of the local store against the obvious alternatives, each behind one small
 * interface (as hono's benchmarks/routers do): get of a present key, get of an absent key, and
 * set in steady state (a key pool twice the capacity, so a capped cache inserts and evicts).
 * Every competitor holds CAPACITY entries; byte-capped ones get a byte budget that fits that many.
 *
 *   bun bench/store.bench.ts                  mitata's runner and report
 *   deno run -A bench/store.bench.ts
 *   bun bench/store.bench.ts --paired         paired rounds: steadier ratios on a busy machine
 *   deno run -A bench/store.bench.ts --paired [--rounds=9]
 *
 * It prints each mean time per op as a ratio to `Map`'s in the same run (after mitata's own
 * report, or per round when paired), then one JSON line (`{"bench":"store",...}`).
 */
import process from "node:process";
import { bench, do_not_optimize, group, measure, run, summary } from "mitata";
import { LRUCache } from "lru-cache";
import { entrySize } from "../src/core/entry.ts";
import { createHybridClock } from "../src/core/hybrid_clock.ts";
import { createStore } from "../src/core/store.ts";

/** Entries each cache holds: a power of two so the key index is a mask. */
const CAPACITY = 8192;
const CONTENT_TYPE = "application/octet-stream";

/** The one interface every competitor is measured through. */
interface BenchCache {
  get(key: string): unknown;
  set(key: string, value: Uint8Array): void;
}

/** What a competitor needs to size itself for CAPACITY entries of one shape. */
interface CacheSpec {
  capacity: number;
  /** Longest key in UTF-8 bytes (all keys here are ASCII). */
  maxKeyBytes: number;
  valueBytes: number;
}

interface Competitor {
  name: string;
  create(spec: CacheSpec): BenchCache;
}

const COMPETITORS: Competitor[] = [
  {
    // The floor: a plain Map, bounded FIFO-style by a ring of inserted keys. (Evicting through
    // `map.keys().next()` is no floor: it walks the deleted slots at the front, ~2 µs per set on Bun.)
    name: "Map",
    create({ capacity }) {
      const map = new Map<string, Uint8Array>();
      const ring: string[] = new Array(capacity);
      let next = 0;
      return {
        get: (key) => map.get(key),
        set(key, value) {
          if (!map.has(key)) {
            if (map.size >= capacity) map.delete(ring[next]);
            ring[next] = key;
            next = (next + 1) % capacity;
          }
          map.set(key, value);
        },
      };
    },
  },
  {
    name: "lru-cache {max}",
    create({ capacity }) {
      const cache = new LRUCache<string, Uint8Array>({ max: capacity });
      return { get: (key) => cache.get(key), set: (key, value) => void cache.set(key, value) };
    },
  },
  {
    name: "lru-cache {maxSize}",
    create({ capacity, maxKeyBytes, valueBytes }) {
      const cache = new LRUCache<string, Uint8Array>({
        maxSize: capacity * (maxKeyBytes + valueBytes),
        sizeCalculation: (value, key) => value.byteLength + key.length,
      });
      return { get: (key) => cache.get(key), set: (key, value) => void cache.set(key, value) };
    },
  },
  ...(["lru", "lfu"] as const).map((eviction): Competitor => ({
    name: `store ${eviction}`,
    create({ capacity, maxKeyBytes, valueBytes }) {
      const maxBytes = capacity * entrySize(maxKeyBytes, new Uint8Array(valueBytes), CONTENT_TYPE, []);
      const store = createStore(
        { maxBytes, eviction },
        { now: Date.now, random: Math.random, clock: createHybridClock({ nodeId: "bench", now: Date.now }) },
      );
      return {
        get: (key) => store.get(key),
        // A fresh input object and tags array per write, as the HTTP API hands them over.
        set: (key, value) => void store.put(key, { value, contentType: CONTENT_TYPE, tags: [], ttlMs: 0 }),
      };
    },
  })),
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An equal but distinct, flat string: lookups compare contents, as with a key parsed from a request. */
function copyOf(text: string): string {
  return decoder.decode(encoder.encode(text));
}

const SHORT = (i: number) => `k${i}`;
/** 200-character path-like keys sharing a long prefix, the number at the end. */
function LONG(i: number): string {
  const tail = `/${i}.webp`;
  const head = "/tenants/acme-retail/regions/eu-west-1/catalog/assets/images/products/2024/summer-collection/";
  return copyOf(head.padEnd(200 - tail.length, "abcdefghij/") + tail);
}

interface KeyShape {
  name: string;
  /** Keys stored by the get benchmarks, then the lookups of them (distinct string objects). */
  stored: string[];
  hits: string[];
  misses: string[];
  /** Twice CAPACITY keys written round-robin by the set benchmark. */
  writes: string[];
  maxKeyBytes: number;
}

function keyShape(name: string, make: (i: number) => string): KeyShape {
  const stored = Array.from({ length: CAPACITY }, (_, i) => copyOf(make(i)));
  const hits = stored.map(copyOf);
  const misses = Array.from({ length: CAPACITY }, (_, i) => copyOf(make(CAPACITY + i)));
  const writes = Array.from({ length: 2 * CAPACITY }, (_, i) => copyOf(make(4 * CAPACITY + i)));
  const maxKeyBytes = Math.max(...[...stored, ...misses, ...writes].map((key) => encoder.encode(key).byteLength));
  return { name, stored, hits, misses, writes, maxKeyBytes };
}

const KEY_SHAPES = [keyShape("short", SHORT), keyShape("long", LONG)];
const VALUE_SIZES = [{ name: "100 B", bytes: 100 }, { name: "4 KiB", bytes: 4096 }];
if (KEY_SHAPES[1].stored[0].length !== 200) throw new Error("long keys must be 200 characters");

/** A few distinct values per size; which value a key holds does not matter to any competitor. */
function valuePool(bytes: number): Uint8Array[] {
  return Array.from({ length: 64 }, (_, i) => new Uint8Array(bytes).fill(i));
}

function filled(competitor: Competitor, shape: KeyShape, keys: string[], values: Uint8Array[]): BenchCache {
  const cache = competitor.create({ capacity: CAPACITY, maxKeyBytes: shape.maxKeyBytes, valueBytes: values[0].byteLength });
  for (let i = 0; i < keys.length; i++) cache.set(keys[i], values[i & 63]);
  return cache;
}

// The benchmark loops below are shared by all competitors, so their call sites are polymorphic.
// Warming every competitor through them first gives each the same (non-inlined) dispatch,
// instead of letting whichever runs first be inlined.
function getLoop(cache: BenchCache, keys: string[]): () => void {
  const mask = keys.length - 1;
  let i = 0;
  return () => do_not_optimize(cache.get(keys[i++ & mask]));
}

function setLoop(cache: BenchCache, keys: string[], values: Uint8Array[]): () => void {
  const mask = keys.length - 1;
  let i = 0;
  return () => {
    const n = i++;
    cache.set(keys[n & mask], values[n & 63]);
  };
}

for (const competitor of COMPETITORS) {
  const shape = KEY_SHAPES[0];
  const values = valuePool(100);
  const cache = filled(competitor, shape, shape.stored, values);
  const hit = getLoop(cache, shape.hits);
  const miss = getLoop(cache, shape.misses);
  const set = setLoop(cache, shape.writes, values);
  for (let i = 0; i < 20_000; i++) {
    hit();
    miss();
    set();
  }
}

type Op = "get-hit" | "get-miss" | "set";

/** One cell of the matrix: an operation on one key shape and value size. */
interface Scenario {
  op: Op;
  shape: KeyShape;
  size: { name: string; bytes: number };
}

const SCENARIOS: Scenario[] = KEY_SHAPES.flatMap((shape) => [
  ...VALUE_SIZES.map((size): Scenario => ({ op: "get-hit", shape, size })),
  // A miss never touches a value, so one value size is enough.
  { op: "get-miss", shape, size: VALUE_SIZES[0] },
  ...VALUE_SIZES.map((size): Scenario => ({ op: "set", shape, size })),
]);

const label = (s: Scenario) => `${s.op} ${s.shape.name} ${s.size.name}`;

/** A filled cache of `competitor` and the loop that exercises it for `scenario`. */
function prepare(competitor: Competitor, { op, shape, size }: Scenario): () => void {
  const values = valuePool(size.bytes);
  const loop = op === "set"
    // Start full with the second half of the pool, so the first writes already evict.
    ? setLoop(filled(competitor, shape, shape.writes.slice(CAPACITY), values), shape.writes, values)
    : getLoop(filled(competitor, shape, shape.stored, values), op === "get-hit" ? shape.hits : shape.misses);
  // Warm the loop, ending mid-way between two of the periodic Map rehashes that steady-state
  // writes trigger (one every ~CAPACITY deletes, milliseconds long): mitata times one call first
  // and, if it takes over 500 µs, times single calls instead of batches, and a clock read
  // (~100-200 ns on this kind of VM) would then swamp a 20 ns get.
  for (let i = 0; i < 3 * CAPACITY + CAPACITY / 2; i++) loop();
  return loop;
}

interface Row {
  scenario: string;
  competitor: string;
  /** Mean ns per op (paired: the median over rounds of each round's mean). */
  avgNs: number;
  /** Mean over Map's mean for the same scenario (paired: median over rounds of the per-round ratio). */
  vsMap: number;
  /** Paired mode only: the smallest and largest per-round ratio. */
  vsMapRange?: [number, number];
  p50Ns?: number;
  minNs?: number;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** mitata's own runner: one timed run per competitor and scenario, with its full report. */
async function mitataRun(): Promise<{ runtime: string; cpu: string | null; rows: Row[] }> {
  const order: Array<{ scenario: string; competitor: string }> = [];
  for (const scenario of SCENARIOS) {
    group(`${scenario.op} · ${scenario.shape.name} keys · ${scenario.size.name} values`, () => {
      summary(() => {
        for (const competitor of COMPETITORS) {
          order.push({ scenario: label(scenario), competitor: competitor.name });
          const b = bench(competitor.name, function* () {
            yield prepare(competitor, scenario);
          });
          if (competitor.name === "Map") b.baseline();
        }
      });
    });
  }
  const { context, benchmarks } = await run();
  if (benchmarks.length !== order.length) throw new Error(`expected ${order.length} results, got ${benchmarks.length}`);
  const rows: Row[] = benchmarks.map((trial, i) => {
    const { scenario, competitor } = order[i];
    if (trial.alias !== competitor) throw new Error(`result ${i} is ${trial.alias}, expected ${competitor}`);
    const stats = trial.runs[0].stats;
    if (stats === undefined) throw new Error(`${scenario} ${competitor} failed: ${String(trial.runs[0].error)}`);
    if (stats.ticks === stats.samples.length) console.error(`warning: ${scenario} ${competitor} was timed per call, not in batches`);
    return { scenario, competitor, avgNs: round2(stats.avg), vsMap: 0, p50Ns: round2(stats.p50), minNs: round2(stats.min) };
  });
  for (const row of rows) {
    const base = rows.find((b) => b.competitor === "Map" && b.scenario === row.scenario) as Row;
    row.vsMap = round2(row.avgNs / base.avgNs);
  }
  return { runtime: `${context.runtime} ${(context as any).version ?? ""}`.trim(), cpu: context.cpu.name, rows };
}

/**
 * Paired rounds: every round measures each competitor of a scenario briefly, one right after
 * the other (starting with a different one each round), and takes the ratio to Map within the
 * round. Load from other processes that lasts longer than a round then hits the competitor
 * and its baseline alike, so the median ratio over rounds is far steadier than one long run each.
 */
async function pairedRun(rounds: number): Promise<{ runtime: string; cpu: string | null; rows: Row[] }> {
  const cells = SCENARIOS.map((scenario) => ({ scenario, loops: COMPETITORS.map((c) => prepare(c, scenario)) }));
  const means = cells.map(() => COMPETITORS.map((): number[] => []));
  const ratios = cells.map(() => COMPETITORS.map((): number[] => []));
  for (let round = 0; round < rounds; round++) {
    for (const [i, cell] of cells.entries()) {
      const times: number[] = [];
      for (let k = 0; k < COMPETITORS.length; k++) {
        const c = (k + round) % COMPETITORS.length;
        // No forced GC: garbage from writes is part of their cost, and a full GC per
        // measurement over ~50 filled caches would dominate the run time.
        const stats = await measure(cell.loops[c], { min_cpu_time: 25e6, batch_samples: 512, gc: false, warmup_threshold: Infinity });
        if (stats.ticks === stats.samples.length) {
          console.error(`warning: ${label(cell.scenario)} ${COMPETITORS[c].name} was timed per call`);
        }
        times[c] = stats.avg;
      }
      for (let c = 0; c < COMPETITORS.length; c++) {
        means[i][c].push(times[c]);
        ratios[i][c].push(times[c] / times[0]);
      }
    }
  }
  const rows = cells.flatMap(({ scenario }, i) =>
    COMPETITORS.map((competitor, c): Row => ({
      scenario: label(scenario),
      competitor: competitor.name,
      avgNs: round2(median(means[i][c])),
      vsMap: round2(median(ratios[i][c])),
      vsMapRange: [round2(Math.min(...ratios[i][c])), round2(Math.max(...ratios[i][c]))],
    }))
  );
  const g = globalThis as any;
  const runtime = g.Bun ? `bun ${g.Bun.version}` : "Deno" in g ? `deno ${g.Deno.version.deno}` : "unknown";
  return { runtime, cpu: null, rows };
}

const paired = process.argv.includes("--paired");
const rounds = Number(process.argv.find((arg) => arg.startsWith("--rounds="))?.slice("--rounds=".length) ?? 9);
const started = Date.now();
const result = paired ? await pairedRun(rounds) : await mitataRun();

// Means, not medians: steady-state writes pay a periodic Map rehash (milliseconds, every ~8k
// deletes) that lands in few samples, so a median would leave it out. Paired mode takes the
// median over rounds instead, which is what keeps other processes' time slices out.
console.log(
  `\n${paired ? `paired rounds (${rounds}): median per-round ratio of mean` : "mean"} time per op to Map's in the same run ` +
    `(lower is faster; ns/op in brackets); ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
console.log(`${"scenario".padEnd(22)}${COMPETITORS.map((c) => c.name.padStart(paired ? 29 : 21)).join("")}`);
for (let i = 0; i < result.rows.length; i += COMPETITORS.length) {
  const slice = result.rows.slice(i, i + COMPETITORS.length);
  const cell = (r: Row) =>
    `${r.vsMap.toFixed(2)}x${r.vsMapRange ? ` [${r.vsMapRange[0].toFixed(1)}-${r.vsMapRange[1].toFixed(1)}]` : ""} (${r.avgNs.toFixed(1)})`;
  console.log(`${slice[0].scenario.padEnd(22)}${slice.map((r) => cell(r).padStart(paired ? 29 : 21)).join("")}`);
}
console.log(
  JSON.stringify({
    bench: "store",
    mode: paired ? "paired" : "mitata",
    rounds: paired ? rounds : undefined,
    ...result,
    capacity: CAPACITY,
  }),
);
