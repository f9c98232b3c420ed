import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Config, type ConfigResult, loadConfig, redactConfig } from "../../src/config/load_config.ts";
import { ENV_HELP, envSchema } from "../../src/config/schema.ts";

const HOST = { hostname: "test-host" };
const SECRET = "0123456789abcdef0123456789abcdef"; // exactly 32 bytes

function ok(result: ConfigResult): Config {
  if (!result.ok) assert.fail(`expected a valid config, got problems: ${JSON.stringify(result.problems)}`);
  return result.config;
}

function problemsOf(result: ConfigResult): Map<string, string[]> {
  if (result.ok) assert.fail("expected configuration problems, got a valid config");
  const byVariable = new Map<string, string[]>();
  for (const problem of result.problems) {
    assert.equal(typeof problem.message, "string");
    assert.ok(problem.message.length > 0, `empty message for ${problem.variable}`);
    byVariable.set(problem.variable, [...(byVariable.get(problem.variable) ?? []), problem.message]);
  }
  return byVariable;
}

function variablesOf(result: ConfigResult): string[] {
  return Array.from(problemsOf(result).keys()).sort();
}

describe("loadConfig() defaults", () => {
  test("loadConfig({}) yields every documented default", () => {
    const config = ok(loadConfig({}, HOST));
    assert.deepEqual(config.listen, { host: "127.0.0.1", port: 8080 });
    assert.equal(config.mode, "local");
    assert.deepEqual(config.store, { maxBytes: 256 * 1024 ** 2, eviction: "lru" });
    assert.deepEqual(config.limits, {
      maxKeyBytes: 1024,
      maxValueBytes: 1024 ** 2,
      defaultTtlMs: 0,
      maxTtlMs: 30 * 86_400_000,
      bodyTimeoutMs: 30_000,
      idleTimeoutMs: 30_000,
    });
    assert.deepEqual(config.auth, { jwtSecret: undefined, jwtPublicKey: undefined, jwksUrl: undefined, issuer: undefined, audience: undefined });
    assert.deepEqual(config.cluster, {
      nodeId: "test-host",
      name: "edgecache",
      peerListen: { host: "127.0.0.1", port: 7070 },
      peerAdvertise: "127.0.0.1:7070",
      peers: [],
      replicas: 2,
      heartbeatMs: 500,
      failureTimeoutMs: 3_000,
      peerTimeoutMs: 2_000,
      tlsCert: undefined,
      tlsKey: undefined,
      tlsCa: undefined,
    });
    assert.deepEqual(config.origin, {
      url: undefined,
      timeoutMs: 5_000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: 0,
      negativeTtlMs: 0,
      retries: 2,
      maxConcurrency: 64,
      breakerThreshold: 5,
      breakerCoolDownMs: 5_000,
      maxWaitersPerKey: 10_000,
    });
    assert.deepEqual(config.persistence, {
      dataDir: undefined,
      fsync: { mode: "interval", intervalMs: 1000 },
      queueMaxBytes: 64 * 1024 * 1024,
      snapshotIntervalMs: 600_000,
      snapshotLogBytes: 64 * 1024 * 1024,
      writeBehind: { url: undefined, token: undefined, batchMaxRecords: 500, timeoutMs: 5000 },
    });
    assert.deepEqual(config.log, { level: "info", auditFile: undefined });
    assert.equal(config.shutdownTimeoutMs, 10_000);
  });

  test("loadConfig() treats an empty variable as unset, so the default applies", () => {
    const config = ok(loadConfig({ EDGECACHE_LISTEN: "", EDGECACHE_MAX_BYTES: "", EDGECACHE_JWT_SECRET: "", EDGECACHE_EVICTION: "" }, HOST));
    assert.deepEqual(config.listen, { host: "127.0.0.1", port: 8080 });
    assert.equal(config.store.maxBytes, 256 * 1024 ** 2);
    assert.equal(config.store.eviction, "lru");
    assert.equal(config.auth.jwtSecret, undefined);
  });

  test("ENV_HELP documents exactly the variables envSchema reads", () => {
    assert.deepEqual(Object.keys(ENV_HELP).sort(), Object.keys(envSchema.shape).sort());
  });
});

