import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import type { Readiness } from "../../src/api/context.ts";
import { type OriginSetup, setupOrigin } from "../../src/origin/origin_setup.ts";
import { createFixture, expectError, type Fixture, keyPath, waitFor } from "../helpers/app_fixture.ts";
import { type OriginServer, startOriginServer } from "../helpers/origin_server.ts";

/** A value (or 0) of one sample in Prometheus text, matched by name and exact label set. */
function metric(text: string, name: string, labels = ""): number {
  const prefix = labels === "" ? `${name} ` : `${name}{${labels}} `;
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(prefix.length));
}

describe("GET /v1/kv/{key} with a read-through origin", () => {
  let origin: OriginServer;
  /** Responses left hanging by a handler; destroyed before the next test and at the end. */
  const hanging: ServerResponse[] = [];
  /** The x-request-id of each origin request, in arrival order. */
  let requestIds: Array<string | undefined> = [];

  const releaseHanging = () => {
    for (const res of hanging.splice(0)) {
      try {
        res.destroy();
      } catch {
        // Already closed.
      }
    }
  };

  /** Installs the origin's behaviour for one test and forgets earlier hits. */
  const serve = (handler: (res: ServerResponse, path: string) => void) => {
    releaseHanging();
    origin.hits.clear();
    requestIds = [];
    origin.handle((req, res) => {
      requestIds.push(req.headers["x-request-id"] as string | undefined);
      handler(res, req.url ?? "");
    });
  };

  before(async () => {
    origin = await startOriginServer((_req, res) => res.writeHead(500).end());
  });
  after(async () => {
    releaseHanging();
    await origin.close();
  });

  /**
   * An in-process app whose read-through is wired by `setupOrigin` against the test origin, on
   * the fixture's fake clock. Readiness reports the breaker as `src/node.ts` does.
   */
  async function app(env: Record<string, string> = {}): Promise<Fixture & { setup: () => OriginSetup }> {
    let setup: OriginSetup | undefined;
    const readiness = (): Readiness => {
      const state = setup?.breakerState() ?? "closed";
      return { ready: true, checks: { origin_breaker: state === "closed" ? { status: "ok", detail: "closed" } : { status: "degraded", detail: state } } };
    };
    const fx = await createFixture({
      env: { EDGECACHE_ORIGIN_URL: origin.url, EDGECACHE_ORIGIN_TIMEOUT: "2s", ...env },
      readiness,
      readThrough(parts) {
        setup = setupOrigin(parts.config, parts.config.origin.url as string, { ...parts, random: () => 0.5, fetch: globalThis.fetch });
        return setup.readThrough;
      },
    });
    return Object.assign(fx, { setup: () => setup as OriginSetup });
  }

  const get = (fx: Fixture, key: string, headers: Record<string, string> = {}) => fx.request(keyPath(key), { token: fx.adminToken, headers });

  test("a miss is fetched from the origin and stored; the next GET is a hit without an origin request", async () => {
    serve((res) => res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "max-age=60" }).end("from the origin"));
    const fx = await app();
    const first = await get(fx, "docs/readme", { "x-request-id": "trace-me-123" });
    assert.equal(first.status, 200);
    assert.equal(await first.text(), "from the origin");
    assert.equal(first.headers.get("cache-status"), "edgecache; fwd=miss; fwd-status=200; stored");
    assert.equal(first.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(first.headers.get("age"), "0");
    assert.match(first.headers.get("etag") ?? "", /^"[^"]+"$/);
    assert.deepEqual([...origin.hits.entries()], [["/docs/readme", 1]]);
    assert.deepEqual(requestIds, ["trace-me-123"], "the client's request id is forwarded to the origin");

    fx.advance(10_000);
    const second = await get(fx, "docs/readme");
    assert.equal(second.status, 200);
    assert.equal(await second.text(), "from the origin");
    assert.equal(second.headers.get("cache-status"), "edgecache; hit; ttl=50");
    assert.equal(second.headers.get("age"), "10");
    assert.equal(second.headers.get("etag"), first.headers.get("etag"));
    assert.equal(origin.hits.get("/docs/readme"), 1);
  });

  test("a client-written value is served without asking the origin", async () => {
    serve((res) => res.writeHead(200).end("origin copy"));
    const fx = await app();
    await fx.put("mine", "client copy");
    const res = await get(fx, "mine");
    assert.equal(await res.text(), "client copy");
    assert.equal(res.headers.get("cache-status"), "edgecache; hit");
    assert.equal(origin.hits.size, 0);
  });

  test("1,000 concurrent GETs for one missing key cause exactly one origin request and all get identical bytes", async () => {
    const body = new Uint8Array(4096).map((_, i) => (i * 31) % 256);
    let app1: Fixture | undefined;
    serve((res) => {
      // A slow origin: it answers once all 1,000 requests are inside the app (polled, ~100 ms
      // here), so they overlap with the one fetch. Past the poll's deadline it answers anyway
      // and the assertions below say what went wrong.
      const answer = () => res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "max-age=300" }).end(body);
      waitFor(() => app1?.handle.inflight() === 1000, "all 1,000 requests to be in flight").then(answer, answer);
    });
    const fx = app1 = await app();
    const before = await (await fx.request("/metrics")).text();
    const responses = await Promise.all(Array.from({ length: 1000 }, () => get(fx, "herd/key")));
    assert.equal(origin.hits.get("/herd/key"), 1, "exactly one origin request");
    assert.equal(origin.hits.size, 1);
    const statuses = new Map<string, number>();
    for (const res of responses) {
      assert.equal(res.status, 200);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), body);
      const status = res.headers.get("cache-status") ?? "";
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    assert.equal(statuses.get("edgecache; fwd=miss; fwd-status=200; stored"), 1, "one request fetched");
    const collapsed = statuses.get("edgecache; fwd=miss; fwd-status=200; stored; collapsed") ?? 0;
    const hits = statuses.get("edgecache; hit; ttl=300") ?? 0;
    assert.equal(1 + collapsed + hits, 1000, `unexpected Cache-Status values: ${JSON.stringify([...statuses])}`);
    assert.ok(collapsed > 0, "with a slow origin most requests wait on the one fetch");

    const after = await (await fx.request("/metrics")).text();
    assert.equal(metric(before, "edgecache_origin_requests_total", 'outcome="ok"'), 0);
    assert.equal(metric(after, "edgecache_origin_requests_total", 'outcome="ok"'), 1);
    assert.equal(metric(after, "edgecache_origin_coalesced_total") - metric(before, "edgecache_origin_coalesced_total"), collapsed);
    assert.equal(metric(after, "edgecache_origin_request_duration_seconds_count"), 1);
  });

  test("an origin 404 is a 404; without EDGECACHE_NEGATIVE_TTL every GET asks the origin again", async () => {
    serve((res) => res.writeHead(404).end("no such thing"));
    const fx = await app();
    for (let i = 1; i <= 2; i++) {
      const res = await get(fx, "ghost");
      assert.equal(res.headers.get("cache-status"), "edgecache; fwd=miss; fwd-status=404");
      await expectError(res, 404, "not_found");
      assert.equal(origin.hits.get("/ghost"), i);
    }
    const metrics = await (await fx.request("/metrics")).text();
    assert.equal(metric(metrics, "edgecache_origin_requests_total", 'outcome="not_found"'), 2);
  });

  test("with EDGECACHE_NEGATIVE_TTL an origin 404 is remembered for that long", async () => {
    serve((res) => res.writeHead(404).end());
    const fx = await app({ EDGECACHE_NEGATIVE_TTL: "30s" });
    const first = await get(fx, "ghost");
    assert.equal(first.headers.get("cache-status"), "edgecache; fwd=miss; fwd-status=404; stored");
    await expectError(first, 404, "not_found");
    fx.advance(29_000);
    const second = await get(fx, "ghost");
    assert.equal(second.headers.get("cache-status"), "edgecache; hit; detail=negative");
    await expectError(second, 404, "not_found");
    assert.equal(origin.hits.get("/ghost"), 1, "no second origin request");
    fx.advance(1_000);
    await expectError(await get(fx, "ghost"), 404, "not_found");
    assert.equal(origin.hits.get("/ghost"), 2, "asked again once the negative TTL is over");
  });

  test("an origin 500 is a 502 origin_error", async () => {
    serve((res) => res.writeHead(500).end("oops"));
    const fx = await app();
    const res = await get(fx, "broken");
    assert.equal(res.headers.get("cache-status"), "edgecache; fwd=miss; detail=origin_error");
    await expectError(res, 502, "origin_error");
    assert.equal(origin.hits.get("/broken"), 1, "a 500 is not retried");
    assert.equal(fx.store.peek("broken"), undefined);
  });

  test("an origin that never answers is a 504 origin_timeout", async () => {
    serve((res) => void hanging.push(res));
    const fx = await app({ EDGECACHE_ORIGIN_TIMEOUT: "200ms" });
    const started = Date.now();
    const res = await get(fx, "slow");
    await expectError(res, 504, "origin_timeout");
    assert.ok(Date.now() - started < 2000);
    assert.equal(res.headers.get("cache-status"), "edgecache; fwd=miss; detail=origin_timeout");
    releaseHanging();
  });

  test("an origin body over EDGECACHE_MAX_VALUE_BYTES is a 502 origin_too_large and is not stored", async () => {
    serve((res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "max-age=60" });
      for (let i = 0; i < 8; i++) res.write(new Uint8Array(512));
      res.end();
    });
    const fx = await app({ EDGECACHE_MAX_VALUE_BYTES: "2KiB" });
    await expectError(await get(fx, "huge"), 502, "origin_too_large");
    assert.equal(fx.store.peek("huge"), undefined);
    assert.equal(fx.store.stats().entries, 0);
    await expectError(await get(fx, "huge"), 502, "origin_too_large");
    assert.equal(origin.hits.get("/huge"), 2, "nothing was stored, so it is asked again");
  });

  test("an origin answer with no-store is served but not kept", async () => {
    serve((res) => res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end("ephemeral"));
    const fx = await app();
    for (let i = 1; i <= 2; i++) {
      const res = await get(fx, "volatile");
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ephemeral");
      assert.equal(res.headers.get("cache-status"), "edgecache; fwd=miss; fwd-status=200");
      assert.equal(res.headers.get("etag"), null, "an unstored value has no version");
      assert.equal(origin.hits.get("/volatile"), i);
    }
  });

  test("a token whose prefixes exclude the key gets 403 and the origin sees no request", async () => {
    serve((res) => res.writeHead(200).end("secret"));
    const fx = await app();
    const token = await fx.token({ scopes: ["cache:read"], prefixes: ["public/"] });
    await expectError(await fx.request(keyPath("private/thing"), { token }), 403, "prefix_denied");
    assert.equal(origin.hits.size, 0);
    const allowed = await fx.request(keyPath("public/thing"), { token });
    assert.equal(allowed.status, 200);
    assert.deepEqual([...origin.hits.keys()], ["/public/thing"]);
  });

  test("a key with a '..' segment cannot make the origin request escape the key's path", async () => {
    serve((res) => res.writeHead(200).end("admin page"));
    const fx = await app();
    const token = await fx.token({ scopes: ["cache:read"], prefixes: ["public/"] });
    // %2F keeps the slashes inside the key, so the key is "public/../../admin".
    const res = await fx.request("/v1/kv/public%2F..%2F..%2Fadmin", { token });
    await expectError(res, 400, "invalid_key");
    assert.equal(origin.hits.size, 0);
  });

  test("/readyz shows checks.origin_breaker, degraded while the breaker is open", async () => {
    serve((res) => res.writeHead(500).end());
    const fx = await app({ EDGECACHE_ORIGIN_BREAKER_THRESHOLD: "2", EDGECACHE_ORIGIN_BREAKER_COOLDOWN: "10s", EDGECACHE_ORIGIN_RETRIES: "0" });
    const readyz = async () => ((await (await fx.request("/readyz")).json()) as { checks: Record<string, { status: string; detail?: string }> }).checks.origin_breaker;
    assert.deepEqual(await readyz(), { status: "ok", detail: "closed" });
    await expectError(await get(fx, "a"), 502, "origin_error");
    assert.deepEqual(await readyz(), { status: "ok", detail: "closed" });
    await expectError(await get(fx, "b"), 502, "origin_error");
    assert.deepEqual(await readyz(), { status: "degraded", detail: "open" });

    // Open: misses fail fast without reaching the origin; stored keys are still served.
    await fx.put("kept", "still here");
    const fast = await get(fx, "c");
    assert.equal(fast.headers.get("cache-status"), "edgecache; fwd=miss; detail=origin_circuit_open");
    await expectError(fast, 503, "origin_circuit_open");
    assert.equal(origin.hits.size, 2);
    assert.equal(await (await get(fx, "kept")).text(), "still here");

    const metrics = await (await fx.request("/metrics")).text();
    assert.equal(metric(metrics, "edgecache_origin_breaker_state"), 2);
    assert.equal(metric(metrics, "edgecache_origin_breaker_transitions_total", 'to="open"'), 1);
    assert.equal(metric(metrics, "edgecache_origin_requests_total", 'outcome="circuit_open"'), 1);
    assert.ok(fx.logs().some((line) => line.msg === "origin circuit breaker changed state" && line.to === "open"));

    fx.advance(10_000);
    assert.deepEqual(await readyz(), { status: "degraded", detail: "half_open" });
    serve((res) => res.writeHead(200, { "cache-control": "max-age=60" }).end("recovered"));
    const probe = await get(fx, "c");
    assert.equal(probe.status, 200);
    assert.equal(await probe.text(), "recovered");
    assert.deepEqual(await readyz(), { status: "ok", detail: "closed" });
  });

  test("within EDGECACHE_STALE_WHILE_REVALIDATE a stale value is served at once and refreshed in the background", async () => {
    let version = 1;
    serve((res) => res.writeHead(200, { "content-type": "text/plain", "cache-control": "max-age=10" }).end(`v${version}`));
    const fx = await app({ EDGECACHE_STALE_WHILE_REVALIDATE: "30s" });
    assert.equal(await (await get(fx, "swr")).text(), "v1");
    version = 2;
    fx.advance(15_000);
    const stale = await get(fx, "swr");
    assert.equal(stale.status, 200);
    assert.equal(await stale.text(), "v1");
    assert.equal(stale.headers.get("cache-status"), "edgecache; fwd=stale; ttl=-5; detail=stale-while-revalidate");
    assert.equal(stale.headers.get("age"), "15");
    await waitFor(() => fx.store.peek("swr") !== undefined, "the background refresh to store v2");
    assert.equal(origin.hits.get("/swr"), 2);
    const fresh = await get(fx, "swr");
    assert.equal(await fresh.text(), "v2");
    assert.equal(fresh.headers.get("cache-status"), "edgecache; hit; ttl=10");
    const metrics = await (await fx.request("/metrics")).text();
    assert.equal(metric(metrics, "edgecache_stale_served_total", 'reason="stale-while-revalidate"'), 1);
  });

  test("within EDGECACHE_STALE_IF_ERROR a failing origin gets the stale value served", async () => {
    serve((res) => res.writeHead(200, { "content-type": "text/plain", "cache-control": "max-age=10" }).end("last good"));
    const fx = await app({ EDGECACHE_STALE_IF_ERROR: "60s", EDGECACHE_ORIGIN_RETRIES: "0" });
    assert.equal(await (await get(fx, "sie")).text(), "last good");
    serve((res) => res.writeHead(503).end());
    fx.advance(40_000);
    const res = await get(fx, "sie");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "last good");
    assert.equal(res.headers.get("cache-status"), "edgecache; fwd=stale; ttl=-30; detail=stale-if-error");
    assert.equal(origin.hits.get("/sie"), 1);
    fx.advance(31_000);
    await expectError(await get(fx, "sie"), 502, "origin_error");
  });
});
