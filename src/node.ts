import { createApp } from "./api/app.ts";
import type { Readiness, ReadinessCheck } from "./api/context.ts";
import { importKeyMaterial } from "./auth/key_resolver.ts";
import { mintToken } from "./auth/token_minter.ts";
import { createTokenVerifier } from "./auth/token_verifier.ts";
import { type Config, hasNoAuthKey } from "./config/load_config.ts";
import { formatAddress } from "./config/units.ts";
import { createHybridClock } from "./core/hybrid_clock.ts";
import { createStore, type StoreChange } from "./core/store.ts";
import { createAuditLog } from "./obs/audit.ts";
import { createFileLogger, createLogger, type Logger } from "./obs/logger.ts";
import { createMetrics } from "./obs/metrics.ts";
import { setupOrigin } from "./origin/origin_setup.ts";
import { setupCluster } from "./cluster/cluster_setup.ts";
import type { TlsCredentials } from "./cluster/transport.ts";
import { createLocalKv } from "./kv/kv_service.ts";
import type { FileSystem } from "./persist/file_system.ts";
import { setupPersistence } from "./persist/persistence_setup.ts";
import { nodeFileSystem } from "./runtime/node_fs.ts";
import type { DestinationStream } from "pino";
import type { Runtime } from "./runtime/runtime.ts";

/** Expired entries reclaimed per sweep tick, bounding the work of one tick. */
const SWEEP_BATCH = 10_000;
const SWEEP_INTERVAL_MS = 1000;

/** How a node is started beyond its configuration. */
export interface NodeOptions {
  /** Log destination. @default standard output */
  logDestination?: DestinationStream;
  /** Whether to export process and GC metrics. @default true */
  collectProcessMetrics?: boolean;
  /** Print the first-run admin token to stderr when no JWT key is configured. @default true */
  announceDevToken?: boolean;
  /** File system of persistence (tests inject failing ones). @default nodeFileSystem */
  fileSystem?: FileSystem;
}

/** A running node. */
export interface RunningNode {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly log: Logger;
  /** HS256 secret generated for this run when no key was configured (first-run mode). */
  readonly ephemeralSecret?: Uint8Array;
  /** Graceful stop: refuse new work, drain in-flight requests within the bound, close. */
  shutdown(reason: string): Promise<void>;
}

/** Reads the three PEM files of the peer links' mutual TLS. */
async function readTlsCredentials(runtime: Runtime, config: Config): Promise<TlsCredentials> {
  const read = (path: string | undefined, name: string) => {
    if (path === undefined) throw new Error(`Cannot start the cluster as ${name} must be set`);
    return runtime.readTextFile(path);
  };
  return {
    cert: await read(config.cluster.tlsCert, "EDGECACHE_TLS_CERT"),
    key: await read(config.cluster.tlsKey, "EDGECACHE_TLS_KEY"),
    ca: await read(config.cluster.tlsCa, "EDGECACHE_TLS_CA"),
  };
}

/** PEM given inline, or a path to a PEM file. */
async function resolvePem(runtime: Runtime, value: string | undefined): Promise<string | undefined> {
  if (value === undefined || value.includes("-----BEGIN")) return value;
  return await runtime.readTextFile(value);
}

