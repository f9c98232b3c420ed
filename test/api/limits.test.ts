import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFixture, expectError, expectUnchanged, keyPath, waitFor } from "../helpers/app_fixture.ts";

const CHUNK = 1024;

/** A pull-driven body that could produce `total` bytes, counting how many it was asked for. */
function countingStream(total: number): { stream: ReadableStream<Uint8Array>; pulled(): number; cancelled(): boolean } {
  let pulled = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= total) {
        controller.close();
        return;
      }
      pulled += CHUNK;
      controller.enqueue(new Uint8Array(CHUNK).fill(0x61));
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulled, cancelled: () => cancelled };
}

/** A body that sends `first` and then nothing until `release()` is called. */
function stallingStream(first: Uint8Array): { stream: ReadableStream<Uint8Array>; release(): void; cancelled(): boolean } {
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
      if (first.byteLength > 0) controller.enqueue(first);
    },
    cancel() {
      cancelled = true;
    },
  });
  return {
    stream,
    release() {
      try {
        controllerRef?.close();
      } catch {
        // Already cancelled by the server.
      }
    },
    cancelled: () => cancelled,
  };
}

describe("value size limit (EDGECACHE_MAX_VALUE_BYTES)", () => {
  test("a value of exactly the limit is stored", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_VALUE_BYTES: "4KiB" } });
    const res = await fx.request("/v1/kv/exact", { method: "PUT", token: fx.adminToken, body: new Uint8Array(4096) });
    assert.equal(res.status, 201);
  });

  test("a declared Content-Length over the limit is 413 value_too_large and changes nothing", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_VALUE_BYTES: "4KiB" } });
    await expectUnchanged(fx, async () => {
      const body = new Uint8Array(4097);
      const res = await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token: fx.adminToken, body, headers: { "content-length": "4097" } });
      await expectError(res, 413, "value_too_large");
      const fresh = await fx.request("/v1/kv/new-big", { method: "PUT", token: fx.adminToken, body, headers: { "content-length": "4097" } });
      await expectError(fresh, 413, "value_too_large");
    });
    assert.equal((await fx.request("/v1/kv/new-big", { token: fx.adminToken })).status, 404);
  });

  test("a declared Content-Length over the limit is refused before the body is read", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_VALUE_BYTES: "4KiB" } });
    const body = countingStream(1024 * 1024);
    const res = await fx.request("/v1/kv/declared", {
      method: "PUT",
      token: fx.adminToken,
      body: body.stream,
      duplex: "half",
      headers: { "content-length": String(1024 * 1024) },
    });
    await expectError(res, 413, "value_too_large");
    assert.ok(body.pulled() <= CHUNK, `pulled ${body.pulled()} bytes of a body already known to be too large`);
  });

  test("a streamed body without Content-Length is cut off soon after the limit and a bounded drain, not buffered whole", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_VALUE_BYTES: "8KiB" } });
    await fx.put(fx.sentinelKey, "sentinel value");
    await expectUnchanged(fx, async () => {
      const body = countingStream(64 * 1024 * 1024);
      const res = await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token: fx.adminToken, body: body.stream, duplex: "half" });
      await expectError(res, 413, "value_too_large");
      // Past the limit the node reads and discards at most 1 MiB more (a lingering close, so the
      // 413 is not lost to a reset), a chunk or two may be in flight; 64 MiB were on offer.
      assert.ok(body.pulled() <= 8 * 1024 + 1024 * 1024 + 4 * CHUNK, `pulled ${body.pulled()} bytes for an 8 KiB limit`);
      await waitFor(body.cancelled, "the server to cancel the body stream");
    });
  });

  test("a streamed body under the limit is stored whole", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_VALUE_BYTES: "8KiB" } });
    const body = countingStream(6 * 1024);
    const res = await fx.request("/v1/kv/streamed", { method: "PUT", token: fx.adminToken, body: body.stream, duplex: "half" });
    assert.equal(res.status, 201);
    const got = await fx.request("/v1/kv/streamed", { token: fx.adminToken });
    assert.equal((await got.arrayBuffer()).byteLength, 6 * 1024);
  });

  test("a value within EDGECACHE_MAX_VALUE_BYTES but larger than EDGECACHE_MAX_BYTES is refused with 413", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_BYTES: "1MiB", EDGECACHE_MAX_VALUE_BYTES: "1MiB" } });
    await expectUnchanged(fx, async () => {
      // A 1 MiB value plus key and per-entry overhead cannot fit a 1 MiB cap.
      const res = await fx.request("/v1/kv/huge", { method: "PUT", token: fx.adminToken, body: new Uint8Array(1024 * 1024) });
      await expectError(res, 413, "value_too_large");
    });
  });
});

