import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFixture, expectError, expectUnchanged, TEST_SECRET } from "../helpers/app_fixture.ts";

describe("unauthenticated endpoints", () => {
  test("/healthz answers 200 {\"status\":\"ok\"} without a token", async () => {
    const fx = await createFixture();
    const res = await fx.request("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });

  test("/readyz answers 200 JSON with each check when ready, without a token", async () => {
    const fx = await createFixture();
    const res = await fx.request("/readyz");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(typeof body.checks, "object");
    for (const check of ["store", "peers", "persistence", "origin_breaker"]) {
      assert.ok(body.checks[check], `readyz reports ${check}`);
      assert.equal(typeof body.checks[check].status, "string");
    }
  });

  test("/readyz answers 503 with the failing check when not ready", async () => {
    const fx = await createFixture({
      readiness: () => ({ ready: false, checks: { store: { status: "ok" }, shutdown: { status: "down", detail: "draining" } } }),
    });
    const res = await fx.request("/readyz");
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.checks.shutdown.status, "down");
  });

  test("/metrics answers Prometheus text without a token", async () => {
    const fx = await createFixture();
    const res = await fx.request("/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(await res.text(), /# TYPE edgecache_http_requests_total counter/);
  });
});

describe("admin endpoints", () => {
  test("/v1/admin/stats has top-level entries, bytes, max_bytes, hits, misses, hit_ratio, evictions and peers", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_BYTES: "2MiB" } });
    let stats = await (await fx.request("/v1/admin/stats", { token: fx.adminToken })).json();
    assert.equal(stats.entries, 0);
    assert.equal(stats.bytes, 0);
    assert.equal(stats.max_bytes, 2 * 1024 * 1024);
    assert.equal(stats.hit_ratio, 0);

    await fx.put("s1", "value-1");
    await fx.put("s2", "value-2");
    await fx.request("/v1/kv/s1", { token: fx.adminToken });
    await fx.request("/v1/kv/s1", { token: fx.adminToken });
    await fx.request("/v1/kv/s2", { token: fx.adminToken });
    await fx.request("/v1/kv/missing", { token: fx.adminToken });

    stats = await (await fx.request("/v1/admin/stats", { token: fx.adminToken })).json();
    assert.equal(stats.entries, 2);
    assert.ok(stats.bytes > 2 * ("s1".length + "value-1".length), "bytes count keys, values and overhead");
    assert.ok(stats.bytes <= stats.max_bytes);
    assert.equal(stats.hits, 3);
    assert.equal(stats.misses, 1);
    assert.equal(stats.hit_ratio, 0.75);
    assert.equal(stats.evictions, 0);
    assert.ok(Array.isArray(stats.peers) || typeof stats.peers === "object", "peers is reported");
  });

  test("evictions are counted in /v1/admin/stats when the memory cap is reached", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_BYTES: "1MiB", EDGECACHE_MAX_VALUE_BYTES: "300KiB" } });
    for (let i = 0; i < 5; i++) {
      await fx.request(`/v1/kv/big-${i}`, { method: "PUT", token: fx.adminToken, body: new Uint8Array(300 * 1024) });
    }
    const stats = await (await fx.request("/v1/admin/stats", { token: fx.adminToken })).json();
    assert.ok(stats.evictions >= 2, `evictions: ${stats.evictions}`);
    assert.ok(stats.bytes <= 1024 * 1024);
    assert.equal(stats.entries, 5 - stats.evictions);
  });

  test("/v1/admin/cluster lists members with their state and ownership", async () => {
    const fx = await createFixture({ env: { EDGECACHE_NODE_ID: "node-a" } });
    const res = await fx.request("/v1/admin/cluster", { token: fx.adminToken });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.ok(Array.isArray(body.members));
    assert.equal(body.members.length, 1);
    assert.equal(body.members[0].id, "node-a");
    assert.equal(typeof body.members[0].state, "string");
    assert.equal(body.members[0].ownership, 1);
  });

  test("/v1/admin/config returns the effective config with the secret redacted", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_VALUE_BYTES: "12345" } });
    const res = await fx.request("/v1/admin/config", { token: fx.adminToken });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes(TEST_SECRET), "the secret must not appear in the body");
    assert.ok(!text.includes(TEST_SECRET.slice(0, 16)), "no part of the secret may appear in the body");
    const body = JSON.parse(text);
    assert.equal(body.auth.jwtSecret, "[redacted]");
    assert.equal(body.limits.maxValueBytes, 12345);
    assert.equal(body.mode, "local");
  });

  test("/v1/admin/flush answers {\"flushed\": N} and empties the store", async () => {
    const fx = await createFixture();
    for (const key of ["f1", "f2", "f3"]) await fx.put(key, "v", { query: "?tags=t" });
    const res = await fx.request("/v1/admin/flush", { method: "POST", token: fx.adminToken });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { flushed: 3 });
    assert.equal((await fx.request("/v1/kv/f1", { token: fx.adminToken })).status, 404);
    const stats = await (await fx.request("/v1/admin/stats", { token: fx.adminToken })).json();
    assert.equal(stats.entries, 0);
    assert.equal(stats.bytes, 0);
    // The tag index was flushed too: nothing left to invalidate.
    const inv = await fx.request("/v1/invalidate", { method: "POST", token: fx.adminToken, body: '{"tags":["t"]}' });
    assert.deepEqual(await inv.json(), { invalidated: 0 });
    assert.deepEqual(await (await fx.request("/v1/admin/flush", { method: "POST", token: fx.adminToken })).json(), { flushed: 0 });
  });
});