describe("loadConfig() parsing", () => {
  test("loadConfig() reads sizes in bytes and KiB/MiB/GiB", () => {
    const config = ok(loadConfig({ EDGECACHE_MAX_BYTES: "2GiB", EDGECACHE_MAX_VALUE_BYTES: "512KiB", EDGECACHE_MAX_KEY_BYTES: "2048" }, HOST));
    assert.equal(config.store.maxBytes, 2 * 1024 ** 3);
    assert.equal(config.limits.maxValueBytes, 512 * 1024);
    assert.equal(config.limits.maxKeyBytes, 2048);
  });

  test("loadConfig() reads durations in ms, s, m, h, d and bare seconds", () => {
    const config = ok(loadConfig({
      EDGECACHE_DEFAULT_TTL: "90",
      EDGECACHE_MAX_TTL: "2d",
      EDGECACHE_ORIGIN_TIMEOUT: "250ms",
      EDGECACHE_STALE_WHILE_REVALIDATE: "10m",
      EDGECACHE_STALE_IF_ERROR: "1h",
      EDGECACHE_NEGATIVE_TTL: "30s",
      EDGECACHE_SHUTDOWN_TIMEOUT: "0",
    }, HOST));
    assert.equal(config.limits.defaultTtlMs, 90_000);
    assert.equal(config.limits.maxTtlMs, 2 * 86_400_000);
    assert.equal(config.origin.timeoutMs, 250);
    assert.equal(config.origin.staleWhileRevalidateMs, 600_000);
    assert.equal(config.origin.staleIfErrorMs, 3_600_000);
    assert.equal(config.origin.negativeTtlMs, 30_000);
    assert.equal(config.shutdownTimeoutMs, 0);
  });

  test("loadConfig() reads IPv4, host-name and [IPv6] listen addresses", () => {
    assert.deepEqual(ok(loadConfig({ EDGECACHE_LISTEN: "[::1]:80" }, HOST)).listen, { host: "::1", port: 80 });
    assert.deepEqual(ok(loadConfig({ EDGECACHE_LISTEN: "localhost:9000" }, HOST)).listen, { host: "localhost", port: 9000 });
    assert.deepEqual(ok(loadConfig({ EDGECACHE_PEER_LISTEN: "[::1]:7171" }, HOST)).cluster.peerListen, { host: "::1", port: 7171 });
  });

  test("loadConfig() reads the eviction policy, log level, node id and replicas", () => {
    const config = ok(loadConfig({ EDGECACHE_EVICTION: "lfu", EDGECACHE_LOG_LEVEL: "debug", EDGECACHE_NODE_ID: "edge-1.eu", EDGECACHE_REPLICAS: "3" }, HOST));
    assert.equal(config.store.eviction, "lfu");
    assert.equal(config.log.level, "debug");
    assert.equal(config.cluster.nodeId, "edge-1.eu");
    assert.equal(config.cluster.replicas, 3);
  });

  test("loadConfig() keeps a node local when EDGECACHE_MODE=local even with peers set", () => {
    const config = ok(loadConfig({ EDGECACHE_MODE: "local", EDGECACHE_PEERS: "10.0.0.2:7070, [fd00::3]:7070 ,," }, HOST));
    assert.equal(config.mode, "local");
    assert.deepEqual(config.cluster.peers, ["10.0.0.2:7070", "[fd00::3]:7070"]);
  });

  test("loadConfig() reads an http(s) EDGECACHE_ORIGIN_URL without its trailing slash and the origin tuning", () => {
    const config = ok(loadConfig({
      EDGECACHE_ORIGIN_URL: "https://origin.example/base/",
      EDGECACHE_ORIGIN_RETRIES: "0",
      EDGECACHE_ORIGIN_MAX_CONCURRENCY: "8",
      EDGECACHE_ORIGIN_BREAKER_THRESHOLD: "3",
      EDGECACHE_ORIGIN_BREAKER_COOLDOWN: "1m",
      EDGECACHE_ORIGIN_MAX_WAITERS: "100",
    }, HOST));
    assert.equal(config.origin.url, "https://origin.example/base");
    assert.equal(config.origin.retries, 0);
    assert.equal(config.origin.maxConcurrency, 8);
    assert.equal(config.origin.breakerThreshold, 3);
    assert.equal(config.origin.breakerCoolDownMs, 60_000);
    assert.equal(config.origin.maxWaitersPerKey, 100);
    assert.equal(ok(loadConfig({ EDGECACHE_ORIGIN_URL: "http://127.0.0.1:9000" }, HOST)).origin.url, "http://127.0.0.1:9000");
  });

  test("loadConfig() keeps auth settings and drops a trailing slash from the JWKS URL", () => {
    const config = ok(loadConfig({
      EDGECACHE_JWT_SECRET: SECRET,
      EDGECACHE_JWKS_URL: "https://issuer.example/.well-known/jwks.json/",
      EDGECACHE_JWT_ISSUER: "https://issuer.example",
      EDGECACHE_JWT_AUDIENCE: "edgecache",
    }, HOST));
    assert.equal(config.auth.jwtSecret, SECRET);
    assert.equal(config.auth.jwksUrl, "https://issuer.example/.well-known/jwks.json");
    assert.equal(config.auth.issuer, "https://issuer.example");
    assert.equal(config.auth.audience, "edgecache");
  });
});

