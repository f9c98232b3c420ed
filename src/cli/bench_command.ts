import { mintToken } from "../auth/token_minter.ts";
import { fillKeys, type LoadOptions, runLoad } from "../bench/load_generator.ts";
import { reportJson, reportTable } from "../bench/bench_report.ts";
import { loadConfig } from "../config/load_config.ts";
import { parseDuration } from "../config/units.ts";
import { startNode } from "../node.ts";
import { type ParsedFlags, parseFlags, UsageError } from "./args.ts";
import { type CliContext, EXIT } from "./cli_context.ts";

const FLAGS = { values: ["url", "token", "duration", "connections", "keys", "value-size", "read-ratio", "zipf", "warmup"], switches: ["json"] };

function numberFlag(flags: ParsedFlags, name: string, fallback: number, min: number, max: number, integer: boolean): number {
  const text = flags.values.get(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new UsageError(`Cannot use --${name} as it must be ${integer ? "a whole number" : "a number"} from ${min} to ${max}: current value is '${text}'`);
  }
  return value;
}

function durationFlag(flags: ParsedFlags, name: string, fallback: string): number {
  try {
    return parseDuration(flags.values.get(name) ?? fallback);
  } catch (error) {
    throw new UsageError(`Cannot use --${name} as ${(error as Error).message}`);
  }
}

/**
 * `edgecache bench`: load-tests a node over HTTP. Without --url it starts a local-only node
 * in this process (ephemeral port and secret), fills it and measures it.
 */
export async function benchCommand(ctx: CliContext): Promise<number> {
  const flags = parseFlags(ctx.args, FLAGS);
  const keys = numberFlag(flags, "keys", 10_000, 1, 10_000_000, true);
  const valueSize = numberFlag(flags, "value-size", 100, 0, 64 * 1024 * 1024, true);
  const options: Omit<LoadOptions, "url" | "token"> = {
    durationMs: durationFlag(flags, "duration", "10s"),
    warmupMs: durationFlag(flags, "warmup", "1s"),
    connections: numberFlag(flags, "connections", 50, 1, 10_000, true),
    keys,
    valueSize,
    readRatio: numberFlag(flags, "read-ratio", 0.9, 0, 1, false),
    zipf: numberFlag(flags, "zipf", 0.99, 0, 10, false),
    random: Math.random,
  };
  if (options.durationMs < 100) throw new UsageError("Cannot use --duration as it must be at least 100ms");
  const json = flags.switches.has("json");
  const now = () => Date.now();

  let url = flags.values.get("url");
  let token = flags.values.get("token");
  let node: Awaited<ReturnType<typeof startNode>> | undefined;
  if (url === undefined) {
    // An in-process node sized so the fill fits without evictions.
    const neededBytes = keys * (valueSize + 512) * 2;
    const env = {
      EDGECACHE_LISTEN: "127.0.0.1:0",
      EDGECACHE_MODE: "local",
      // stdout carries the report; the in-process node must not interleave log lines with it.
      EDGECACHE_LOG_LEVEL: "error",
      EDGECACHE_MAX_BYTES: String(Math.max(64 * 1024 * 1024, neededBytes)),
      EDGECACHE_MAX_VALUE_BYTES: String(Math.max(1024 * 1024, valueSize)),
    };
    const result = loadConfig(env, { hostname: "bench" });
    if (!result.ok) throw new UsageError(`Cannot size the in-process node: ${result.problems.map((p) => `${p.variable}: ${p.message}`).join("; ")}`);
    node = await startNode(result.config, ctx.runtime, { announceDevToken: false, collectProcessMetrics: false });
    url = node.url;
    token = await mintToken(node.ephemeralSecret as Uint8Array, { subject: "bench", scopes: ["cache:read", "cache:write"], ttlSeconds: 3600 }, now);
  } else {
    url = url.replace(/\/+$/, "");
    if (!/^https?:\/\/[^/]+$/.test(url)) throw new UsageError(`Cannot use --url as it must be http(s)://host:port: current value is '${url}'`);
    const secret = ctx.runtime.env().EDGECACHE_JWT_SECRET;
    if (token === undefined && secret !== undefined) {
      token = await mintToken(new TextEncoder().encode(secret), { subject: "bench", scopes: ["cache:read", "cache:write"], ttlSeconds: 3600 }, now);
    }
    if (token === undefined) throw new UsageError("Cannot bench --url as --token (or EDGECACHE_JWT_SECRET to mint one) must be given");
  }

  const load: LoadOptions = {
    ...options,
    url,
    token,
    onProgress: options.durationMs >= 3000
      ? (elapsed, operations) => ctx.runtime.writeStderr(`bench: ${(elapsed / 1000).toFixed(0)}s/${(options.durationMs / 1000).toFixed(0)}s  ${Math.round((operations / elapsed) * 1000)} ops/s\n`)
      : undefined,
  };
  try {
    if (!json) ctx.runtime.writeStderr(`bench: filling ${keys} keys of ${valueSize} B at ${url}\n`);
    await fillKeys(load);
    const report = await runLoad(load);
    const figures = reportJson(load, report);
    ctx.runtime.writeStdout(json ? `${JSON.stringify(figures)}\n` : reportTable(figures));
    return EXIT.ok;
  } finally {
    await node?.shutdown("bench finished");
  }
}
