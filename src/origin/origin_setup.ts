import type { Config } from "../config/load_config.ts";
import type { Store } from "../core/store.ts";
import type { Logger } from "../obs/logger.ts";
import { createOriginMetrics } from "../obs/origin_metrics.ts";
import type { Registry } from "prom-client";
import type { BreakerState } from "./circuit_breaker.ts";
import { createOriginClient } from "./origin_client.ts";
import { createOriginLoader, createReadThrough, type ReadThrough } from "./read_through.ts";

/** The read-through path of a node with an origin. */
export interface OriginSetup {
  readThrough: ReadThrough;
  breakerState: () => BreakerState;
}

/** What wiring the origin needs from the node. */
export interface OriginSetupDeps {
  store: Store;
  registry: Registry;
  log: Logger;
  now: () => number;
  random: () => number;
  fetch: typeof fetch;
}

/** Wires origin client, loader, read-through and their metrics from the configuration. */
export function setupOrigin(config: Config, url: string, deps: OriginSetupDeps): OriginSetup {
  let breakerState: () => BreakerState = () => "closed";
  const metrics = createOriginMetrics(deps.registry, () => breakerState());
  const client = createOriginClient(
    {
      url,
      timeoutMs: config.origin.timeoutMs,
      maxBodyBytes: config.limits.maxValueBytes,
      retries: config.origin.retries,
      maxConcurrency: config.origin.maxConcurrency,
      breakerFailureThreshold: config.origin.breakerThreshold,
      breakerCoolDownMs: config.origin.breakerCoolDownMs,
    },
    {
      fetch: deps.fetch,
      now: deps.now,
      random: deps.random,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      onCall: metrics.call,
      onBreakerTransition(from, to) {
        metrics.breakerTransition(to);
        // One line per transition, never per request.
        (to === "open" ? deps.log.warn : deps.log.info).call(deps.log, { from, to }, "origin circuit breaker changed state");
      },
    },
  );
  breakerState = () => client.breakerState();
  const readThroughConfig = {
    defaultTtlMs: config.limits.defaultTtlMs,
    maxTtlMs: config.limits.maxTtlMs,
    negativeTtlMs: config.origin.negativeTtlMs,
    staleWhileRevalidateMs: config.origin.staleWhileRevalidateMs,
    staleIfErrorMs: config.origin.staleIfErrorMs,
    maxWaitersPerKey: config.origin.maxWaitersPerKey,
  };
  const readThrough = createReadThrough(readThroughConfig, {
    store: deps.store,
    loader: createOriginLoader(deps.store, client, readThroughConfig, deps.now),
    now: deps.now,
    onCollapsed: metrics.collapsed,
    onStale: metrics.staleServed,
    onRefreshError: (_key, error) => deps.log.debug({ err: error }, "background refresh failed"),
  });
  return { readThrough, breakerState };
}