describe("loadConfig() problems", () => {
  test("loadConfig() names the variable of each malformed value", () => {
    const cases: Record<string, string> = {
      EDGECACHE_LISTEN: "nope",
      EDGECACHE_MODE: "mesh",
      EDGECACHE_MAX_BYTES: "lots",
      EDGECACHE_MAX_KEY_BYTES: "0",
      EDGECACHE_MAX_VALUE_BYTES: "1TiB",
      EDGECACHE_DEFAULT_TTL: "-1",
      EDGECACHE_MAX_TTL: "forever",
      EDGECACHE_EVICTION: "fifo",
      EDGECACHE_JWKS_URL: "ftp://keys.example/jwks",
      EDGECACHE_NODE_ID: "has space",
      EDGECACHE_PEER_LISTEN: "7070",
      EDGECACHE_PEERS: "10.0.0.2",
      EDGECACHE_REPLICAS: "two",
      EDGECACHE_ORIGIN_URL: "ftp://origin.example",
      EDGECACHE_ORIGIN_TIMEOUT: "0",
      EDGECACHE_ORIGIN_RETRIES: "-1",
      EDGECACHE_ORIGIN_MAX_CONCURRENCY: "0",
      EDGECACHE_ORIGIN_BREAKER_THRESHOLD: "1.5",
      EDGECACHE_ORIGIN_BREAKER_COOLDOWN: "0",
      EDGECACHE_ORIGIN_MAX_WAITERS: "many",
      EDGECACHE_LOG_LEVEL: "loud",
      EDGECACHE_SHUTDOWN_TIMEOUT: "soon",
      EDGECACHE_BODY_TIMEOUT: "0",
      EDGECACHE_IDLE_TIMEOUT: "1h",
    };
    for (const [variable, value] of Object.entries(cases)) {
      const variables = variablesOf(loadConfig({ [variable]: value }, HOST));
      assert.deepEqual(variables, [variable], `${variable}=${value}`);
    }
  });

  test("loadConfig() reports every problem of several bad variables in one call", () => {
    const result = loadConfig({
      EDGECACHE_LISTEN: "0.0.0.0",
      EDGECACHE_MAX_BYTES: "12 parsecs",
      EDGECACHE_EVICTION: "random",
      EDGECACHE_JWT_SECRET: "short",
      EDGECACHE_REPLICAS: "0",
      EDGECACHE_LOG_LEVEL: "verbose",
    }, HOST);
    assert.deepEqual(variablesOf(result), [
      "EDGECACHE_EVICTION",
      "EDGECACHE_JWT_SECRET",
      "EDGECACHE_LISTEN",
      "EDGECACHE_LOG_LEVEL",
      "EDGECACHE_MAX_BYTES",
      "EDGECACHE_REPLICAS",
    ]);
  });

  test("loadConfig() reports schema problems and cross-check problems together", () => {
    const result = loadConfig({
      EDGECACHE_LISTEN: "0.0.0.0:8080",
      EDGECACHE_DEFAULT_TTL: "2h",
      EDGECACHE_MAX_TTL: "1h",
      EDGECACHE_LOG_LEVEL: "chatty",
      EDGECACHE_DATA_DIR: "relative/dir",
    }, HOST);
    assert.deepEqual(variablesOf(result), ["EDGECACHE_DATA_DIR", "EDGECACHE_DEFAULT_TTL", "EDGECACHE_JWT_SECRET", "EDGECACHE_LOG_LEVEL"]);
  });

  test("loadConfig() refuses a replica count that is not a whole number from 1 to 16", () => {
    for (const replicas of ["0", "17", "1.5", "-2", "two"]) {
      assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_REPLICAS: replicas }, HOST)), ["EDGECACHE_REPLICAS"], replicas);
    }
    assert.equal(ok(loadConfig({ EDGECACHE_REPLICAS: "16" }, HOST)).cluster.replicas, 16);
    assert.equal(ok(loadConfig({ EDGECACHE_REPLICAS: "1" }, HOST)).cluster.replicas, 1);
  });

  test("loadConfig() refuses EDGECACHE_MAX_BYTES below 1MiB", () => {
    assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_MAX_BYTES: "1023KiB", EDGECACHE_MAX_VALUE_BYTES: "1KiB" }, HOST)), ["EDGECACHE_MAX_BYTES"]);
    assert.equal(ok(loadConfig({ EDGECACHE_MAX_BYTES: "1MiB" }, HOST)).store.maxBytes, 1024 ** 2);
  });

  test("loadConfig() refuses EDGECACHE_MAX_TTL below 1s", () => {
    assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_MAX_TTL: "999ms" }, HOST)), ["EDGECACHE_MAX_TTL"]);
    assert.equal(ok(loadConfig({ EDGECACHE_MAX_TTL: "1s" }, HOST)).limits.maxTtlMs, 1000);
  });
});

