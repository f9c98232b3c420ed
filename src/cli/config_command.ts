import { loadConfig, redactConfig } from "../config/load_config.ts";
import { type CliContext, EXIT, formatProblems } from "./cli_context.ts";

/** `edgecache config`: validates the environment and prints the effective configuration as JSON. */
export function configCommand(ctx: CliContext): number {
  const result = loadConfig(ctx.runtime.env(), { hostname: ctx.runtime.hostname() });
  if (!result.ok) {
    ctx.runtime.writeStderr(formatProblems(result.problems));
    return EXIT.usage;
  }
  ctx.runtime.writeStdout(`${JSON.stringify(redactConfig(result.config), null, 2)}\n`);
  return EXIT.ok;
}