describe("body timeout (EDGECACHE_BODY_TIMEOUT)", () => {
  test("a body that stalls past the timeout is 408 body_timeout and changes nothing", async () => {
    const fx = await createFixture({ env: { EDGECACHE_BODY_TIMEOUT: "200ms" } });
    await expectUnchanged(fx, async () => {
      const body = stallingStream(new TextEncoder().encode("partial"));
      const started = Date.now();
      const res = await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token: fx.adminToken, body: body.stream, duplex: "half" });
      const elapsed = Date.now() - started;
      await expectError(res, 408, "body_timeout");
      assert.ok(elapsed >= 150, `answered after ${elapsed}ms, before the 200ms timeout`);
      assert.ok(elapsed < 3000, `answered after ${elapsed}ms, long after the 200ms timeout`);
      await waitFor(body.cancelled, "the server to cancel the stalled body");
      body.release();
    });
  });

  test("a stalled invalidation body is also cut off with 408", async () => {
    const fx = await createFixture({ env: { EDGECACHE_BODY_TIMEOUT: "200ms" } });
    await expectUnchanged(fx, async () => {
      const body = stallingStream(new TextEncoder().encode('{"prefix":'));
      const res = await fx.request("/v1/invalidate", { method: "POST", token: fx.adminToken, body: body.stream, duplex: "half" });
      await expectError(res, 408, "body_timeout");
      body.release();
    });
  });
});

describe("overload (deps.maxInflight)", () => {
  test("with maxInflight 1 and one request stalled, the next request gets 503 overloaded; afterwards requests are served", async () => {
    const fx = await createFixture({ maxInflight: 1, env: { EDGECACHE_BODY_TIMEOUT: "10s" } });
    const body = stallingStream(new Uint8Array(0));
    const stalled = fx.request("/v1/kv/slow", { method: "PUT", token: fx.adminToken, body: body.stream, duplex: "half", headers: { "content-type": "text/plain" } });
    await waitFor(() => fx.handle.inflight() === 1, "the stalled request to be in flight");

    const second = await fx.request("/v1/kv/slow", { token: fx.adminToken });
    await expectError(second, 503, "overloaded");

    body.release();
    const first = await stalled;
    assert.equal(first.status, 201);
    assert.equal(fx.handle.inflight(), 0);
    const after = await fx.request("/v1/kv/slow", { token: fx.adminToken });
    assert.equal(after.status, 200);
  });

  test("an overloaded answer still carries X-Request-Id and is counted in metrics", async () => {
    const fx = await createFixture({ maxInflight: 1 });
    const body = stallingStream(new Uint8Array(0));
    const stalled = fx.request("/v1/kv/slow", { method: "PUT", token: fx.adminToken, body: body.stream, duplex: "half" });
    await waitFor(() => fx.handle.inflight() === 1, "the stalled request to be in flight");
    const refused = await fx.request("/v1/kv/other", { token: fx.adminToken, headers: { "x-request-id": "overload-1" } });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("x-request-id"), "overload-1");
    body.release();
    await stalled;
    const metrics = await (await fx.request("/metrics")).text();
    assert.match(metrics, /edgecache_http_requests_total\{route="kv",method="GET",status="503"\} 1/);
  });
});

describe("draining for shutdown", () => {
  test("after startDraining new requests get 503 not_ready with Connection: close while the in-flight one finishes", async () => {
    const fx = await createFixture();
    const body = stallingStream(new Uint8Array(0));
    const stalled = fx.request("/v1/kv/late", { method: "PUT", token: fx.adminToken, body: body.stream, duplex: "half" });
    await waitFor(() => fx.handle.inflight() === 1, "the stalled request to be in flight");
    const scrape = await (await fx.request("/metrics")).text();
    // The stalled PUT and the scrape itself.
    assert.match(scrape, /^edgecache_http_requests_in_flight 2$/m);

    fx.handle.startDraining();
    const refused = await fx.request("/v1/kv/late", { token: fx.adminToken });
    assert.equal(refused.headers.get("connection"), "close");
    await expectError(refused, 503, "not_ready");
    body.release();
    assert.equal((await stalled).status, 201);
    assert.ok(fx.store.peek("late") !== undefined, "the in-flight write completed");
  });
});

describe("broken bodies", () => {
  test("a body stream that errors (client gone) is 400 bad_request and changes nothing", async () => {
    const fx = await createFixture();
    await expectUnchanged(fx, async () => {
      let sent = false;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (!sent) {
            sent = true;
            controller.enqueue(new TextEncoder().encode("partial"));
          } else {
            controller.error(new Error("connection reset"));
          }
        },
      });
      const res = await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token: fx.adminToken, body: stream, duplex: "half" });
      await expectError(res, 400, "bad_request");
    });
  });
});