describe("loadConfig() cross-checks", () => {
  test("loadConfig() refuses EDGECACHE_DEFAULT_TTL longer than EDGECACHE_MAX_TTL", () => {
    assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_DEFAULT_TTL: "2h", EDGECACHE_MAX_TTL: "1h" }, HOST)), ["EDGECACHE_DEFAULT_TTL"]);
    assert.equal(ok(loadConfig({ EDGECACHE_DEFAULT_TTL: "1h", EDGECACHE_MAX_TTL: "1h" }, HOST)).limits.defaultTtlMs, 3_600_000);
  });

  test("loadConfig() refuses EDGECACHE_MAX_VALUE_BYTES larger than EDGECACHE_MAX_BYTES", () => {
    assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_MAX_BYTES: "1MiB", EDGECACHE_MAX_VALUE_BYTES: "2MiB" }, HOST)), ["EDGECACHE_MAX_VALUE_BYTES"]);
    assert.equal(ok(loadConfig({ EDGECACHE_MAX_BYTES: "2MiB", EDGECACHE_MAX_VALUE_BYTES: "2MiB" }, HOST)).limits.maxValueBytes, 2 * 1024 ** 2);
  });

  test("loadConfig() refuses a non-loopback listen address without any auth key, on EDGECACHE_JWT_SECRET", () => {
    for (const listen of ["0.0.0.0:8080", "10.1.2.3:80", "[::]:8080", "edge.example.com:443"]) {
      assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_LISTEN: listen }, HOST)), ["EDGECACHE_JWT_SECRET"], listen);
    }
  });

  test("loadConfig() accepts a loopback listen address without any auth key", () => {
    for (const listen of ["127.0.0.1:8080", "127.0.0.2:1", "[::1]:80", "localhost:8080"]) {
      assert.equal(ok(loadConfig({ EDGECACHE_LISTEN: listen }, HOST)).auth.jwtSecret, undefined, listen);
    }
  });

  test("loadConfig() accepts a non-loopback listen address when any one auth key is set", () => {
    const listen = "0.0.0.0:8080";
    ok(loadConfig({ EDGECACHE_LISTEN: listen, EDGECACHE_JWT_SECRET: SECRET }, HOST));
    ok(loadConfig({ EDGECACHE_LISTEN: listen, EDGECACHE_JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----" }, HOST));
    ok(loadConfig({ EDGECACHE_LISTEN: listen, EDGECACHE_JWKS_URL: "https://issuer.example/jwks.json" }, HOST));
  });

  test("loadConfig() refuses an HS256 secret shorter than 32 bytes, counting UTF-8 bytes", () => {
    assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_JWT_SECRET: SECRET.slice(1) }, HOST)), ["EDGECACHE_JWT_SECRET"]);
    assert.equal(ok(loadConfig({ EDGECACHE_JWT_SECRET: SECRET }, HOST)).auth.jwtSecret, SECRET);
    // 11 characters, but 33 bytes: long enough.
    const euros = "€".repeat(11);
    assert.equal(ok(loadConfig({ EDGECACHE_JWT_SECRET: euros }, HOST)).auth.jwtSecret, euros);
  });

  test("loadConfig() reports a short secret once, not also as a missing key, on a public address", () => {
    const result = loadConfig({ EDGECACHE_LISTEN: "0.0.0.0:8080", EDGECACHE_JWT_SECRET: "short" }, HOST);
    const problems = problemsOf(result);
    assert.deepEqual(Array.from(problems.keys()), ["EDGECACHE_JWT_SECRET"]);
    assert.equal(problems.get("EDGECACHE_JWT_SECRET")?.length, 1);
  });
});

