import type { EvictionPolicy } from "../core/store.ts";
import { type EnvName, envSchema, type FsyncSetting } from "./schema.ts";
import { type Address, formatAddress, isLoopback } from "./units.ts";

/** The validated, typed and frozen configuration of one node. Each component takes its slice. */
export interface Config {
  listen: Address;
  mode: "local" | "cluster";
  store: { maxBytes: number; eviction: EvictionPolicy };
  limits: { maxKeyBytes: number; maxValueBytes: number; defaultTtlMs: number; maxTtlMs: number; bodyTimeoutMs: number; idleTimeoutMs: number };
  auth: { jwtSecret?: string; jwtPublicKey?: string; jwksUrl?: string; issuer?: string; audience?: string };
  cluster: {
    nodeId: string;
    name: string;
    peerListen: Address;
    /** host:port other nodes dial. */
    peerAdvertise: string;
    peers: string[];
    replicas: number;
    heartbeatMs: number;
    failureTimeoutMs: number;
    peerTimeoutMs: number;
    tlsCert?: string;
    tlsKey?: string;
    tlsCa?: string;
  };
  origin: {
    url?: string;
    timeoutMs: number;
    staleWhileRevalidateMs: number;
    staleIfErrorMs: number;
    negativeTtlMs: number;
    retries: number;
    maxConcurrency: number;
    breakerThreshold: number;
    breakerCoolDownMs: number;
    maxWaitersPerKey: number;
  };
  persistence: {
    dataDir?: string;
    fsync: FsyncSetting;
    queueMaxBytes: number;
    snapshotIntervalMs: number;
    snapshotLogBytes: number;
    writeBehind: { url?: string; token?: string; batchMaxRecords: number; timeoutMs: number };
  };
  log: { level: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent"; auditFile?: string };
  shutdownTimeoutMs: number;
}

/** One thing wrong with the environment, naming the variable. */
export interface ConfigProblem {
  variable: EnvName;
  message: string;
}

/** Either a valid configuration or every problem found. */
export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

/** Facts about the host that defaults depend on, passed in so `loadConfig` stays pure. */
export interface HostFacts {
  hostname: string;
}

/** True when the auth settings give the node no way to verify tokens. */
export function hasNoAuthKey(auth: Config["auth"]): boolean {
  return auth.jwtSecret === undefined && auth.jwtPublicKey === undefined && auth.jwksUrl === undefined;
}

/**
 * Validates the environment against `envSchema` and cross-checks the variables. Pure: it reads
 * nothing but its arguments, reports every problem at once, and returns a frozen config.
 */
export function loadConfig(env: Record<string, string | undefined>, host: HostFacts): ConfigResult {
  const problems: ConfigProblem[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema.shape)) {
    const raw = env[name];
    const result = schema.safeParse(raw === "" ? undefined : raw);
    if (result.success) values[name] = result.data;
    else for (const issue of result.error.issues) problems.push({ variable: name as EnvName, message: issue.message });
  }
  const v = values as { [K in EnvName]: any };
  const failed = new Set(problems.map((problem) => problem.variable));
  const problem = (variable: EnvName, message: string) => problems.push({ variable, message });

