/**
 * Measures the memory one cache entry really costs, to keep `ENTRY_OVERHEAD_BYTES`
 * (src/core/entry.ts) honest. For each holder and entry count it starts a fresh child process
 * (so one measurement's garbage and RSS high-water mark cannot leak into the next), which:
 * runs a full GC, reads memory, fills the holder with N entries (12-byte keys, 100-byte
 * `Uint8Array` values, each its own buffer), runs a full GC again and reads memory. The
 * per-entry delta minus the bytes the cap already counts (key + value, and for the store also
 * the content type) is the overhead.
 *
 *   bun bench/entry_overhead.ts [--n=200000,1000000] [--only=store-lru,map]
 *   deno run -A --v8-flags=--expose-gc bench/entry_overhead.ts [...]
 *
 * "heap" is what the engine reports via `process.memoryUsage()`: on Deno (V8) heapUsed +
 * external, since a 100-byte ArrayBuffer's bytes live outside the JS heap and only show in
 * `external`; on Bun (JSC) heapUsed alone, which already includes `external` (JSC's "extra
 * memory"), and small typed arrays live in the GC heap. "rss" is the resident-set delta, which also
 * sees allocator slack and bookkeeping the engines do not report (and GC headroom), so it is
 * noisier but closer to what the OS charges.
 */
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { LRUCache } from "lru-cache";
import { createHybridClock } from "../src/core/hybrid_clock.ts";
import { createStore, type Store } from "../src/core/store.ts";
import { ENTRY_OVERHEAD_BYTES } from "../src/core/entry.ts";

const VALUE_BYTES = 100;
const KEY_BYTES = 12;
const CONTENT_TYPE = "application/octet-stream";

/** What fills N entries and returns something that keeps them alive. */
interface Holder {
  /** Bytes per entry the store's cap counts besides the overhead constant. */
  countedBytes: number;
  /** Builds the holder with `n` entries; returns its entry count as a sanity check. */
  fill(n: number): { keep: unknown; count: number };
}

/**
 * A fresh, flat string equal to `text`, as a request parser would produce. Concatenation could
 * give rope/cons strings whose layout is not what a server holds, and a TextDecoder round trip
 * would churn the malloc heap (and so RSS) with a garbage buffer per string.
 */
function fresh(text: string): string {
  const codes: number[] = new Array(text.length);
  for (let i = 0; i < text.length; i++) codes[i] = text.charCodeAt(i);
  return String.fromCharCode.apply(null, codes);
}

/** 12-byte keys: "key:" + 8 digits. */
function keyOf(i: number): string {
  return fresh(`key:${String(i).padStart(8, "0")}`);
}

function valueOf(i: number): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  value[0] = i & 0xff;
  return value;
}

function storeHolder(eviction: "lru" | "lfu", ttlMs: number): Holder {
  return {
    countedBytes: KEY_BYTES + VALUE_BYTES + CONTENT_TYPE.length,
    fill(n) {
      const store: Store = createStore(
        { maxBytes: Number.MAX_SAFE_INTEGER, eviction },
        { now: Date.now, random: Math.random, clock: createHybridClock({ nodeId: "bench", now: Date.now }) },
      );
      for (let i = 0; i < n; i++) {
        // A fresh tags array and content-type string per write, as the HTTP API hands them over.
        store.put(keyOf(i), { value: valueOf(i), contentType: fresh(CONTENT_TYPE), tags: [], ttlMs });
      }
      const stats = store.stats();
      if (stats.evictions !== 0) throw new Error(`store evicted ${stats.evictions} entries; raise maxBytes`);
      return { keep: store, count: stats.entries };
    },
  };
}

const HOLDERS: Record<string, Holder> = {
  /** The floor: the keys and values alone, in two dense arrays. */
  arrays: {
    countedBytes: KEY_BYTES + VALUE_BYTES,
    fill(n) {
      const keys: string[] = [];
      const values: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        keys.push(keyOf(i));
        values.push(valueOf(i));
      }
      return { keep: [keys, values], count: keys.length };
    },
  },
  map: {
    countedBytes: KEY_BYTES + VALUE_BYTES,
    fill(n) {
      const map = new Map<string, Uint8Array>();
      for (let i = 0; i < n; i++) map.set(keyOf(i), valueOf(i));
      return { keep: map, count: map.size };
    },
  },
  "lru-cache-max": {
    countedBytes: KEY_BYTES + VALUE_BYTES,
    fill(n) {
      const cache = new LRUCache<string, Uint8Array>({ max: n });
      for (let i = 0; i < n; i++) cache.set(keyOf(i), valueOf(i));
      return { keep: cache, count: cache.size };
    },
  },
  "lru-cache-maxSize": {
    countedBytes: KEY_BYTES + VALUE_BYTES,
    fill(n) {
      const cache = new LRUCache<string, Uint8Array>({
        maxSize: Number.MAX_SAFE_INTEGER,
        sizeCalculation: (value, key) => value.byteLength + key.length,
      });
      for (let i = 0; i < n; i++) cache.set(keyOf(i), valueOf(i));
      return { keep: cache, count: cache.size };
    },
  },
  "store-lru": storeHolder("lru", 0),
  "store-lfu": storeHolder("lfu", 0),
  /** With a TTL every key is also filed in the expiry index. */
  "store-lru-ttl": storeHolder("lru", 3_600_000),
  "store-lfu-ttl": storeHolder("lfu", 3_600_000),
};