describe("loadConfig() cluster and refusals", () => {
  test("loadConfig() requires the three TLS files when peers make it a cluster", () => {
    assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_PEERS: "10.0.0.2:7070" }, HOST)).sort(), ["EDGECACHE_TLS_CA", "EDGECACHE_TLS_CERT", "EDGECACHE_TLS_KEY"]);
  });

  test("loadConfig() requires TLS for an explicit EDGECACHE_MODE=cluster and accepts it with TLS", () => {
    assert.equal(variablesOf(loadConfig({ EDGECACHE_MODE: "cluster" }, HOST)).length, 3);
    const config = ok(loadConfig({ EDGECACHE_MODE: "cluster", EDGECACHE_TLS_CERT: "/c.pem", EDGECACHE_TLS_KEY: "/k.pem", EDGECACHE_TLS_CA: "/ca.pem" }, HOST));
    assert.equal(config.mode, "cluster");
  });

  test("loadConfig() requires EDGECACHE_PEER_ADVERTISE when the peer link listens on a wildcard", () => {
    const tls = { EDGECACHE_TLS_CERT: "/c.pem", EDGECACHE_TLS_KEY: "/k.pem", EDGECACHE_TLS_CA: "/ca.pem", EDGECACHE_PEERS: "10.0.0.2:7070" };
    assert.deepEqual(variablesOf(loadConfig({ ...tls, EDGECACHE_PEER_LISTEN: "0.0.0.0:7070" }, HOST)), ["EDGECACHE_PEER_ADVERTISE"]);
    assert.equal(ok(loadConfig({ ...tls, EDGECACHE_PEER_LISTEN: "0.0.0.0:7070", EDGECACHE_PEER_ADVERTISE: "10.0.0.1:7070" }, HOST)).cluster.peerAdvertise, "10.0.0.1:7070");
  });

  test("loadConfig() refuses a relative EDGECACHE_DATA_DIR and accepts an absolute one", () => {
    assert.deepEqual(variablesOf(loadConfig({ EDGECACHE_DATA_DIR: "var/lib/edgecache" }, HOST)), ["EDGECACHE_DATA_DIR"]);
    assert.equal(ok(loadConfig({ EDGECACHE_DATA_DIR: "/var/lib/edgecache" }, HOST)).persistence.dataDir, "/var/lib/edgecache");
  });
});