  const peers: string[] = v.EDGECACHE_PEERS ?? [];
  const mode: "local" | "cluster" = v.EDGECACHE_MODE ?? (peers.length > 0 ? "cluster" : "local");
  if (!failed.has("EDGECACHE_DEFAULT_TTL") && !failed.has("EDGECACHE_MAX_TTL") && v.EDGECACHE_DEFAULT_TTL > v.EDGECACHE_MAX_TTL) {
    problem("EDGECACHE_DEFAULT_TTL", `it must not exceed EDGECACHE_MAX_TTL (${v.EDGECACHE_MAX_TTL}ms): current value is ${v.EDGECACHE_DEFAULT_TTL}ms`);
  }
  if (!failed.has("EDGECACHE_MAX_VALUE_BYTES") && !failed.has("EDGECACHE_MAX_BYTES") && v.EDGECACHE_MAX_VALUE_BYTES > v.EDGECACHE_MAX_BYTES) {
    problem("EDGECACHE_MAX_VALUE_BYTES", `it must not exceed EDGECACHE_MAX_BYTES (${v.EDGECACHE_MAX_BYTES}): current value is ${v.EDGECACHE_MAX_VALUE_BYTES}`);
  }
  const auth = {
    jwtSecret: v.EDGECACHE_JWT_SECRET,
    jwtPublicKey: v.EDGECACHE_JWT_PUBLIC_KEY,
    jwksUrl: v.EDGECACHE_JWKS_URL,
    issuer: v.EDGECACHE_JWT_ISSUER,
    audience: v.EDGECACHE_JWT_AUDIENCE,
  };
  const authFailed = failed.has("EDGECACHE_JWT_SECRET") || failed.has("EDGECACHE_JWT_PUBLIC_KEY") || failed.has("EDGECACHE_JWKS_URL");
  if (!authFailed && !failed.has("EDGECACHE_LISTEN") && hasNoAuthKey(auth) && !isLoopback(v.EDGECACHE_LISTEN.host)) {
    problem(
      "EDGECACHE_JWT_SECRET",
      `it (or EDGECACHE_JWT_PUBLIC_KEY or EDGECACHE_JWKS_URL) must be set when EDGECACHE_LISTEN is not loopback: current listen address is ${v.EDGECACHE_LISTEN.host}`,
    );
  }
  if (mode === "cluster") {
    for (const name of ["EDGECACHE_TLS_CERT", "EDGECACHE_TLS_KEY", "EDGECACHE_TLS_CA"] as const) {
      if (v[name] === undefined && !failed.has(name)) problem(name, "it must be set in cluster mode: peers authenticate each other with mutual TLS");
    }
    const listen = v.EDGECACHE_PEER_LISTEN;
    if (listen !== undefined && v.EDGECACHE_PEER_ADVERTISE === undefined && (listen.host === "0.0.0.0" || listen.host === "::")) {
      problem("EDGECACHE_PEER_ADVERTISE", `it must be set when EDGECACHE_PEER_LISTEN is a wildcard address: current listen host is ${listen.host}`);
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  const config: Config = {
    listen: v.EDGECACHE_LISTEN,
    mode,
    store: { maxBytes: v.EDGECACHE_MAX_BYTES, eviction: v.EDGECACHE_EVICTION },
    limits: {
      maxKeyBytes: v.EDGECACHE_MAX_KEY_BYTES,
      maxValueBytes: v.EDGECACHE_MAX_VALUE_BYTES,
      defaultTtlMs: v.EDGECACHE_DEFAULT_TTL,
      maxTtlMs: v.EDGECACHE_MAX_TTL,
      bodyTimeoutMs: v.EDGECACHE_BODY_TIMEOUT,
      idleTimeoutMs: v.EDGECACHE_IDLE_TIMEOUT,
    },
    auth,
    cluster: {
      nodeId: v.EDGECACHE_NODE_ID ?? host.hostname,
      name: v.EDGECACHE_CLUSTER_NAME,
      peerListen: v.EDGECACHE_PEER_LISTEN,
      peerAdvertise: v.EDGECACHE_PEER_ADVERTISE ?? formatAddress(v.EDGECACHE_PEER_LISTEN),
      peers,
      replicas: v.EDGECACHE_REPLICAS,
      heartbeatMs: v.EDGECACHE_HEARTBEAT_INTERVAL,
      failureTimeoutMs: v.EDGECACHE_FAILURE_TIMEOUT,
      peerTimeoutMs: v.EDGECACHE_PEER_TIMEOUT,
      tlsCert: v.EDGECACHE_TLS_CERT,
      tlsKey: v.EDGECACHE_TLS_KEY,
      tlsCa: v.EDGECACHE_TLS_CA,
    },
    origin: {
      url: v.EDGECACHE_ORIGIN_URL,
      timeoutMs: v.EDGECACHE_ORIGIN_TIMEOUT,
      staleWhileRevalidateMs: v.EDGECACHE_STALE_WHILE_REVALIDATE,
      staleIfErrorMs: v.EDGECACHE_STALE_IF_ERROR,
      negativeTtlMs: v.EDGECACHE_NEGATIVE_TTL,
      retries: v.EDGECACHE_ORIGIN_RETRIES,
      maxConcurrency: v.EDGECACHE_ORIGIN_MAX_CONCURRENCY,
      breakerThreshold: v.EDGECACHE_ORIGIN_BREAKER_THRESHOLD,
      breakerCoolDownMs: v.EDGECACHE_ORIGIN_BREAKER_COOLDOWN,
      maxWaitersPerKey: v.EDGECACHE_ORIGIN_MAX_WAITERS,
    },
    persistence: {
      dataDir: v.EDGECACHE_DATA_DIR,
      fsync: v.EDGECACHE_FSYNC,
      queueMaxBytes: v.EDGECACHE_PERSIST_QUEUE_BYTES,
      snapshotIntervalMs: v.EDGECACHE_SNAPSHOT_INTERVAL,
      snapshotLogBytes: v.EDGECACHE_SNAPSHOT_LOG_BYTES,
      writeBehind: {
        url: v.EDGECACHE_WRITE_BEHIND_URL,
        token: v.EDGECACHE_WRITE_BEHIND_TOKEN,
        batchMaxRecords: v.EDGECACHE_WRITE_BEHIND_BATCH,
        timeoutMs: v.EDGECACHE_WRITE_BEHIND_TIMEOUT,
      },
    },
    log: { level: v.EDGECACHE_LOG_LEVEL, auditFile: v.EDGECACHE_AUDIT_FILE },
    shutdownTimeoutMs: v.EDGECACHE_SHUTDOWN_TIMEOUT,
  };
  return { ok: true, config: deepFreeze(config) };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** The configuration as JSON-safe data with secrets replaced by "[redacted]". */
export function redactConfig(config: Config): unknown {
  return {
    ...config,
    auth: { ...config.auth, jwtSecret: config.auth.jwtSecret === undefined ? undefined : "[redacted]", jwksUrl: redactUrl(config.auth.jwksUrl) },
    origin: { ...config.origin, url: redactUrl(config.origin.url) },
    persistence: {
      ...config.persistence,
      writeBehind: {
        ...config.persistence.writeBehind,
        url: redactUrl(config.persistence.writeBehind.url),
        token: config.persistence.writeBehind.token === undefined ? undefined : "[redacted]",
      },
    },
  };
}

/** A URL with any user name and password replaced, so credentials in it are never shown. */
function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const parsed = new URL(url);
  if (parsed.username === "" && parsed.password === "") return url;
  parsed.username = "redacted";
  parsed.password = "";
  return parsed.href.replace(/\/+$/, "");
}
