import { createLatencyHistogram, type LatencyHistogram } from "./latency_histogram.ts";
import { createZipfSampler } from "./zipf.ts";

/** A load test's shape. */
export interface LoadOptions {
  /** Base URL of the node, e.g. http://127.0.0.1:8080. */
  url: string;
  token: string;
  durationMs: number;
  warmupMs: number;
  connections: number;
  keys: number;
  valueSize: number;
  /** Share of operations that are GETs, 0..1. */
  readRatio: number;
  /** Zipf exponent; 0 is uniform. */
  zipf: number;
  random: () => number;
  /** Called about once a second while measuring, with elapsed ms and operations so far. */
  onProgress?: (elapsedMs: number, operations: number) => void;
}

/** What a load test measured (warm-up excluded). */
export interface LoadReport {
  operations: number;
  reads: number;
  writes: number;
  elapsedMs: number;
  latency: LatencyHistogram;
  errors: number;
  errorsByStatus: Record<string, number>;
  hits: number;
  misses: number;
}

/** The URL of key `index`. */
export function benchKeyUrl(base: string, index: number): string {
  return `${base}/v1/kv/bench/k${index}`;
}

/** PUTs every key once, `connections` at a time, so reads can hit. */
export async function fillKeys(options: LoadOptions): Promise<void> {
  const value = new Uint8Array(options.valueSize).fill(120);
  let next = 0;
  const worker = async () => {
    while (next < options.keys) {
      const index = next++;
      const response = await fetch(benchKeyUrl(options.url, index), {
        method: "PUT",
        headers: { authorization: `Bearer ${options.token}`, "content-type": "application/octet-stream" },
        body: value,
      });
      await response.arrayBuffer();
      if (response.status >= 300) throw new Error(`Cannot fill the node as PUT must succeed: current status is ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.connections, options.keys) }, worker));
}

/**
 * Closed-loop load: each of `connections` workers sends one request, waits for the answer and
 * sends the next. Latency is measured from send to full body, so it is not corrected for
 * coordinated omission: a stalled server delays requests that are then never counted as late.
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const pick = createZipfSampler(options.keys, options.zipf, options.random);
  const value = new Uint8Array(options.valueSize).fill(121);
  const headers = { authorization: `Bearer ${options.token}` };
  const putHeaders = { ...headers, "content-type": "application/octet-stream" };
  const report: LoadReport = {
    operations: 0,
    reads: 0,
    writes: 0,
    elapsedMs: 0,
    latency: createLatencyHistogram(),
    errors: 0,
    errorsByStatus: {},
    hits: 0,
    misses: 0,
  };
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  let nextProgress = measureFrom + 1000;

  const worker = async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= end) return;
      const isRead = options.random() < options.readRatio;
      const url = benchKeyUrl(options.url, pick());
      let status: string;
      try {
        const response = isRead ? await fetch(url, { headers }) : await fetch(url, { method: "PUT", headers: putHeaders, body: value });
        await response.arrayBuffer();
        status = String(response.status);
      } catch {
        status = "network";
      }
      const done = performance.now();
      if (sent < measureFrom) continue;
      report.operations++;
      report.latency.record((done - sent) * 1000);
      if (isRead) {
        report.reads++;
        if (status === "200") report.hits++;
        else if (status === "404") report.misses++;
      } else report.writes++;
      const ok = status === "200" || status === "201" || status === "204" || (isRead && status === "404");
      if (!ok) {
        report.errors++;
        report.errorsByStatus[status] = (report.errorsByStatus[status] ?? 0) + 1;
      }
      if (done >= nextProgress) {
        nextProgress += 1000;
        options.onProgress?.(done - measureFrom, report.operations);
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  report.elapsedMs = performance.now() - measureFrom;
  return report;
}
