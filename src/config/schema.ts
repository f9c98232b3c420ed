import { z } from "zod";
import { parseAddress, parseDuration, parseSize } from "./units.ts";

/** Wraps a throwing parser as a zod string transform whose error message names the problem. */
function parsed<T, I = string>(parse: (text: I) => T) {
  return (text: I, ctx: z.RefinementCtx): T => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  };
}

const size = (fallback: string) => z.string().default(fallback).transform(parsed(parseSize));
const duration = (fallback: string) => z.string().default(fallback).transform(parsed(parseDuration));
const address = (fallback: string) => z.string().default(fallback).transform(parsed(parseAddress));
const optionalText = z.string().trim().min(1, "it must not be empty when set").optional();
const peerList = z.string().default("").transform(parsed((text) =>
  text.split(",").map((peer) => peer.trim()).filter((peer) => peer.length > 0).map((peer) => {
    parseAddress(peer);
    return peer;
  })
));
/** The fsync policy of the persistence log: `always`, `never`, or an interval like `1s`. */
export type FsyncSetting = { mode: "always" } | { mode: "never" } | { mode: "interval"; intervalMs: number };

function parseFsync(text: string): FsyncSetting {
  if (text === "always" || text === "never") return { mode: text };
  let intervalMs = NaN;
  try {
    intervalMs = parseDuration(text);
  } catch {
    // Reported below with the full list of accepted values.
  }
  if (!(intervalMs >= 1 && intervalMs <= 3_600_000)) throw new Error(`it must be always, never or a duration from 1ms to 1h: current value is '${text}'`);
  return { mode: "interval", intervalMs };
}

const httpUrl = z.string().optional().transform(parsed((text: string | undefined) => {
  if (text === undefined) return undefined;
  const url = new URL(text);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`it must be an http or https URL: current value is '${text}'`);
  return url.href.replace(/\/+$/, "");
}));

/**
 * Every environment variable edgecache reads, with its default. This is the single source of
 * defaults: `loadConfig` parses each variable with its entry here and `edgecache help` prints them.
 */
