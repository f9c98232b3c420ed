/**
 * An in-process edgecache app for API tests: the real store, HS256 verifier, metrics, audit log
 * and logger, wired as `src/node.ts` wires them, but with an injectable clock and with every log
 * line captured in memory. Requests go through `app.request()`; nothing listens on a port.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { type AppHandle, createApp } from "../../src/api/app.ts";
import type { Readiness } from "../../src/api/context.ts";
import { importKeyMaterial } from "../../src/auth/key_resolver.ts";
import { createTokenVerifier } from "../../src/auth/token_verifier.ts";
import { type Config, loadConfig } from "../../src/config/load_config.ts";
import type { StoredEntry } from "../../src/core/entry.ts";
import { createHybridClock } from "../../src/core/hybrid_clock.ts";
import { createStore, type Store } from "../../src/core/store.ts";
import { formatEtag } from "../../src/core/version.ts";
import { createAuditLog } from "../../src/obs/audit.ts";
import { createLogger, type Logger } from "../../src/obs/logger.ts";
import { createMetrics } from "../../src/obs/metrics.ts";
import type { ReadThrough } from "../../src/origin/read_through.ts";
import type { Registry } from "prom-client";

/** The HS256 secret every fixture is configured with (40 bytes). */
export const TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqr";

/** All three scopes of the contract. */
export const ALL_SCOPES = ["cache:read", "cache:write", "cache:admin"] as const;

/** What a minted test token says. */
export interface TokenOptions {
  /** @default ["cache:read", "cache:write", "cache:admin"] */
  scopes?: readonly string[];
  /** The `prefixes` claim; omitted when undefined. */
  prefixes?: readonly string[];
  /** @default "tester" */
  sub?: string;
  /** Seconds from the fixture's current time to `exp`; negative for an expired token. @default 3600 */
  ttl?: number;
  /** Key to sign with. @default TEST_SECRET */
  secret?: string;
  /** Leave `exp` out (the verifier must refuse such a token). @default false */
  noExp?: boolean;
}

/** How to build a fixture. */
export interface FixtureOptions {
  /** EDGECACHE_* overrides on top of the defaults (the secret is always set). */
  env?: Record<string, string>;
  /** deps.maxInflight. */
  maxInflight?: number;
  /** Start of the fake clock, Unix ms. @default 2030-01-01T00:00:00Z */
  startMs?: number;
  /** deps.readiness. @default ready, with store, peers, persistence and origin_breaker checks */
  readiness?: () => Readiness;
  /**
   * Builds deps.readThrough from the fixture's own store, metrics registry, logger and fake clock
   * (e.g. with `setupOrigin`). When given, the store retains stale entries for
   * max(EDGECACHE_STALE_WHILE_REVALIDATE, EDGECACHE_STALE_IF_ERROR), as the node does.
   * @default no read-through
   */
  readThrough?: (parts: FixtureParts) => ReadThrough;
}

/** The fixture's real dependencies, handed to `FixtureOptions.readThrough`. */
export interface FixtureParts {
  config: Config;
  store: Store;
  registry: Registry;
  log: Logger;
  now: () => number;
}

/** Request init plus a bearer token to send. */
export interface FixtureRequestInit extends RequestInit {
  /** Sent as `Authorization: Bearer <token>` when given. */
  token?: string;
  /** Required by the fetch spec when the body is a ReadableStream. */
  duplex?: "half";
}

/** A point-in-time view of stored data, for "a bad request changes nothing" checks. */
export interface DataSnapshot {
  entries: number;
  bytes: number;
  sentinel: { value: string; etag: string; contentType: string } | undefined;
}

/** An in-process app with its real dependencies and test controls. */
export interface Fixture {
  handle: AppHandle;
  app: AppHandle["app"];
  store: Store;
  config: Config;
  /** Raw JSON log lines (application and audit) in the order written. */
  logLines: string[];
  /** The parsed log lines. */
  logs(): Record<string, unknown>[];
  /** The parsed audit lines (`audit: true`). */
  audits(): Record<string, unknown>[];
  /** The fake wall clock, Unix ms. */
  now(): number;
  /** Moves the fake clock forward. */
  advance(ms: number): void;
  /** Mints a real HS256 JWT with jose's SignJWT, relative to the fake clock. */
  token(options?: TokenOptions): Promise<string>;
  /** A token with all three scopes, minted once. */
  adminToken: string;
  /** `app.request()` with the connection info a runtime would pass. */
  request(path: string, init?: FixtureRequestInit): Promise<Response>;
  /** Writes `value` under `key` with the admin token and returns the response (asserted 201/204). */
  put(key: string, value: string, options?: { contentType?: string; query?: string; headers?: Record<string, string> }): Promise<Response>;
  /** The key `snapshot()` records in full. */
  sentinelKey: string;
  /** Stats entries/bytes via `/v1/admin/stats` and the sentinel entry (peeked, uncounted). */
  snapshot(): Promise<DataSnapshot>;
}

