import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [readFileSync(path, "utf8")] : [];
  });
}

/** Metrics prom-client's default collectors export with our prefix (process_*, nodejs_*). */
const DEFAULT_METRICS = new Set(["edgecache_process_resident_memory_bytes"]);

describe("the Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy/grafana/edgecache.json"), "utf8"));
  const expressions: string[] = dashboard.panels.flatMap((panel: { targets: Array<{ expr: string }> }) => panel.targets.map((target) => target.expr));

  test("is valid JSON with panels that each query something", () => {
    assert.ok(dashboard.panels.length >= 10);
    for (const panel of dashboard.panels) assert.ok(panel.targets.length > 0, panel.title);
  });

  test("every query names a metric the node really exports", () => {
    const code = sources(join(ROOT, "src")).join("\n");
    for (const expression of expressions) {
      const metrics = [...expression.matchAll(/\b(edgecache_[a-z_]+?)(?:_bucket)?\b/g)].map((match) => match[1]);
      assert.ok(metrics.length > 0, `query names a metric: ${expression}`);
      for (const metric of metrics) assert.ok(DEFAULT_METRICS.has(metric) || code.includes(`"${metric}"`), `${metric} is registered in src/`);
    }
  });

  test("covers requests, latency, hits, memory, origin, cluster and persistence", () => {
    const all = expressions.join("\n");
    for (const metric of ["edgecache_http_requests_total", "edgecache_http_request_duration_seconds_bucket", "edgecache_cache_hits_total", "edgecache_cache_bytes", "edgecache_origin_requests_total", "edgecache_peer_up", "edgecache_persistence_state"]) {
      assert.ok(all.includes(metric), metric);
    }
  });
});