export const envSchema = z.object({
  /** HTTP API address. @default "127.0.0.1:8080" */
  EDGECACHE_LISTEN: address("127.0.0.1:8080"),
  /** `local` keeps a node local-only even with peers set; `cluster` links peers. @default local without peers, else cluster */
  EDGECACHE_MODE: z.enum(["local", "cluster"], { error: "it must be local or cluster" }).optional(),
  /** Memory cap for keys, values and per-entry overhead. @default "256MiB" */
  EDGECACHE_MAX_BYTES: size("256MiB").pipe(z.number().min(1024 * 1024, "it must be at least 1MiB")),
  /** Longest key in UTF-8 bytes. @default "1024" */
  EDGECACHE_MAX_KEY_BYTES: size("1024").pipe(z.number().int().min(1).max(65536, "it must be at most 65536")),
  /** Largest value. @default "1MiB" */
  EDGECACHE_MAX_VALUE_BYTES: size("1MiB").pipe(z.number().min(1).max(512 * 1024 ** 2, "it must be at most 512MiB")),
  /** TTL for writes that give none; 0 means no expiry. @default "0" */
  EDGECACHE_DEFAULT_TTL: duration("0"),
  /** Longest TTL a write may ask for. @default "30d" */
  EDGECACHE_MAX_TTL: duration("30d").pipe(z.number().min(1000, "it must be at least 1s")),
  /** Eviction policy. @default "lru" */
  EDGECACHE_EVICTION: z.enum(["lru", "lfu"], { error: "it must be lru or lfu" }).default("lru"),
  /** HS256 key, at least 32 bytes. */
  EDGECACHE_JWT_SECRET: z.string().optional().refine((v) => v === undefined || new TextEncoder().encode(v).length >= 32, "it must be at least 32 bytes"),
  /** PEM public key (RS256, ES256 or EdDSA), inline or as a file path. */
  EDGECACHE_JWT_PUBLIC_KEY: optionalText,
  /** JWKS endpoint URL. */
  EDGECACHE_JWKS_URL: httpUrl,
  /** Required `iss` claim when set. */
  EDGECACHE_JWT_ISSUER: optionalText,
  /** Required `aud` claim when set. */
  EDGECACHE_JWT_AUDIENCE: optionalText,
  /** This node's name in the cluster. @default the host name */
  EDGECACHE_NODE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "it must be 1-64 characters of A-Z a-z 0-9 . _ -").optional(),
  /** Peer link address (TLS only). @default "127.0.0.1:7070" */
  EDGECACHE_PEER_LISTEN: address("127.0.0.1:7070"),
  /** Address peers use to reach this node's peer link; needed when EDGECACHE_PEER_LISTEN is a wildcard. @default EDGECACHE_PEER_LISTEN */
  EDGECACHE_PEER_ADVERTISE: z.string().optional().transform(parsed((text: string | undefined) => {
    if (text === undefined) return undefined;
    parseAddress(text);
    return text.trim();
  })),
  /** Name of the cluster; nodes of another cluster are refused at the handshake. @default "edgecache" */
  EDGECACHE_CLUSTER_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "it must be 1-64 characters of A-Z a-z 0-9 . _ -").default("edgecache"),
  /** How often a node pings each peer. @default "500ms" */
  EDGECACHE_HEARTBEAT_INTERVAL: duration("500ms").pipe(z.number().min(50, "it must be at least 50ms").max(60_000, "it must be at most 60s")),
  /** Silence after which a peer is down and its keys re-placed (suspect at half of it). @default "3s" */
  EDGECACHE_FAILURE_TIMEOUT: duration("3s").pipe(z.number().min(200, "it must be at least 200ms")),
  /** Deadline of one request to a peer. @default "2s" */
  EDGECACHE_PEER_TIMEOUT: duration("2s").pipe(z.number().min(10, "it must be at least 10ms")),
  /** Comma-separated host:port of other nodes. @default "" */
  EDGECACHE_PEERS: peerList,
  /** Replication factor. @default "2" */
  EDGECACHE_REPLICAS: z.string().default("2").pipe(z.coerce.number<string>().int("it must be a whole number").min(1).max(16)),
  /** PEM certificate file of this node. */
  EDGECACHE_TLS_CERT: optionalText,
  /** PEM private key file of this node. */
  EDGECACHE_TLS_KEY: optionalText,
  /** PEM CA bundle file that signs every node's certificate. */
  EDGECACHE_TLS_CA: optionalText,
  /** Read-through origin base URL. */
  EDGECACHE_ORIGIN_URL: httpUrl,
  /** Timeout per origin request. @default "5s" */
  EDGECACHE_ORIGIN_TIMEOUT: duration("5s").pipe(z.number().min(1, "it must be more than 0")),
  /** Serve stale this long past expiry while one refresh runs. @default "0" */
  EDGECACHE_STALE_WHILE_REVALIDATE: duration("0"),
  /** Serve stale this long past expiry when the origin fails. @default "0" */
  EDGECACHE_STALE_IF_ERROR: duration("0"),
  /** How long an origin 404 is remembered. @default "0" */
  EDGECACHE_NEGATIVE_TTL: duration("0"),
  /** Extra attempts for origin failures that are safe to retry (connect errors, 502, 503, 504). @default "2" */
  EDGECACHE_ORIGIN_RETRIES: z.string().default("2").pipe(z.coerce.number<string>().int("it must be a whole number").min(0).max(10)),
  /** Origin requests in flight at once; more fail fast with 503. @default "64" */
  EDGECACHE_ORIGIN_MAX_CONCURRENCY: z.string().default("64").pipe(z.coerce.number<string>().int("it must be a whole number").min(1).max(10000)),
  /** Consecutive failed origin calls that open the circuit breaker. @default "5" */
  EDGECACHE_ORIGIN_BREAKER_THRESHOLD: z.string().default("5").pipe(z.coerce.number<string>().int("it must be a whole number").min(1).max(1000)),
  /** How long the open breaker fails fast before one probe is let through. @default "5s" */
  EDGECACHE_ORIGIN_BREAKER_COOLDOWN: duration("5s").pipe(z.number().min(1, "it must be more than 0")),
  /** Requests that may wait on one key's origin fetch; more get 503. @default "10000" */
  EDGECACHE_ORIGIN_MAX_WAITERS: z.string().default("10000").pipe(z.coerce.number<string>().int("it must be a whole number").min(1).max(1_000_000)),
  /** Write-behind persistence directory (absolute path); unset = no file persistence. */
  EDGECACHE_DATA_DIR: optionalText.refine((v) => v === undefined || v.startsWith("/"), "it must be an absolute path (starting with /)"),
  /** When the persistence log is fsynced: `always` (every batch), `never` (left to the OS) or at most every DURATION. @default "1s" */
  EDGECACHE_FSYNC: z.string().default("1s").transform(parsed(parseFsync)),
  /** Bound of each persistence queue (file log, write-behind); on overflow the oldest records are dropped. @default "64MiB" */
  EDGECACHE_PERSIST_QUEUE_BYTES: size("64MiB").pipe(z.number().min(4096, "it must be at least 4KiB")),
  /** A snapshot (and log compaction) is taken this often when anything was logged since the last. @default "10m" */
  EDGECACHE_SNAPSHOT_INTERVAL: duration("10m").pipe(z.number().min(1000, "it must be at least 1s")),
  /** A snapshot is taken once the log since the last one exceeds this (or the last snapshot's size, if larger). @default "64MiB" */
  EDGECACHE_SNAPSHOT_LOG_BYTES: size("64MiB").pipe(z.number().min(65536, "it must be at least 64KiB")),
  /** Backing service that receives writes and deletes in batches (write-behind); unset = none. */
  EDGECACHE_WRITE_BEHIND_URL: httpUrl,
  /** Bearer token sent to EDGECACHE_WRITE_BEHIND_URL. */
  EDGECACHE_WRITE_BEHIND_TOKEN: optionalText,
  /** Operations per write-behind request. @default "500" */
  EDGECACHE_WRITE_BEHIND_BATCH: z.string().default("500").pipe(z.coerce.number<string>().int("it must be a whole number").min(1).max(10000)),
  /** Timeout per write-behind request. @default "5s" */
  EDGECACHE_WRITE_BEHIND_TIMEOUT: duration("5s").pipe(z.number().min(1, "it must be more than 0")),
  /** Also write audit records (JSON lines) to this file, appending. @default none: audit lines go to the main log only */
  EDGECACHE_AUDIT_FILE: z.string().optional().refine((v) => v === undefined || v.startsWith("/"), "it must be an absolute path"),
  /** pino log level. @default "info" */
  EDGECACHE_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], { error: "it must be fatal, error, warn, info, debug, trace or silent" }).default("info"),
  /** Longest wait for in-flight requests on SIGTERM/SIGINT before closing. @default "10s" */
  EDGECACHE_SHUTDOWN_TIMEOUT: duration("10s"),
  /** Longest time a client may take to send a request body; slower clients get 408. @default "30s" */
  EDGECACHE_BODY_TIMEOUT: duration("30s").pipe(z.number().min(1, "it must be more than 0")),
  /** Connections idle longer than this are closed (Bun; Deno closes idle keep-alive itself). @default "30s" */
  EDGECACHE_IDLE_TIMEOUT: duration("30s").pipe(z.number().min(1000, "it must be at least 1s").max(255_000, "it must be at most 255s")),
});

