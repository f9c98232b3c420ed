import pkg from "../package.json" with { type: "json" };
import { UsageError } from "./cli/args.ts";
import { benchCommand } from "./cli/bench_command.ts";
import { type CliContext, EXIT } from "./cli/cli_context.ts";
import { configCommand } from "./cli/config_command.ts";
import { helpText } from "./cli/help.ts";
import { serveCommand } from "./cli/serve.ts";
import { tokenCommand } from "./cli/token_command.ts";
import { currentRuntime } from "./runtime/select.ts";

/** The edgecache version, from package.json. */
export const VERSION: string = pkg.version;

const COMMANDS: Record<string, (ctx: CliContext) => number | Promise<number>> = {
  serve: serveCommand,
  bench: benchCommand,
  token: tokenCommand,
  config: configCommand,
  version: (ctx) => {
    ctx.runtime.writeStdout(`edgecache ${VERSION} (${ctx.runtime.name} ${ctx.runtime.version})\n`);
    return EXIT.ok;
  },
  help: (ctx) => {
    ctx.runtime.writeStdout(helpText(VERSION));
    return EXIT.ok;
  },
};

/** Runs the command named by the arguments and returns its exit code. */
export async function main(): Promise<number> {
  const runtime = currentRuntime();
  const [first, ...rest] = runtime.args();
  const name = first === undefined ? "serve" : first === "--help" || first === "-h" ? "help" : first;
  const command = COMMANDS[name];
  if (command === undefined) {
    runtime.writeStderr(`edgecache: unknown command '${name}'; run 'edgecache help'\n`);
    return EXIT.usage;
  }
  try {
    return await command({ runtime, args: rest, version: VERSION });
  } catch (error) {
    if (error instanceof UsageError) {
      runtime.writeStderr(`edgecache ${name}: ${error.message}\n`);
      return EXIT.usage;
    }
    runtime.writeStderr(`edgecache ${name}: ${(error as Error).stack ?? error}\n`);
    return EXIT.failure;
  }
}

if (import.meta.main) {
  const runtime = currentRuntime();
  main().then((code) => runtime.exit(code));
}