describe("routing errors", () => {
  const wrongMethods: Array<[string, string, string]> = [
    ["PATCH", "/v1/kv/x", "GET, HEAD, PUT, DELETE"],
    ["POST", "/v1/kv/x", "GET, HEAD, PUT, DELETE"],
    ["GET", "/v1/invalidate", "POST"],
    ["PUT", "/v1/invalidate", "POST"],
    ["GET", "/v1/admin/flush", "POST"],
    ["DELETE", "/v1/admin/stats", "GET, HEAD"],
    ["POST", "/v1/admin/config", "GET, HEAD"],
    ["POST", "/healthz", "GET, HEAD"],
    ["DELETE", "/metrics", "GET, HEAD"],
  ];
  for (const [method, path, allow] of wrongMethods) {
    test(`${method} ${path} is 405 method_not_allowed with Allow: ${allow}`, async () => {
      const fx = await createFixture();
      await expectUnchanged(fx, async () => {
        const res = await fx.request(path, { method, token: fx.adminToken, body: method === "GET" ? undefined : "{}" });
        assert.equal(res.headers.get("allow"), allow);
        await expectError(res, 405, "method_not_allowed");
      });
    });
  }

  test("every Allow header lists only methods the path really serves", async () => {
    const fx = await createFixture();
    const res = await fx.request("/v1/kv/x", { method: "PATCH", token: fx.adminToken });
    for (const method of (res.headers.get("allow") ?? "").split(",").map((m) => m.trim())) {
      const probe = await fx.request("/v1/kv/x", { method, token: fx.adminToken, body: method === "PUT" ? "v" : undefined });
      assert.notEqual(probe.status, 405, method);
    }
  });

  for (const path of ["/", "/v2/kv/x", "/v1/unknown", "/v1/admin/nope", "/V1/kv/x", "/v1/kvx"]) {
    test(`unknown path ${path} is 404 not_found JSON`, async () => {
      const fx = await createFixture();
      await expectError(await fx.request(path, { token: fx.adminToken }), 404, "not_found");
    });
  }
});

