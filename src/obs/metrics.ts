import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import { createRequestMetrics } from "./request_metrics.ts";
import type { Store } from "../core/store.ts";


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
export function createMetrics(store: Store, options: { collectProcess: boolean; runtime?: { name: string; version: string } }): Metrics {
  const registry = new Registry();
  if (options.collectProcess) collectDefaultMetrics({ register: registry, prefix: "edgecache_" });
  // prom-client's nodejs_version_info names the Node.js version the runtime emulates; this says
  // which runtime really runs the node.
  const runtimeInfo = new Gauge({ name: "edgecache_runtime_info", help: "The runtime serving this node (always 1)", labelNames: ["runtime", "version"] as const, registers: [registry] });
  if (options.runtime !== undefined) runtimeInfo.labels(options.runtime.name, options.runtime.version).set(1);
  const requests = createRequestMetrics(registry);
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

  return {
    registry,
    observeRequest: requests.observe,
    authFailure(code) {
      authFailures.labels(code).inc();
    },
    trackInflight(read) {
      readInflight = read;
    },
  };
}