/** Percent-encodes a key for the URL path, keeping `/` as a separator as clients do. */
export function keyPath(key: string): string {
  return `/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/** Builds an app over real dependencies with a fake clock and in-memory logs. */
export async function createFixture(options: FixtureOptions = {}): Promise<Fixture> {
  let current = options.startMs ?? Date.UTC(2030, 0, 1);
  const now = () => current;
  const result = loadConfig({ EDGECACHE_JWT_SECRET: TEST_SECRET, ...options.env }, { hostname: "api-test-node" });
  if (!result.ok) throw new Error(`fixture config invalid: ${JSON.stringify(result.problems)}`);
  const config = result.config;

  const logLines: string[] = [];
  const log = createLogger({ level: config.log.level, nodeId: config.cluster.nodeId, destination: { write: (line: string) => void logLines.push(line) } });
  const clock = createHybridClock({ nodeId: config.cluster.nodeId, now });
  // As the node does with an origin: keep expired entries while a stale window may serve them.
  const storeConfig = options.readThrough === undefined
    ? config.store
    : { ...config.store, retainStaleMs: Math.max(config.origin.staleWhileRevalidateMs, config.origin.staleIfErrorMs) };
  const store = createStore(storeConfig, { now, random: Math.random, clock });
  const material = await importKeyMaterial(config.auth);
  const verifier = createTokenVerifier(material, { issuer: config.auth.issuer, audience: config.auth.audience }, now);
  const metrics = createMetrics(store, { collectProcess: false });
  const readiness = options.readiness ?? ((): Readiness => ({
    ready: true,
    checks: {
      store: { status: "ok", detail: `${store.stats().entries} entries` },
      peers: { status: "disabled", detail: "local-only mode" },
      persistence: { status: "disabled" },
      origin_breaker: { status: "disabled" },
    },
  }));
  const handle = createApp({
    config,
    store,
    verifier,
    log,
    audit: createAuditLog(log),
    metrics,
    now,
    readiness,
    node: { id: config.cluster.nodeId, startedAt: now(), runtime: "test", version: "0.0.0-test" },
    maxInflight: options.maxInflight,
    readThrough: options.readThrough?.({ config, store, registry: metrics.registry, log, now }),
  });
  // As the node does: the in-flight gauge reads the app's own count at scrape time.
  metrics.trackInflight(handle.inflight);

  const token = async (t: TokenOptions = {}): Promise<string> => {
    const iat = Math.floor(now() / 1000);
    const claims: Record<string, unknown> = { scope: (t.scopes ?? ALL_SCOPES).join(" ") };
    if (t.prefixes !== undefined) claims.prefixes = [...t.prefixes];
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(t.sub ?? "tester").setIssuedAt(iat);
    if (!t.noExp) jwt.setExpirationTime(iat + (t.ttl ?? 3600));
    return await jwt.sign(new TextEncoder().encode(t.secret ?? TEST_SECRET));
  };
  const adminToken = await token({ sub: "fixture-admin" });

  const request = (path: string, init: FixtureRequestInit = {}): Promise<Response> => {
    const { token: bearer, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (bearer !== undefined) headers.set("authorization", `Bearer ${bearer}`);
    return Promise.resolve(handle.app.request(path, { ...rest, headers } as RequestInit, { remoteAddress: "127.0.0.1" }));
  };

  const sentinelKey = "sentinel/key";
  const parse = () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const fixture: Fixture = {
    handle,
    app: handle.app,
    store,
    config,
    logLines,
    logs: parse,
    audits: () => parse().filter((record) => record.audit === true),
    now,
    advance(ms) {
      current += ms;
    },
    token,
    adminToken,
    request,
    async put(key, value, putOptions = {}) {
      const res = await request(`${keyPath(key)}${putOptions.query ?? ""}`, {
        method: "PUT",
        token: adminToken,
        body: value,
        headers: { "content-type": putOptions.contentType ?? "text/plain", ...putOptions.headers },
      });
      assert.ok(res.status === 201 || res.status === 204, `PUT ${key} answered ${res.status}: ${await res.clone().text()}`);
      return res;
    },
    sentinelKey,
    async snapshot() {
      const res = await request("/v1/admin/stats", { token: adminToken });
      assert.equal(res.status, 200);
      const stats = await res.json() as { entries: number; bytes: number };
      const entry: StoredEntry | undefined = store.peek(sentinelKey);
      return {
        entries: stats.entries,
        bytes: stats.bytes,
        sentinel: entry === undefined
          ? undefined
          : { value: new TextDecoder().decode(entry.value), etag: formatEtag(entry.version), contentType: entry.contentType },
      };
    },
  };
  return fixture;
}

/** Asserts the contract's error shape and code, and returns the parsed body. */
export async function expectError(res: Response, status: number, code: string): Promise<{ error: { code: string; message: string } }> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
  assert.ok(body.error.message.length > 0);
  assert.ok(res.headers.get("x-request-id"), "error responses carry X-Request-Id");
  return body;
}

/**
 * Runs `act` between two snapshots and asserts stored data did not change: the sentinel must be
 * stored beforehand (it is written here if absent).
 */
export async function expectUnchanged(fx: Fixture, act: () => Promise<void>): Promise<void> {
  if (fx.store.peek(fx.sentinelKey) === undefined) await fx.put(fx.sentinelKey, "sentinel value", { contentType: "text/x-sentinel" });
  const before = await fx.snapshot();
  await act();
  const after = await fx.snapshot();
  assert.deepEqual(after, before, "a bad request must not change stored data");
}

/** Polls `condition` until it holds or the deadline passes (no fixed sleeps). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