const g = globalThis as any;
const runtime = g.Bun ? "bun" : "Deno" in g ? "deno" : "other";
const heapMetric = runtime === "bun" ? "heapUsed" : "heapUsed + external";
const runtimeVersion = g.Bun ? `bun ${g.Bun.version}` : "Deno" in g ? `deno ${g.Deno.version.deno} (v8 ${g.Deno.version.v8})` : "unknown";

function fullGc(): boolean {
  if (g.Bun) {
    g.Bun.gc(true);
    return true;
  }
  if (typeof g.gc === "function") {
    // V8 may need more than one full collection to release weak structures and finalize.
    for (let i = 0; i < 3; i++) g.gc();
    return true;
  }
  return false;
}

/**
 * Engine-reported bytes: JSC's heapUsed already includes its "extra memory" (off-heap buffers
 * and string storage, also shown as `external`), V8's heapUsed excludes `external`.
 */
function readMemory(): { heap: number; rss: number } {
  const m = process.memoryUsage();
  return { heap: runtime === "bun" ? m.heapUsed : m.heapUsed + m.external, rss: m.rss };
}

interface Measurement {
  holder: string;
  n: number;
  gc: boolean;
  /** Bytes per entry: Δheap / n (see readMemory). */
  heapPerEntry: number;
  /** Bytes per entry: Δrss / n. */
  rssPerEntry: number;
  /** Bytes per entry the cap counts besides the constant (key + value [+ content type]). */
  countedBytes: number;
  heapOverhead: number;
  rssOverhead: number;
  fillMs: number;
}

function measureOne(name: string, n: number): Measurement {
  const holder = HOLDERS[name];
  if (holder === undefined) throw new Error(`unknown holder ${name}`);
  const gc = fullGc();
  const before = readMemory();
  const started = performance.now();
  const { keep, count } = holder.fill(n);
  const fillMs = performance.now() - started;
  fullGc();
  const after = readMemory();
  if (count !== n || keep === undefined) throw new Error(`${name} holds ${count} entries, expected ${n}`);
  const heapPerEntry = (after.heap - before.heap) / n;
  const rssPerEntry = (after.rss - before.rss) / n;
  return {
    holder: name,
    n,
    gc,
    heapPerEntry: round1(heapPerEntry),
    rssPerEntry: round1(rssPerEntry),
    countedBytes: holder.countedBytes,
    heapOverhead: round1(heapPerEntry - holder.countedBytes),
    rssOverhead: round1(rssPerEntry - holder.countedBytes),
    fillMs: Math.round(fillMs),
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function argValue(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

/** The command that re-runs this file on the same runtime, with GC exposed. */
function childCommand(args: string[]): [string, string[]] {
  const file = fileURLToPath(import.meta.url);
  if (runtime === "deno") return [process.execPath, ["run", "-A", "--v8-flags=--expose-gc", file, ...args]];
  return [process.execPath, [file, ...args]];
}

function main(): void {
  const child = argValue("child");
  if (child !== undefined) {
    console.log(JSON.stringify(measureOne(child, Number(argValue("n")))));
    return;
  }
  const counts = (argValue("n") ?? "200000,1000000").split(",").map(Number);
  const names = argValue("only")?.split(",") ?? Object.keys(HOLDERS);
  const results: Measurement[] = [];
  for (const n of counts) {
    for (const name of names) {
      const [command, args] = childCommand([`--child=${name}`, `--n=${n}`]);
      const out = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 20 });
      if (out.status !== 0) {
        throw new Error(`child ${name} n=${n} failed (status ${out.status}, signal ${out.signal}): ${out.error ?? out.stderr}`);
      }
      const line = out.stdout.trim().split("\n").pop() as string;
      const m = JSON.parse(line) as Measurement;
      if (!m.gc) console.error(`warning: no manual GC on ${runtime}; run deno with --v8-flags=--expose-gc`);
      results.push(m);
    }
  }

  const storeRows = results.filter((r) => r.holder.startsWith("store-"));
  const maxStoreHeapOverhead = Math.max(...storeRows.map((r) => r.heapOverhead));
  const suggested = Math.ceil(maxStoreHeapOverhead / 8) * 8;

  console.log(
    `runtime: ${runtimeVersion}; heap = ${heapMetric}; keys ${KEY_BYTES} B, values ${VALUE_BYTES} B; current ENTRY_OVERHEAD_BYTES = ${ENTRY_OVERHEAD_BYTES}`,
  );
  console.log("holder               n          heap/entry  rss/entry  counted  heap overhead  rss overhead  fill ms");
  for (const r of results) {
    console.log(
      `${r.holder.padEnd(20)} ${String(r.n).padEnd(10)} ${r.heapPerEntry.toFixed(1).padStart(10)} ${
        r.rssPerEntry.toFixed(1).padStart(10)
      } ${String(r.countedBytes).padStart(8)} ${r.heapOverhead.toFixed(1).padStart(14)} ${r.rssOverhead.toFixed(1).padStart(13)} ${
        String(r.fillMs).padStart(8)
      }`,
    );
  }
  console.log(
    `store overhead per entry (max over store rows, heap-based): ${maxStoreHeapOverhead.toFixed(1)} B -> rounded up to 8: ${suggested} B`,
  );
  console.log(
    JSON.stringify({
      bench: "entry_overhead",
      runtime: runtimeVersion,
      heapMetric,
      keyBytes: KEY_BYTES,
      valueBytes: VALUE_BYTES,
      results,
      maxStoreHeapOverhead,
      suggested,
    }),
  );
}

main();
