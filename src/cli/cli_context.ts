import { type Config, type ConfigProblem, loadConfig } from "../config/load_config.ts";
import type { Runtime } from "../runtime/runtime.ts";

/** What every command gets: the runtime, its own arguments and the program version. */
export interface CliContext {
  runtime: Runtime;
  args: string[];
  version: string;
}

/** Exit codes of the contract. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Formats configuration problems, one variable per line. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return `edgecache: invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}\n`;
}

/** Loads the configuration from the environment, or prints every problem and returns undefined. */
export function configOrReport(ctx: CliContext): Config | undefined {
  const result = loadConfig(ctx.runtime.env(), { hostname: ctx.runtime.hostname() });
  if (result.ok) return result.config;
  ctx.runtime.writeStderr(formatProblems(result.problems));
  return undefined;
}