describe("X-Request-Id", () => {
  test("every response carries one, successes and errors alike, and each generated id is new", async () => {
    const fx = await createFixture();
    const responses = [
      await fx.request("/healthz"),
      await fx.request("/readyz"),
      await fx.request("/metrics"),
      await fx.request("/v1/kv/a"),
      await fx.request("/v1/kv/a", { token: fx.adminToken }),
      await fx.request("/v1/kv/a", { method: "PUT", token: fx.adminToken, body: "v" }),
      await fx.request("/v1/kv/a", { method: "HEAD", token: fx.adminToken }),
      await fx.request("/v1/kv/a", { method: "PATCH", token: fx.adminToken }),
      await fx.request("/nowhere"),
      await fx.request("/v1/kv/bad%zz", { token: fx.adminToken }),
      await fx.request("/v1/admin/stats", { token: fx.adminToken }),
    ];
    const ids = responses.map((res) => res.headers.get("x-request-id"));
    for (const [i, id] of ids.entries()) assert.ok(id !== null && id.length > 0, `response ${i} has an id`);
    assert.equal(new Set(ids).size, ids.length, "generated ids are unique");
  });

  test("a safe client id is echoed", async () => {
    const fx = await createFixture();
    for (const id of ["abc-123", "trace:9f86d081.span_2", "x".repeat(128)]) {
      const res = await fx.request("/v1/kv/nope", { token: fx.adminToken, headers: { "x-request-id": id } });
      assert.equal(res.headers.get("x-request-id"), id);
      const err = await fx.request("/v1/kv/nope", { headers: { "x-request-id": id } });
      assert.equal(err.headers.get("x-request-id"), id);
    }
  });

  test("an unsafe client id (spaces, quotes, 500 characters) is replaced", async () => {
    const fx = await createFixture();
    for (const id of ["has spaces", 'quote"d', "a".repeat(500), "semi;colon", "{\"json\":1}"]) {
      const res = await fx.request("/healthz", { headers: { "x-request-id": id } });
      const echoed = res.headers.get("x-request-id");
      assert.ok(echoed !== null && echoed.length > 0);
      assert.notEqual(echoed, id);
      assert.match(echoed, /^[A-Za-z0-9._:-]{1,128}$/);
    }
  });

  test("the request id appears in that request's log lines", async () => {
    const fx = await createFixture();
    await fx.request("/v1/kv/a", { headers: { "x-request-id": "trace-me-42" } });
    const lines = fx.logs().filter((line) => line.requestId === "trace-me-42");
    assert.ok(lines.length >= 1, "the denial's audit line carries the id");
  });
});

describe("metrics", () => {
  test("a scripted workload moves hits, misses, request counts and the entries/bytes gauges, and no key names appear", async () => {
    const fx = await createFixture();
    const keys = ["customer-secret-alpha", "customer-secret-beta", "tenant/zeta-private"];
    for (const key of keys) await fx.put(key, "value");
    for (let i = 0; i < 3; i++) await fx.request(`/v1/kv/${keys[0]}`, { token: fx.adminToken });
    await fx.request(`/v1/kv/${keys[1]}`, { token: fx.adminToken });
    await fx.request("/v1/kv/customer-secret-missing", { token: fx.adminToken });
    await fx.request("/v1/kv/customer-secret-missing", { token: fx.adminToken });
    await fx.request(`/v1/kv/${keys[2]}`); // 401: counted as an auth failure

    const text = await (await fx.request("/metrics")).text();
    const value = (pattern: RegExp): number => {
      const match = pattern.exec(text);
      assert.ok(match, `metrics has ${pattern}`);
      return Number(match[1]);
    };
    assert.equal(value(/^edgecache_cache_hits_total (\d+)$/m), 4);
    assert.equal(value(/^edgecache_cache_misses_total (\d+)$/m), 2);
    assert.equal(value(/^edgecache_cache_entries (\d+)$/m), 3);
    assert.ok(value(/^edgecache_cache_bytes (\d+)$/m) > 0);
    assert.equal(value(/^edgecache_http_requests_total\{route="kv",method="PUT",status="201"\} (\d+)$/m), 3);
    assert.equal(value(/^edgecache_http_requests_total\{route="kv",method="GET",status="200"\} (\d+)$/m), 4);
    assert.equal(value(/^edgecache_http_requests_total\{route="kv",method="GET",status="404"\} (\d+)$/m), 2);
    assert.equal(value(/^edgecache_http_requests_total\{route="kv",method="GET",status="401"\} (\d+)$/m), 1);
    assert.equal(value(/^edgecache_auth_failures_total\{code="token_missing"\} (\d+)$/m), 1);
    for (const fragment of ["customer-secret", "zeta-private", "tenant/"]) {
      assert.ok(!text.includes(fragment), `metrics must not contain key names (${fragment})`);
    }
  });

  test("gauges follow deletes and flushes", async () => {
    const fx = await createFixture();
    await fx.put("g1", "v");
    await fx.put("g2", "v");
    await fx.request("/v1/kv/g1", { method: "DELETE", token: fx.adminToken });
    let text = await (await fx.request("/metrics")).text();
    assert.match(text, /^edgecache_cache_entries 1$/m);
    await fx.request("/v1/admin/flush", { method: "POST", token: fx.adminToken });
    text = await (await fx.request("/metrics")).text();
    assert.match(text, /^edgecache_cache_entries 0$/m);
    assert.match(text, /^edgecache_cache_bytes 0$/m);
  });
});
