import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Store } from "../core/store.ts";

/** Latency buckets in seconds: resolve 100 us to 1 s. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What the HTTP layer reports per request, cheap enough for the hot path. */
export interface Metrics {
  /** The registry to render for `/metrics`. */
  readonly registry: Registry;
  /** Counts one finished request and observes its latency. `route` is a fixed name, never a key. */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** Counts one authentication or authorization failure by error code. */
  authFailure(code: string): void;
  /** Reports requests in flight from `read` at scrape time (the API owns the count). */
  trackInflight(read: () => number): void;
}

/**
 * Creates the node's metrics on a registry of its own (no global default registry). Store figures
 * are read from the store when scraped, so the request path only bumps pre-bound children.
 */
export function createMetrics(store: Store, options: { collectProcess: boolean }): Metrics {
  const registry = new Registry();
  if (options.collectProcess) collectDefaultMetrics({ register: registry, prefix: "edgecache_" });
  const requests = new Counter({
    name: "edgecache_http_requests_total",
    help: "HTTP requests by route, method and status",
    labelNames: ["route", "method", "status"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "edgecache_http_request_duration_seconds",
    help: "HTTP request latency by route and method",
    labelNames: ["route", "method"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: "edgecache_auth_failures_total",
    help: "Requests refused by authentication or authorization, by error code",
    labelNames: ["code"] as const,
    registers: [registry],
  });
  const fromStore = (name: string, help: string, read: () => number, type: "counter" | "gauge") => {
    const Metric = type === "counter" ? Counter : Gauge;
    new Metric({
      name,
      help,
      registers: [registry],
      collect(this: Counter | Gauge) {
        this.reset();
        (this as Gauge).inc(read());
      },
    });
  };
  fromStore("edgecache_cache_hits_total", "Reads that found a fresh entry", () => store.stats().hits, "counter");
  fromStore("edgecache_cache_misses_total", "Reads that found no fresh entry", () => store.stats().misses, "counter");
  fromStore("edgecache_cache_evictions_total", "Entries evicted to stay under the memory cap", () => store.stats().evictions, "counter");
  fromStore("edgecache_cache_expirations_total", "Entries removed because their TTL passed", () => store.stats().expirations, "counter");
  fromStore("edgecache_cache_entries", "Entries held", () => store.stats().entries, "gauge");
  fromStore("edgecache_cache_bytes", "Bytes counted against the memory cap", () => store.stats().bytes, "gauge");
  fromStore("edgecache_cache_max_bytes", "The memory cap (EDGECACHE_MAX_BYTES)", () => store.stats().maxBytes, "gauge");

  let readInflight = () => 0;
  new Gauge({
    name: "edgecache_http_requests_in_flight",
    help: "HTTP requests being served right now",
    registers: [registry],
    collect(this: Gauge) {
      this.set(readInflight());
    },
  });

  // Label lookups hash their values; binding each combination once keeps the hot path cheap.
  const requestChildren = new Map<string, ReturnType<typeof requests.labels>>();
  const latencyChildren = new Map<string, ReturnType<typeof latency.labels>>();
  return {
    registry,
    observeRequest(route, method, status, seconds) {
      const requestKey = `${route} ${method} ${status}`;
      let counter = requestChildren.get(requestKey);
      if (counter === undefined) {
        counter = requests.labels(route, method, String(status));
        requestChildren.set(requestKey, counter);
      }
      counter.inc();
      const latencyKey = `${route} ${method}`;
      let histogram = latencyChildren.get(latencyKey);
      if (histogram === undefined) {
        histogram = latency.labels(route, method);
        latencyChildren.set(latencyKey, histogram);
      }
      histogram.observe(seconds);
    },
    authFailure(code) {
      authFailures.labels(code).inc();
    },
    trackInflight(read) {
      readInflight = read;
    },
  };
}
