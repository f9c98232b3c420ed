import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { binaryPath, runCommand, startNodeProcess } from "../helpers/node_process.ts";

const SECRET = "e2e-secret-that-is-at-least-32-bytes-long!";

describe("edgecache binary commands", () => {
  test("version prints the package version and exits 0", async () => {
    const result = await runCommand([binaryPath(), "version"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^edgecache \d+\.\d+\.\d+ \(bun /);
  });

  test("help and --help list every command and variable and exit 0", async () => {
    for (const arg of ["help", "--help"]) {
      const result = await runCommand([binaryPath(), arg]);
      assert.equal(result.code, 0);
      for (const word of ["serve", "bench", "token", "config", "version", "EDGECACHE_LISTEN", "EDGECACHE_DATA_DIR", "EDGECACHE_JWKS_URL"]) {
        assert.ok(result.stdout.includes(word), `${arg} output mentions ${word}`);
      }
    }
  });

  test("an unknown command exits 2", async () => {
    const result = await runCommand([binaryPath(), "frobnicate"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command/);
  });

  test("config prints the effective configuration with the secret redacted", async () => {
    const result = await runCommand([binaryPath(), "config"], { EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_MAX_BYTES: "64MiB" });
    assert.equal(result.code, 0);
    const config = JSON.parse(result.stdout);
    assert.equal(config.store.maxBytes, 64 * 1024 * 1024);
    assert.equal(config.auth.jwtSecret, "[redacted]");
    assert.ok(!result.stdout.includes(SECRET));
  });

  test("config exits 2 and names every bad variable at once", async () => {
    const result = await runCommand([binaryPath(), "config"], {
      EDGECACHE_MAX_BYTES: "lots",
      EDGECACHE_EVICTION: "fifo",
      EDGECACHE_DEFAULT_TTL: "forever",
      EDGECACHE_JWT_SECRET: "short",
    });
    assert.equal(result.code, 2);
    for (const name of ["EDGECACHE_MAX_BYTES", "EDGECACHE_EVICTION", "EDGECACHE_DEFAULT_TTL", "EDGECACHE_JWT_SECRET"]) {
      assert.ok(result.stderr.includes(name), `stderr names ${name}`);
    }
  });

  test("serve refuses to start without a JWT key on a non-loopback address (exit 2)", async () => {
    const result = await runCommand([binaryPath(), "serve"], { EDGECACHE_LISTEN: "0.0.0.0:0" });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /EDGECACHE_JWT_SECRET/);
  });

  test("serve exits 2 naming the variable when a value is bad", async () => {
    const result = await runCommand([binaryPath(), "serve"], { EDGECACHE_LISTEN: "127.0.0.1:99999" });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /EDGECACHE_LISTEN/);
  });

  test("serve exits 2 when the public key file does not exist", async () => {
    const result = await runCommand([binaryPath(), "serve"], { EDGECACHE_JWT_PUBLIC_KEY: "/nonexistent/key.pem" });
    assert.equal(result.code, 2);
  });

  test("token mints a JWT that a node with the same secret accepts, within its scopes and prefixes", async () => {
    const minted = await runCommand([binaryPath(), "token", "--sub", "svc-a", "--scope", "cache:read cache:write", "--ttl", "10m", "--prefix", "tenant-a/"], {
      EDGECACHE_JWT_SECRET: SECRET,
    });
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    const node = await startNodeProcess({ EDGECACHE_JWT_SECRET: SECRET });
    try {
      const auth = { authorization: `Bearer ${token}` };
      assert.equal((await fetch(`${node.url}/v1/kv/tenant-a/x`, { method: "PUT", headers: auth, body: "1" })).status, 201);
      const denied = await fetch(`${node.url}/v1/kv/tenant-b/x`, { method: "PUT", headers: auth, body: "1" });
      assert.equal(denied.status, 403);
      assert.equal((await denied.json()).error.code, "prefix_denied");
      const admin = await fetch(`${node.url}/v1/admin/stats`, { headers: auth });
      assert.equal(admin.status, 403);
      await admin.body?.cancel();
    } finally {
      assert.equal((await node.stop()).code, 0);
    }
  });

  test("token exits 2 on a bad flag or without a secret", async () => {
    assert.equal((await runCommand([binaryPath(), "token", "--sub", "a", "--scope", "cache:everything"], { EDGECACHE_JWT_SECRET: SECRET })).code, 2);
    assert.equal((await runCommand([binaryPath(), "token", "--sub", "a", "--scope", "cache:read", "--bogus", "1"], { EDGECACHE_JWT_SECRET: SECRET })).code, 2);
    assert.equal((await runCommand([binaryPath(), "token", "--sub", "a", "--scope", "cache:read"])).code, 2);
  });

  test("bench --duration 2s --json reports sane figures from an in-process node", async () => {
    const result = await runCommand([binaryPath(), "bench", "--duration", "2s", "--warmup", "200ms", "--keys", "500", "--connections", "8", "--json"], {}, 60_000);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "stdout is a single JSON line");
    const figures = JSON.parse(lines[0]);
    assert.ok(figures.operations > 0);
    assert.ok(figures.ops_per_sec > 0);
    assert.ok(figures.p50_ms > 0 && figures.p50_ms <= figures.p99_ms && figures.p99_ms <= figures.max_ms);
    assert.equal(figures.errors, 0);
    assert.ok(figures.hit_ratio > 0.99, `every key was filled, so reads hit: ${figures.hit_ratio}`);
    assert.ok(figures.reads > figures.writes);
  });

  test("bench rejects bad flags with exit 2", async () => {
    assert.equal((await runCommand([binaryPath(), "bench", "--read-ratio", "2"])).code, 2);
    assert.equal((await runCommand([binaryPath(), "bench", "--duration", "soon"])).code, 2);
  });
});
