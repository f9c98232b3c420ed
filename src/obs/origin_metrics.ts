import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { BreakerState } from "../origin/circuit_breaker.ts";
import type { OriginOutcome } from "../origin/origin_client.ts";

/** Numeric breaker states for the gauge: 0 closed, 1 half-open, 2 open. */
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** Metrics of the read-through origin. */
export interface OriginMetrics {
  call(outcome: OriginOutcome, seconds: number): void;
  collapsed(): void;
  staleServed(reason: "stale-while-revalidate" | "stale-if-error"): void;
  breakerTransition(to: BreakerState): void;
}

/** Registers the origin metrics on the node's registry. */
export function createOriginMetrics(registry: Registry, breakerState: () => BreakerState): OriginMetrics {
  const calls = new Counter({
    name: "edgecache_origin_requests_total",
    help: "Origin calls (retries included in one call) by outcome",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "edgecache_origin_request_duration_seconds",
    help: "Origin call latency, retries included",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const collapsed = new Counter({ name: "edgecache_origin_coalesced_total", help: "Requests that waited on another request's origin fetch instead of fetching", registers: [registry] });
  const stale = new Counter({ name: "edgecache_stale_served_total", help: "Stale entries served, by reason", labelNames: ["reason"] as const, registers: [registry] });
  const transitions = new Counter({ name: "edgecache_origin_breaker_transitions_total", help: "Origin circuit breaker state changes, by new state", labelNames: ["to"] as const, registers: [registry] });
  new Gauge({
    name: "edgecache_origin_breaker_state",
    help: "Origin circuit breaker: 0 closed, 1 half-open, 2 open",
    registers: [registry],
    collect(this: Gauge) {
      this.set(BREAKER_VALUE[breakerState()]);
    },
  });
  return {
    call(outcome, seconds) {
      calls.labels(outcome).inc();
      latency.observe(seconds);
    },
    collapsed: () => collapsed.inc(),
    staleServed: (reason) => stale.labels(reason).inc(),
    breakerTransition: (to) => transitions.labels(to).inc(),
  };
}