/** The variable names edgecache reads. */
export type EnvName = keyof typeof envSchema.shape;

/** Human descriptions for `edgecache help`, keyed by variable. */
export const ENV_HELP: Record<EnvName, [defaultText: string, meaning: string]> = {
  EDGECACHE_LISTEN: ["127.0.0.1:8080", "HTTP API address (host:port)"],
  EDGECACHE_MODE: ["local if no peers, else cluster", "local = local-only node even if peers are set"],
  EDGECACHE_MAX_BYTES: ["256MiB", "memory cap for keys + values + per-entry overhead"],
  EDGECACHE_MAX_KEY_BYTES: ["1024", "longest key, in UTF-8 bytes"],
  EDGECACHE_MAX_VALUE_BYTES: ["1MiB", "largest value"],
  EDGECACHE_DEFAULT_TTL: ["0 (no expiry)", "TTL when a write gives none"],
  EDGECACHE_MAX_TTL: ["30d", "longest TTL accepted"],
  EDGECACHE_EVICTION: ["lru", "lru or lfu"],
  EDGECACHE_JWT_SECRET: ["none", "HS256 key, at least 32 bytes"],
  EDGECACHE_JWT_PUBLIC_KEY: ["none", "PEM public key (RS256, ES256 or EdDSA), inline or a file path"],
  EDGECACHE_JWKS_URL: ["none", "JWKS endpoint, fetched and cached with timeouts"],
  EDGECACHE_JWT_ISSUER: ["none", "required iss claim when set"],
  EDGECACHE_JWT_AUDIENCE: ["none", "required aud claim when set"],
  EDGECACHE_NODE_ID: ["host name", "this node's name in the cluster"],
  EDGECACHE_PEER_LISTEN: ["127.0.0.1:7070", "peer link address (TLS only)"],
  EDGECACHE_PEER_ADVERTISE: ["EDGECACHE_PEER_LISTEN", "peer address other nodes dial (required if PEER_LISTEN is 0.0.0.0 or [::])"],
  EDGECACHE_CLUSTER_NAME: ["edgecache", "cluster name; peers of another cluster are refused"],
  EDGECACHE_HEARTBEAT_INTERVAL: ["500ms", "how often each peer is pinged"],
  EDGECACHE_FAILURE_TIMEOUT: ["3s", "silence after which a peer is down (suspect at half)"],
  EDGECACHE_PEER_TIMEOUT: ["2s", "deadline of one request to a peer"],
  EDGECACHE_PEERS: ["none", "comma-separated host:port of other nodes"],
  EDGECACHE_REPLICAS: ["2", "replication factor (capped at the number of live nodes)"],
  EDGECACHE_TLS_CERT: ["none", "PEM certificate file; required in cluster mode"],
  EDGECACHE_TLS_KEY: ["none", "PEM private key file; required in cluster mode"],
  EDGECACHE_TLS_CA: ["none", "PEM CA file; required in cluster mode"],
  EDGECACHE_ORIGIN_URL: ["none", "read-through origin: a miss for key K fetches ORIGIN_URL/K"],
  EDGECACHE_ORIGIN_TIMEOUT: ["5s", "per origin request"],
  EDGECACHE_STALE_WHILE_REVALIDATE: ["0", "serve stale this long past expiry while one refresh runs"],
  EDGECACHE_STALE_IF_ERROR: ["0", "serve stale this long past expiry when the origin fails"],
  EDGECACHE_NEGATIVE_TTL: ["0", "how long an origin 404 is remembered"],
  EDGECACHE_ORIGIN_RETRIES: ["2", "extra attempts for retryable origin failures (connect errors, 502, 503, 504)"],
  EDGECACHE_ORIGIN_MAX_CONCURRENCY: ["64", "origin requests in flight at once; more get 503"],
  EDGECACHE_ORIGIN_BREAKER_THRESHOLD: ["5", "consecutive failed origin calls that open the circuit breaker"],
  EDGECACHE_ORIGIN_BREAKER_COOLDOWN: ["5s", "how long the open breaker fails fast before one probe"],
  EDGECACHE_ORIGIN_MAX_WAITERS: ["10000", "requests that may wait on one key's origin fetch; more get 503"],
  EDGECACHE_DATA_DIR: ["none", "persistence directory (absolute path): a restart warms the cache from it"],
  EDGECACHE_FSYNC: ["1s", "fsync of the persistence log: always, never, or at most every DURATION"],
  EDGECACHE_PERSIST_QUEUE_BYTES: ["64MiB", "bound of each persistence queue; on overflow the oldest records are dropped"],
  EDGECACHE_SNAPSHOT_INTERVAL: ["10m", "snapshot + log compaction this often when anything was logged"],
  EDGECACHE_SNAPSHOT_LOG_BYTES: ["64MiB", "snapshot once the log exceeds this (or the last snapshot's size)"],
  EDGECACHE_WRITE_BEHIND_URL: ["none", "backing service receiving batched writes and deletes (JSON POST)"],
  EDGECACHE_WRITE_BEHIND_TOKEN: ["none", "bearer token for EDGECACHE_WRITE_BEHIND_URL"],
  EDGECACHE_WRITE_BEHIND_BATCH: ["500", "operations per write-behind request"],
  EDGECACHE_WRITE_BEHIND_TIMEOUT: ["5s", "timeout per write-behind request"],
  EDGECACHE_AUDIT_FILE: ["none", "also append audit records (JSON lines) to this file (absolute path)"],
  EDGECACHE_LOG_LEVEL: ["info", "fatal, error, warn, info, debug, trace or silent"],
  EDGECACHE_SHUTDOWN_TIMEOUT: ["10s", "longest wait for in-flight requests on SIGTERM/SIGINT"],
  EDGECACHE_BODY_TIMEOUT: ["30s", "longest time a client may take to send a request body (408 after)"],
  EDGECACHE_IDLE_TIMEOUT: ["30s", "idle keep-alive connections are closed after this (Bun)"],
};
