import type { Registry } from "prom-client";

/** Latency buckets in seconds: resolve 100 us to 1 s. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface CounterCell {
  labels: Record<string, string>;
  count: number;
}

interface HistogramCell {
  labels: Record<string, string>;
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** The shape prom-client's Registry renders: what a metric's `get()` returns. */
interface MetricSnapshot {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

/**
 * HTTP request counters and latency histograms kept as plain numbers and rendered only when
 * scraped. prom-client's own `inc`/`observe` hash their labels on every call, which cost more
 * than a whole cache hit; here the hot path is one map lookup and a few additions.
 */
export interface RequestMetrics {
  observe(route: string, method: string, status: number, seconds: number): void;
}

/** Registers `edgecache_http_requests_total` and `edgecache_http_request_duration_seconds` on `registry`. */
export function createRequestMetrics(registry: Registry): RequestMetrics {
  const counters = new Map<string, CounterCell>();
  const histograms = new Map<string, HistogramCell>();

  registry.registerMetric({
    name: "edgecache_http_requests_total",
    get: async (): Promise<MetricSnapshot> => ({
      name: "edgecache_http_requests_total",
      help: "HTTP requests by route, method and status",
      type: "counter",
      aggregator: "sum",
      values: [...counters.values()].map((cell) => ({ value: cell.count, labels: cell.labels })),
    }),
  } as never);
  registry.registerMetric({
    name: "edgecache_http_request_duration_seconds",
    get: async (): Promise<MetricSnapshot> => ({
      name: "edgecache_http_request_duration_seconds",
      help: "HTTP request latency by route and method",
      type: "histogram",
      aggregator: "sum",
      values: [...histograms.values()].flatMap((cell) => {
        let cumulative = 0;
        const buckets = LATENCY_BUCKETS.map((le, i) => {
          cumulative += cell.buckets[i];
          return { value: cumulative, labels: { ...cell.labels, le }, metricName: "edgecache_http_request_duration_seconds_bucket" };
        });
        return [
          ...buckets,
          { value: cell.count, labels: { ...cell.labels, le: "+Inf" }, metricName: "edgecache_http_request_duration_seconds_bucket" },
          { value: cell.sum, labels: cell.labels, metricName: "edgecache_http_request_duration_seconds_sum" },
          { value: cell.count, labels: cell.labels, metricName: "edgecache_http_request_duration_seconds_count" },
        ];
      }),
    }),
  } as never);

  return {
    observe(route, method, status, seconds) {
      const key = `${route} ${method} ${status}`;
      let counter = counters.get(key);
      if (counter === undefined) {
        counter = { labels: { route, method, status: String(status) }, count: 0 };
        counters.set(key, counter);
      }
      counter.count++;
      const latencyKey = `${route} ${method}`;
      let histogram = histograms.get(latencyKey);
      if (histogram === undefined) {
        histogram = { labels: { route, method }, buckets: new Float64Array(LATENCY_BUCKETS.length), sum: 0, count: 0 };
        histograms.set(latencyKey, histogram);
      }
      let bucket = 0;
      while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]) bucket++;
      if (bucket < LATENCY_BUCKETS.length) histogram.buckets[bucket]++;
      histogram.sum += seconds;
      histogram.count++;
    },
  };
}
