import { ENV_HELP } from "../config/schema.ts";

/** The full usage text: every command, every flag and every environment variable. */
export function helpText(version: string): string {
  const variables = Object.entries(ENV_HELP)
    .map(([name, [fallback, meaning]]) => `  ${name.padEnd(34)} ${meaning} (default: ${fallback})`)
    .join("\n");
  return `edgecache ${version}: a single-binary distributed edge cache

Usage:
  edgecache [serve]        start a node with the configuration from the environment
  edgecache bench [flags]  load-test a node over HTTP and print a report
      --url URL              node to measure (default: start a local-only node in-process)
      --token T              bearer token for --url (needs cache:read and cache:write)
      --duration 10s         measuring time (after warm-up)
      --connections 50       concurrent keep-alive connections
      --keys 10000           distinct keys
      --value-size 100       bytes per value
      --read-ratio 0.9       share of GETs; the rest are PUTs
      --zipf 0.99            Zipf exponent of key popularity (0 = uniform)
      --warmup 1s            load before measuring starts
      --json                 one JSON line instead of a table
  edgecache token [flags]  mint a JWT signed with EDGECACHE_JWT_SECRET (HS256)
      --sub NAME             subject (required)
      --scope "cache:read cache:write"   space-separated scopes (required)
      --ttl 1h               lifetime (default 1h, at most 365d)
      --prefix P             limit the token to keys starting with P (repeatable)
  edgecache config         validate the environment; print the effective configuration (secrets redacted)
  edgecache version        print the version
  edgecache help, --help   this text

Exit codes: 0 success, 2 bad configuration or usage, 1 anything else.
Sizes take bytes or KiB/MiB/GiB; durations take ms, s, m, h, d (a bare number is seconds).

Environment:
${variables}
`;
}
