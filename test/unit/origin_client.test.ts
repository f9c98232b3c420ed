import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { BreakerState } from "../../src/origin/circuit_breaker.ts";
import { createOriginClient, type OriginClientConfig, type OriginOutcome } from "../../src/origin/origin_client.ts";
import { type OriginServer, startOriginServer } from "../helpers/origin_server.ts";
import { rejectionCode, until } from "../helpers/async_assert.ts";

const decoder = new TextDecoder();

/** A port nothing listens on: bound once by a throwaway server, then released. */
async function unusedPort(): Promise<number> {
  const { createServer } = await import("node:http");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("createOriginClient against a real origin", () => {
  let origin: OriginServer;
  /** Headers of every request, in arrival order. */
  let seen: IncomingHttpHeaders[] = [];
  /** Responses a handler left open; ended after each hanging test and before closing. */
  const hanging: ServerResponse[] = [];
  const releaseHanging = () => {
    for (const res of hanging.splice(0)) {
      try {
        res.destroy();
      } catch {
        // The connection is already gone.
      }
    }
  };

  /** Installs `handler` and forgets earlier hits. */
  const serve = (handler: (res: ServerResponse, path: string) => void) => {
    releaseHanging();
    origin.hits.clear();
    seen = [];
    origin.handle((req, res) => {
      seen.push(req.headers);
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

  function client(overrides: Partial<OriginClientConfig> = {}, extra: { now?: () => number; fetch?: typeof fetch } = {}) {
    const outcomes: OriginOutcome[] = [];
    const transitions: Array<[BreakerState, BreakerState]> = [];
    const sleeps: number[] = [];
    const instance = createOriginClient(
      { url: origin.url, timeoutMs: 2000, maxBodyBytes: 1024, retries: 2, maxConcurrency: 16, breakerFailureThreshold: 100, breakerCoolDownMs: 1000, ...overrides },
      {
        fetch: extra.fetch ?? fetch,
        now: extra.now ?? Date.now,
        random: () => 0.5,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        onCall: (outcome) => outcomes.push(outcome),
        onBreakerTransition: (from, to) => transitions.push([from, to]),
      },
    );
    return { client: instance, outcomes, transitions, sleeps };
  }

  test("200 returns the body, content type and freshness from Cache-Control and Age", async () => {
    serve((res) => res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "public, s-maxage=120, max-age=5", age: "20" }).end("hello origin"));
    const { client: c, outcomes } = client();
    const answer = await c.fetch("greeting", "req-1");
    assert.equal(answer.status, 200);
    if (answer.status !== 200) return;
    assert.equal(decoder.decode(answer.body), "hello origin");
    assert.equal(answer.contentType, "text/plain; charset=utf-8");
    assert.deepEqual(answer.freshness, { storable: true, ttlMs: 100_000 });
    assert.deepEqual(outcomes, ["ok"]);
    assert.equal(origin.hits.get("/greeting"), 1);
  });

  test("200 without Content-Type is application/octet-stream and an empty body is empty", async () => {
    serve((res) => {
      res.removeHeader("content-type");
      res.writeHead(200).end();
    });
    const answer = await client().client.fetch("empty", "req-2");
    assert.equal(answer.status, 200);
    if (answer.status !== 200) return;
    assert.equal(answer.body.byteLength, 0);
    assert.equal(answer.contentType, "application/octet-stream");
    assert.deepEqual(answer.freshness, { storable: true });
  });

  test("a body of exactly maxBodyBytes is accepted", async () => {
    serve((res) => res.writeHead(200).end("x".repeat(1024)));
    const answer = await client().client.fetch("exact", "r");
    assert.equal(answer.status, 200);
    if (answer.status === 200) assert.equal(answer.body.byteLength, 1024);
  });

  test("404 is a definite absence, with its own freshness", async () => {
    serve((res) => res.writeHead(404, { "cache-control": "max-age=30" }).end("nope"));
    const { client: c, outcomes, transitions } = client({ breakerFailureThreshold: 1 });
    const answer = await c.fetch("missing", "r");
    assert.deepEqual(answer, { status: 404, freshness: { storable: true, ttlMs: 30_000 } });
    assert.deepEqual(outcomes, ["not_found"]);
    assert.equal(c.breakerState(), "closed", "a 404 is a healthy answer");
    assert.deepEqual(transitions, []);
    assert.equal(origin.hits.get("/missing"), 1);
  });

  test("500 fails with origin_error and is not retried", async () => {
    serve((res) => res.writeHead(500).end("broken"));
    const { client: c, outcomes, sleeps } = client({ retries: 3 });
    assert.equal(await rejectionCode(c.fetch("k500", "r")), "origin_error");
    assert.equal(origin.hits.get("/k500"), 1);
    assert.deepEqual(outcomes, ["error_status"]);
    assert.deepEqual(sleeps, []);
  });

  test("503 is retried `retries` times with exponential backoff, then fails with origin_error", async () => {
    serve((res) => res.writeHead(503).end());
    const { client: c, outcomes, sleeps } = client({ retries: 3, backoffBaseMs: 10, backoffCapMs: 1000 });
    assert.equal(await rejectionCode(c.fetch("k503", "r")), "origin_error");
    assert.equal(origin.hits.get("/k503"), 4, "retries + 1 attempts");
    // random() = 0.5 of min(cap, base * 2^attempt) between attempts.
    assert.deepEqual(sleeps, [5, 10, 20]);
    assert.deepEqual(outcomes, ["error_status"], "one call, one outcome, however many attempts");
  });

  test("502 and 504 are retried too, and a retry that succeeds returns the value", async () => {
    let n = 0;
    serve((res) => {
      n++;
      if (n === 1) res.writeHead(502).end();
      else if (n === 2) res.writeHead(504).end();
      else res.writeHead(200, { "content-type": "text/plain" }).end("third time");
    });
    const { client: c, outcomes } = client({ retries: 2 });
    const answer = await c.fetch("flaky", "r");
    assert.equal(answer.status, 200);
    if (answer.status === 200) assert.equal(decoder.decode(answer.body), "third time");
    assert.equal(origin.hits.get("/flaky"), 3);
    assert.deepEqual(outcomes, ["ok"]);
  });

  test("connection refused is retried, then fails with origin_unreachable", async () => {
    const port = await unusedPort();
    let attempts = 0;
    const counting: typeof fetch = (input, init) => {
      attempts++;
      return fetch(input, init);
    };
    const { client: c, outcomes, sleeps } = client({ url: `http://127.0.0.1:${port}`, retries: 2 }, { fetch: counting });
    assert.equal(await rejectionCode(c.fetch("k", "r")), "origin_unreachable");
    assert.equal(attempts, 3);
    assert.equal(sleeps.length, 2);
    assert.deepEqual(outcomes, ["unreachable"]);
  });

  test("an origin that never answers fails with origin_timeout within the deadline and is not retried", async () => {
    serve((res) => void hanging.push(res));
    const { client: c, outcomes } = client({ timeoutMs: 200, retries: 3 });
    const started = Date.now();
    assert.equal(await rejectionCode(c.fetch("slow", "r")), "origin_timeout");
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150, `gave up too early: ${elapsed}ms`);
    assert.ok(elapsed < 1500, `took ${elapsed}ms for a 200ms deadline`);
    assert.equal(origin.hits.get("/slow"), 1);
    assert.deepEqual(outcomes, ["timeout"]);
    releaseHanging();
  });

  test("an origin that sends headers and then stalls the body fails with origin_timeout", async () => {
    serve((res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("partial");
      hanging.push(res);
    });
    const { client: c, outcomes } = client({ timeoutMs: 200 });
    const started = Date.now();
    assert.equal(await rejectionCode(c.fetch("stall", "r")), "origin_timeout");
    assert.ok(Date.now() - started < 1500);
    assert.deepEqual(outcomes, ["timeout"]);
    releaseHanging();
  });

  test("a body over maxBodyBytes with Content-Length fails with origin_too_large", async () => {
    serve((res) => res.writeHead(200, { "content-length": "5000" }).end("y".repeat(5000)));
    const { client: c, outcomes } = client({ maxBodyBytes: 1000, retries: 2 });
    assert.equal(await rejectionCode(c.fetch("big", "r")), "origin_too_large");
    assert.equal(origin.hits.get("/big"), 1, "not retried");
    assert.deepEqual(outcomes, ["too_large"]);
  });

  test("a chunked body over maxBodyBytes without Content-Length fails with origin_too_large", async () => {
    serve((res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      for (let i = 0; i < 10; i++) res.write("z".repeat(300));
      res.end();
    });
    const { client: c, outcomes, transitions } = client({ maxBodyBytes: 1000, breakerFailureThreshold: 1 });
    assert.equal(await rejectionCode(c.fetch("chunked", "r")), "origin_too_large");
    assert.equal(seen.length, 1);
    assert.equal(seen[0]["content-length"], undefined);
    assert.deepEqual(outcomes, ["too_large"]);
    assert.equal(c.breakerState(), "closed", "a too-large body is not an unhealthy origin");
    assert.deepEqual(transitions, []);
  });

  test("a 4xx other than 404 is origin_error, not retried, and does not count toward the breaker", async () => {
    serve((res) => res.writeHead(403).end("forbidden"));
    const { client: c, transitions } = client({ breakerFailureThreshold: 1, retries: 2 });
    for (let i = 0; i < 3; i++) assert.equal(await rejectionCode(c.fetch("denied", "r")), "origin_error");
    assert.equal(origin.hits.get("/denied"), 3, "one attempt per call, and every call reached the origin");
    assert.equal(c.breakerState(), "closed");
    assert.deepEqual(transitions, []);
  });

  test("a redirect is not followed: origin_error without a request to the target", async () => {
    serve((res) => res.writeHead(302, { location: "/elsewhere" }).end());
    assert.equal(await rejectionCode(client().client.fetch("moved", "r")), "origin_error");
    assert.equal(origin.hits.get("/elsewhere"), undefined);
  });

  test("the breaker opens after threshold failures, then fails fast with origin_circuit_open without calling the origin", async () => {
    serve((res) => res.writeHead(500).end());
    let skew = 0;
    const { client: c, outcomes, transitions } = client({ breakerFailureThreshold: 3, breakerCoolDownMs: 10_000, retries: 0 }, { now: () => Date.now() + skew });
    for (let i = 0; i < 3; i++) assert.equal(await rejectionCode(c.fetch("down", "r")), "origin_error");
    assert.equal(c.breakerState(), "open");
    assert.deepEqual(transitions, [["closed", "open"]]);
    for (let i = 0; i < 5; i++) assert.equal(await rejectionCode(c.fetch("down", "r")), "origin_circuit_open");
    assert.equal(origin.hits.get("/down"), 3, "no request while open");
    assert.deepEqual(outcomes, ["error_status", "error_status", "error_status", "circuit_open", "circuit_open", "circuit_open", "circuit_open", "circuit_open"]);

    // After the cool-down one probe goes out; its success closes the breaker.
    serve((res) => res.writeHead(200).end("back"));
    skew = 10_000;
    assert.equal(c.breakerState(), "half_open");
    assert.equal((await c.fetch("down", "r")).status, 200);
    assert.equal(c.breakerState(), "closed");
    assert.equal(origin.hits.get("/down"), 1);
    assert.deepEqual(transitions, [["closed", "open"], ["open", "half_open"], ["half_open", "closed"]]);
  });

  test("unreachable and timed-out calls count toward the breaker", async () => {
    const port = await unusedPort();
    const { client: c } = client({ url: `http://127.0.0.1:${port}`, breakerFailureThreshold: 2, retries: 0 });
    assert.equal(await rejectionCode(c.fetch("a", "r")), "origin_unreachable");
    assert.equal(await rejectionCode(c.fetch("b", "r")), "origin_unreachable");
    assert.equal(c.breakerState(), "open");
    assert.equal(await rejectionCode(c.fetch("c", "r")), "origin_circuit_open");

    serve((res) => void hanging.push(res));
    const { client: slow } = client({ breakerFailureThreshold: 2, retries: 0, timeoutMs: 100 });
    assert.equal(await rejectionCode(slow.fetch("a", "r")), "origin_timeout");
    assert.equal(await rejectionCode(slow.fetch("b", "r")), "origin_timeout");
    assert.equal(slow.breakerState(), "open");
    assert.equal(await rejectionCode(slow.fetch("c", "r")), "origin_circuit_open");
    assert.equal(origin.hits.get("/c"), undefined);
    releaseHanging();
  });

  test("calls beyond maxConcurrency fail fast with overloaded and never reach the origin", async () => {
    serve((res) => void hanging.push(res));
    const { client: c, outcomes } = client({ maxConcurrency: 2, timeoutMs: 5000 });
    const first = c.fetch("one", "r");
    const second = c.fetch("two", "r");
    await until(() => origin.hits.get("/one") === 1 && origin.hits.get("/two") === 1, "both calls to reach the origin");
    assert.equal(await rejectionCode(c.fetch("three", "r")), "overloaded");
    assert.equal(origin.hits.get("/three"), undefined);
    assert.deepEqual(outcomes, ["overloaded"]);
    for (const res of hanging.splice(0)) res.writeHead(200).end("done");
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
    // With the slots free again, calls go through.
    serve((res) => res.writeHead(200).end("again"));
    assert.equal((await c.fetch("three", "r")).status, 200);
    assert.equal(origin.hits.get("/three"), 1);
  });

  test("keys are requested as per-segment percent-encoded paths under the base path", async () => {
    serve((res) => res.writeHead(200).end("v"));
    const { client: c } = client({ url: `${origin.url}/base/dir` });
    const cases: Array<[string, string]> = [
      ["plain", "/base/dir/plain"],
      ["a/b/c", "/base/dir/a/b/c"],
      ["with space/and more", "/base/dir/with%20space/and%20more"],
      ["ünïcødé/日本/🙂", "/base/dir/%C3%BCn%C3%AFc%C3%B8d%C3%A9/%E6%97%A5%E6%9C%AC/%F0%9F%99%82"],
      ["q?x=1#frag", "/base/dir/q%3Fx%3D1%23frag"],
      ["100%/a+b", "/base/dir/100%25/a%2Bb"],
      ["back\\slash", "/base/dir/back%5Cslash"],
      ["a//b/", "/base/dir/a//b/"],
    ];
    for (const [key, path] of cases) {
      origin.hits.clear();
      await c.fetch(key, "r");
      assert.deepEqual([...origin.hits.keys()], [path], `key ${JSON.stringify(key)}`);
    }
  });

  test("keys with '.' or '..' segments are refused with invalid_key and never reach the origin", async () => {
    serve((res) => res.writeHead(200).end("v"));
    const { client: c, transitions } = client({ url: `${origin.url}/base`, breakerFailureThreshold: 1, maxConcurrency: 1 });
    for (const key of ["../admin", "a/../../admin", "a/./b", ".", "..", "x/.."]) {
      assert.equal(await rejectionCode(c.fetch(key, "r")), "invalid_key", key);
    }
    assert.equal(origin.hits.size, 0, "a dot segment would let the key escape the base path");
    assert.deepEqual(transitions, []);
    // Neither the concurrency slot nor the breaker leaked: a normal key still goes through.
    assert.equal((await c.fetch("a/.../b..", "r")).status, 200);
    assert.deepEqual([...origin.hits.keys()], ["/base/a/.../b.."]);
  });

  test("the request id is forwarded as x-request-id on every attempt", async () => {
    serve((res) => res.writeHead(503).end());
    const { client: c } = client({ retries: 1 });
    await rejectionCode(c.fetch("traced", "req-abc-123"));
    assert.equal(seen.length, 2);
    for (const headers of seen) assert.equal(headers["x-request-id"], "req-abc-123");
  });
});