/** Wires store, auth, API and server together from the configuration, and starts serving. */
export async function startNode(config: Config, runtime: Runtime, options: NodeOptions = {}): Promise<RunningNode> {
  const now = () => Date.now();
  const log = createLogger({ level: config.log.level, nodeId: config.cluster.nodeId, destination: options.logDestination });
  const clock = createHybridClock({ nodeId: config.cluster.nodeId, now });
  // With an origin, expired entries are kept as long as a stale window may still serve them.
  const retainStaleMs = config.origin.url === undefined ? 0 : Math.max(config.origin.staleWhileRevalidateMs, config.origin.staleIfErrorMs);
  // Persistence follows the store's changes; it is created once the metrics registry exists.
  let recordChange = (_change: StoreChange): void => {};
  // The cluster watches changes too, to replicate exactly what its coordinator's writes did.
  let observeCluster = (_change: StoreChange): void => {};
  const onChange = (change: StoreChange) => {
    recordChange(change);
    observeCluster(change);
  };
  const store = createStore({ ...config.store, retainStaleMs }, { now, random: Math.random, clock, onChange });

  let ephemeralSecret: Uint8Array | undefined;
  let auth = { ...config.auth, jwtPublicKey: await resolvePem(runtime, config.auth.jwtPublicKey) };
  if (hasNoAuthKey(config.auth)) {
    // loadConfig already refused this off loopback; on loopback a first run must just work.
    ephemeralSecret = crypto.getRandomValues(new Uint8Array(32));
    auth = { ...auth, jwtSecret: undefined };
  }
  const material = await importKeyMaterial(auth);
  if (ephemeralSecret !== undefined) material.secret = ephemeralSecret;
  const verifier = createTokenVerifier(material, { issuer: config.auth.issuer, audience: config.auth.audience }, now);

  const metrics = createMetrics(store, { collectProcess: options.collectProcessMetrics ?? true, runtime: { name: runtime.name, version: runtime.version } });
  const origin = config.origin.url === undefined
    ? undefined
    : setupOrigin(config, config.origin.url, { store, registry: metrics.registry, log, now, random: Math.random, fetch: globalThis.fetch });
  const originCheck = (): ReadinessCheck => {
    if (origin === undefined) return { status: "disabled", detail: "EDGECACHE_ORIGIN_URL not set" };
    const state = origin.breakerState();
    // An open breaker degrades reads of missing keys, but the node still serves what it holds.
    return state === "closed" ? { status: "ok", detail: "closed" } : { status: "degraded", detail: state };
  };
  // --- persistence (issue 5): recovery runs after the server listens; until it ends /readyz is 503 and /v1/ gets 503 not_ready.
  const persistence = setupPersistence(config, {
    store,
    clock,
    registry: metrics.registry,
    log,
    now,
    random: Math.random,
    fetch: globalThis.fetch,
    fs: options.fileSystem ?? nodeFileSystem,
  });
  recordChange = persistence.record;
  // --- end persistence
  // --- cluster (issue 4): routing, replication and rebalancing over mutual-TLS peer links.
  const localKv = createLocalKv(store, origin?.readThrough);
  const cluster = config.mode === "cluster"
    ? setupCluster(config, {
      store,
      local: localKv,
      transport: runtime.tlsTransport(await readTlsCredentials(runtime, config)),
      registry: metrics.registry,
      log,
      now,
      random: Math.random,
      httpAddress: formatAddress(config.listen),
    })
    : undefined;
  if (cluster !== undefined) observeCluster = cluster.observe;
  // --- end cluster
  let draining = false;
  const readiness = (): Readiness => ({
    ready: !draining && !persistence.recovering() && cluster?.startingUp() !== true,
    checks: {
      store: { status: "ok", detail: `${store.stats().entries} entries` },
      shutdown: draining ? { status: "down", detail: "draining for shutdown" } : { status: "ok" },
      peers: cluster?.readiness() ?? { status: "disabled", detail: "local-only mode" },
      persistence: persistence.check(),
      origin_breaker: originCheck(),
    },
  });
  const startedAt = now();
  const { app, inflight, startDraining } = createApp({
    config,
    store,
    verifier,
    log,
    audit: createAuditLog(log, config.log.auditFile === undefined ? undefined : createFileLogger(config.log.auditFile, config.cluster.nodeId)),
    metrics,
    now,
    readiness,
    readThrough: origin?.readThrough,
    kv: cluster?.kv ?? localKv,
    cluster: cluster?.view,
    node: { id: config.cluster.nodeId, startedAt, runtime: runtime.name, version: runtime.version },
  });

  metrics.trackInflight(inflight);

  const server = await runtime.serve({
    hostname: config.listen.host,
    port: config.listen.port,
    fetch: (request, info) => persistence.gate(request) ?? app.fetch(request, info),
    // readBoundedBody enforces the value limit with the contract's JSON error while streaming;
    // the runtime's own limit (a bare 413 with no body) is only a backstop far above it.
    maxRequestBodyBytes: Math.max(config.limits.maxValueBytes * 2, 64 * 1024 * 1024),
    idleTimeoutSeconds: Math.ceil(config.limits.idleTimeoutMs / 1000),
  });
  const sweeper = setInterval(() => store.sweepExpired(SWEEP_BATCH), SWEEP_INTERVAL_MS);
  const recovered = persistence.recover();
  if (cluster !== undefined) {
    // Peers read and hand off through this node's store: link up only once the data directory's
    // contents are back in it, so no peer ever sees a half-loaded node. A peer port that cannot
    // be bound fails start-up here, before the node says it listens.
    await recovered;
    await cluster.start();
  }
  const url = `http://${formatAddress({ host: config.listen.host, port: server.port })}`;
  log.info({ url, mode: config.mode, runtime: runtime.name, eviction: config.store.eviction, maxBytes: config.store.maxBytes }, "edgecache listening");

  if (ephemeralSecret !== undefined) {
    log.warn("no JWT key configured: generated an ephemeral HS256 secret for this run only (loopback listen address)");
    if (options.announceDevToken ?? true) {
      const token = await mintToken(ephemeralSecret, { subject: "first-run-admin", scopes: ["cache:read", "cache:write", "cache:admin"], ttlSeconds: 3600 }, now);
      runtime.writeStderr(`edgecache: no JWT key is configured; this run uses an ephemeral secret.\nedgecache: admin token (valid 1h): ${token}\n`);
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    url,
    log,
    ephemeralSecret,
    shutdown(reason) {
      stopping ??= (async () => {
        draining = true;
        startDraining();
        // Peers stop placing keys here at once and re-place this node's keys among themselves, so
        // no replica write lands here after persistence is closed or after the handoff snapshot.
        cluster?.announceLeave();
        log.info({ reason, inflight: inflight() }, "shutting down: no longer accepting connections");
        server.stopAccepting();
        const deadline = now() + config.shutdownTimeoutMs;
        while (inflight() > 0 && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
        if (inflight() > 0) log.warn({ inflight: inflight() }, "shutdown timeout reached with requests in flight; closing them");
        clearInterval(sweeper);
        await server.close();
        await persistence.shutdown(config.shutdownTimeoutMs);
        // In a cluster: tell peers, hand every key to its next owners, then close the links.
        if (cluster !== undefined) await cluster.leave(`leave-${config.cluster.nodeId}`, config.shutdownTimeoutMs);
        log.info("shutdown complete");
        await new Promise<void>((resolve) => log.flush(() => resolve()));
      })();
      return stopping;
    },
  };
}