describe("loadConfig() purity and immutability", () => {
  test("loadConfig() returns equal results for equal input and does not modify its argument", () => {
    const env = Object.freeze({ EDGECACHE_MAX_BYTES: "64MiB", EDGECACHE_EVICTION: "lfu", EDGECACHE_JWT_SECRET: SECRET });
    const first = loadConfig(env, HOST);
    const second = loadConfig(env, HOST);
    assert.deepEqual(first, second);
    assert.deepEqual(env, { EDGECACHE_MAX_BYTES: "64MiB", EDGECACHE_EVICTION: "lfu", EDGECACHE_JWT_SECRET: SECRET });
  });

  test("loadConfig() reads only its arguments, never process.env or the real host name", () => {
    const saved = process.env.EDGECACHE_LISTEN;
    process.env.EDGECACHE_LISTEN = "not an address";
    try {
      const config = ok(loadConfig({}, { hostname: "injected-host" }));
      assert.deepEqual(config.listen, { host: "127.0.0.1", port: 8080 });
      assert.equal(config.cluster.nodeId, "injected-host");
    } finally {
      if (saved === undefined) delete process.env.EDGECACHE_LISTEN;
      else process.env.EDGECACHE_LISTEN = saved;
    }
  });

  test("loadConfig() returns a deeply frozen config", () => {
    const config = ok(loadConfig({ EDGECACHE_MODE: "local", EDGECACHE_PEERS: "10.0.0.2:7070" }, HOST));
    for (const part of [config, config.listen, config.store, config.limits, config.auth, config.cluster, config.cluster.peers, config.cluster.peerListen, config.origin, config.persistence, config.log]) {
      assert.ok(Object.isFrozen(part));
    }
    assert.throws(() => {
      (config.store as { maxBytes: number }).maxBytes = 1;
    }, TypeError);
    assert.throws(() => {
      (config.cluster.peers as string[]).push("10.0.0.3:7070");
    }, TypeError);
    assert.equal(config.store.maxBytes, 256 * 1024 ** 2);
  });
});

describe("redactConfig()", () => {
  test("redactConfig() replaces the HS256 secret and never prints it", () => {
    const config = ok(loadConfig({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_JWT_ISSUER: "iss" }, HOST));
    const redacted = redactConfig(config) as Config;
    assert.equal(redacted.auth.jwtSecret, "[redacted]");
    assert.equal(redacted.auth.issuer, "iss");
    assert.ok(!JSON.stringify(redacted).includes(SECRET));
    assert.equal(config.auth.jwtSecret, SECRET, "the config itself is untouched");
  });

  test("redactConfig() hides credentials embedded in the origin, JWKS and write-behind URLs", () => {
    const config = ok(loadConfig({
      EDGECACHE_ORIGIN_URL: "https://user:pa55word@origin.example/base",
      EDGECACHE_JWKS_URL: "https://svc:hunter2@idp.example/jwks.json",
      EDGECACHE_WRITE_BEHIND_URL: "https://wb:s3cr3t@backing.example/batch",
    }, HOST));
    const text = JSON.stringify(redactConfig(config));
    for (const secret of ["pa55word", "hunter2", "s3cr3t", "user:", "svc:", "wb:"]) assert.ok(!text.includes(secret), secret);
    assert.equal((redactConfig(config) as Config).origin.url, "https://redacted@origin.example/base");
  });

  test("redactConfig() leaves an unset secret unset and keeps every other setting", () => {
    const config = ok(loadConfig({ EDGECACHE_MAX_BYTES: "64MiB" }, HOST));
    const redacted = redactConfig(config) as Config;
    assert.equal(redacted.auth.jwtSecret, undefined);
    assert.equal(redacted.store.maxBytes, 64 * 1024 ** 2);
    assert.deepEqual(redacted.listen, config.listen);
  });
});
