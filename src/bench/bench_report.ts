import type { LoadOptions, LoadReport } from "./load_generator.ts";

/** The figures of a bench run as the contract's JSON line names them. */
export function reportJson(options: LoadOptions, report: LoadReport): Record<string, unknown> {
  const ms = (micros: number) => Math.round(micros) / 1000;
  const lookups = report.hits + report.misses;
  return {
    url: options.url,
    duration_s: Math.round(report.elapsedMs) / 1000,
    connections: options.connections,
    keys: options.keys,
    value_size: options.valueSize,
    read_ratio: options.readRatio,
    zipf: options.zipf,
    operations: report.operations,
    reads: report.reads,
    writes: report.writes,
    ops_per_sec: report.elapsedMs > 0 ? Math.round((report.operations / report.elapsedMs) * 1000 * 10) / 10 : 0,
    p50_ms: ms(report.latency.percentile(50)),
    p90_ms: ms(report.latency.percentile(90)),
    p99_ms: ms(report.latency.percentile(99)),
    p999_ms: ms(report.latency.percentile(99.9)),
    max_ms: ms(report.latency.max),
    errors: report.errors,
    errors_by_status: report.errorsByStatus,
    hit_ratio: lookups === 0 ? 0 : Math.round((report.hits / lookups) * 10000) / 10000,
    coordinated_omission_corrected: false,
  };
}

/** The human table. */
export function reportTable(json: Record<string, unknown>): string {
  const j = json as Record<string, any>;
  const errors = Object.entries(j.errors_by_status as Record<string, number>).map(([status, n]) => `${status}: ${n}`).join(", ");
  return [
    `edgecache bench  ${j.url}`,
    `  load        ${j.connections} connections, ${j.keys} keys, ${j.value_size} B values, ${Math.round(j.read_ratio * 100)}% reads, zipf ${j.zipf}`,
    `  duration    ${j.duration_s.toFixed(2)} s`,
    `  operations  ${j.operations} (${j.ops_per_sec} ops/s; ${j.reads} reads, ${j.writes} writes)`,
    `  latency ms  p50 ${j.p50_ms}  p90 ${j.p90_ms}  p99 ${j.p99_ms}  p99.9 ${j.p999_ms}  max ${j.max_ms}`,
    `  errors      ${j.errors}${errors ? ` (${errors})` : ""}`,
    `  hit ratio   ${j.hit_ratio}`,
    "  note        closed-loop load: latencies are not corrected for coordinated omission",
    "",
  ].join("\n");
}
