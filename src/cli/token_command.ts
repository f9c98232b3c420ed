import { mintToken } from "../auth/token_minter.ts";
import { parseDuration } from "../config/units.ts";
import { parseFlags, UsageError } from "./args.ts";
import { type CliContext, configOrReport, EXIT } from "./cli_context.ts";

const KNOWN_SCOPES = new Set(["cache:read", "cache:write", "cache:admin"]);
const MAX_TTL_SECONDS = 365 * 86_400;

/** `edgecache token`: mints an HS256 JWT with the configured secret and prints it. */
export async function tokenCommand(ctx: CliContext): Promise<number> {
  const flags = parseFlags(ctx.args, { values: ["sub", "scope", "ttl"], repeatable: ["prefix"] });
  const subject = flags.values.get("sub");
  const scope = flags.values.get("scope");
  if (subject === undefined || subject.trim() === "") throw new UsageError("Cannot mint a token as --sub must name the subject: current value is missing");
  if (scope === undefined) throw new UsageError("Cannot mint a token as --scope must list scopes: current value is missing");
  const scopes = scope.split(/\s+/).filter((s) => s.length > 0);
  const unknown = scopes.filter((s) => !KNOWN_SCOPES.has(s));
  if (scopes.length === 0 || unknown.length > 0) {
    throw new UsageError(`Cannot mint a token as --scope must be cache:read, cache:write or cache:admin: current value has '${unknown.join(" ") || scope}'`);
  }
  let ttlSeconds: number;
  try {
    ttlSeconds = Math.floor(parseDuration(flags.values.get("ttl") ?? "1h") / 1000);
  } catch (error) {
    throw new UsageError(`Cannot use --ttl as ${(error as Error).message}`);
  }
  if (ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) throw new UsageError(`Cannot use --ttl as it must be from 1s to 365d: current value is ${ttlSeconds}s`);
  const prefixes = flags.lists.get("prefix") ?? [];
  if (prefixes.some((p) => p.length === 0)) throw new UsageError("Cannot use --prefix as it must not be empty");

  const config = configOrReport(ctx);
  if (config === undefined) return EXIT.usage;
  if (config.auth.jwtSecret === undefined) {
    ctx.runtime.writeStderr("edgecache: EDGECACHE_JWT_SECRET must be set to mint tokens (tokens for PEM or JWKS keys come from your issuer)\n");
    return EXIT.usage;
  }
  const token = await mintToken(
    new TextEncoder().encode(config.auth.jwtSecret),
    { subject, scopes, ttlSeconds, prefixes, issuer: config.auth.issuer, audience: config.auth.audience },
    () => Date.now(),
  );
  ctx.runtime.writeStdout(`${token}\n`);
  return EXIT.ok;
}
