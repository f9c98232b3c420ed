import { type RunningNode, startNode } from "../node.ts";
import { type CliContext, configOrReport, EXIT } from "./cli_context.ts";

/** `edgecache serve`: runs a node until SIGTERM or SIGINT, then shuts down gracefully and exits 0. */
export async function serveCommand(ctx: CliContext): Promise<number> {
  if (ctx.args.length > 0) {
    ctx.runtime.writeStderr(`edgecache: serve takes no arguments (configure with EDGECACHE_* variables): got '${ctx.args[0]}'\n`);
    return EXIT.usage;
  }
  const config = configOrReport(ctx);
  if (config === undefined) return EXIT.usage;
  // Listen for signals before the node starts, so a signal that arrives while it starts (or the
  // instant it logs that it listens) still leads to a graceful shutdown rather than a hard kill.
  const signalled = Promise.withResolvers<string>();
  ctx.runtime.onShutdownSignal((signal) => signalled.resolve(signal));
  let node: RunningNode;
  try {
    node = await startNode(config, ctx.runtime);
  } catch (error) {
    const message = (error as Error).message;
    ctx.runtime.writeStderr(`edgecache: cannot start: ${message}\n`);
    // Bad key material (a wrong PEM, an unreadable key file) is a configuration problem.
    return /EDGECACHE_|ENOENT|EACCES|EISDIR|No such file|[Pp]ermission denied|Is a directory/.test(message) ? EXIT.usage : EXIT.failure;
  }
  const signal = await signalled.promise;
  try {
    await node.shutdown(signal);
    return EXIT.ok;
  } catch (error) {
    ctx.runtime.writeStderr(`edgecache: shutdown failed: ${(error as Error).message}\n`);
    return EXIT.failure;
  }
}
