import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { binaryPath, type NodeProcess, rawRequest, sourceCommand, startNodeProcess } from "../helpers/node_process.ts";

/** Reads a JSON error body's code from a raw HTTP response. */
function errorCode(raw: string): string | undefined {
  const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
  try {
    return JSON.parse(body.slice(body.indexOf("{"))).error?.code;
  } catch {
    return undefined;
  }
}

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

/** The compiled binary, and the sources on the runtime running this file (Bun.serve or Deno.serve). */
const TARGETS: Array<[string, () => string[]]> = [["the compiled binary", () => [binaryPath()]], ["the sources on this test runtime", sourceCommand]];

for (const [targetName, argv] of TARGETS) describe(`${targetName} over real sockets`, () => {
  let node: NodeProcess;
  let token: string;
  let auth: Record<string, string>;

  before(async () => {
    node = await startNodeProcess({
      EDGECACHE_MAX_VALUE_BYTES: "64KiB",
      EDGECACHE_MAX_KEY_BYTES: "64",
      EDGECACHE_BODY_TIMEOUT: "500ms",
    }, argv());
    token = node.token as string;
    assert.ok(token, "the first-run admin token is printed on stderr");
    auth = { authorization: `Bearer ${token}` };
    const put = await fetch(`${node.url}/v1/kv/sentinel`, { method: "PUT", headers: { ...auth, "content-type": "text/plain" }, body: "still here" });
    assert.equal(put.status, 201);
  });

  after(async () => {
    const exit = await node.stop("SIGINT");
    assert.equal(exit.code, 0, "SIGINT shuts down gracefully with exit 0");
    assert.ok(!node.stdout().includes(token), "the admin token never appears in the logs");
  });

  /** The sentinel is untouched and the node still serves: what every bad request must leave behind. */
  async function assertUnharmed(): Promise<void> {
    const response = await fetch(`${node.url}/v1/kv/sentinel`, { headers: auth });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "still here");
    const stats = await (await fetch(`${node.url}/v1/admin/stats`, { headers: auth })).json();
    assert.equal(stats.entries, 1, "no bad request stored anything");
  }

  test("PUT, GET, HEAD and DELETE round-trip a value with its content type, ETag and Cache-Status", async () => {
    const put = await fetch(`${node.url}/v1/kv/e2e/%C3%A9t%C3%A9?ttl=60&tags=a,b`, { method: "PUT", headers: { ...auth, "content-type": "application/json" }, body: '{"x":1}' });
    assert.equal(put.status, 201);
    const etag = put.headers.get("etag");
    assert.match(etag ?? "", /^"[0-9a-z]+-[0-9a-z]+"$/);
    const get = await fetch(`${node.url}/v1/kv/e2e/%C3%A9t%C3%A9`, { headers: auth });
    assert.equal(get.status, 200);
    assert.equal(await get.text(), '{"x":1}');
    assert.equal(get.headers.get("content-type"), "application/json");
    assert.equal(get.headers.get("etag"), etag);
    assert.match(get.headers.get("cache-status") ?? "", /^edgecache; hit; ttl=\d+$/);
    assert.equal(get.headers.get("age"), "0");
    const head = await fetch(`${node.url}/v1/kv/e2e/%C3%A9t%C3%A9`, { method: "HEAD", headers: auth });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("etag"), etag);
    assert.equal(await head.text(), "");
    const notModified = await fetch(`${node.url}/v1/kv/e2e/%C3%A9t%C3%A9`, { headers: { ...auth, "if-none-match": etag as string } });
    assert.equal(notModified.status, 304);
    const invalidated = await fetch(`${node.url}/v1/invalidate`, { method: "POST", headers: auth, body: JSON.stringify({ tags: ["b"] }) });
    assert.deepEqual(await invalidated.json(), { invalidated: 1 });
    const gone = await fetch(`${node.url}/v1/kv/e2e/%C3%A9t%C3%A9`, { headers: auth });
    assert.equal(gone.status, 404);
    assert.equal((await gone.json()).error.code, "not_found");
    const del = await fetch(`${node.url}/v1/kv/e2e/absent`, { method: "DELETE", headers: auth });
    assert.equal(del.status, 204);
  });

  test("every response carries X-Request-Id, echoing a safe client id", async () => {
    const echoed = await fetch(`${node.url}/healthz`, { headers: { "x-request-id": "client-id-42" } });
    assert.equal(echoed.headers.get("x-request-id"), "client-id-42");
    assert.deepEqual(await echoed.json(), { status: "ok" });
    const generated = await fetch(`${node.url}/v1/kv/nope`);
    assert.ok((generated.headers.get("x-request-id") ?? "").length > 0);
    await generated.body?.cancel();
  });

  test("an oversized key gets 414 and changes nothing", async () => {
    const raw = await rawRequest(node.port, [`GET /v1/kv/${"k".repeat(65)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`]);
    assert.equal(statusOf(raw), 414);
    assert.equal(errorCode(raw), "key_too_long");
    await assertUnharmed();
  });

  test("bad percent-encoding, invalid UTF-8 and control characters in keys get 400 invalid_key", async () => {
    for (const key of ["bad%zz", "bad%", "%C3%28", "nul%00byte", "line%0Afeed"]) {
      const raw = await rawRequest(node.port, [`PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`]);
      assert.equal(statusOf(raw), 400, key);
      assert.equal(errorCode(raw), "invalid_key", key);
    }
    await assertUnharmed();
  });

  test("a value over the limit is refused with 413 whether announced by Content-Length or streamed chunked", async () => {
    const announced = await rawRequest(node.port, [`PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 10737418240\r\nConnection: close\r\n\r\n`]);
    assert.equal(statusOf(announced), 413);
    const chunk = "x".repeat(16 * 1024);
    const chunks = [`PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`];
    for (let i = 0; i < 8; i++) chunks.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    chunks.push("0\r\n\r\n");
    const streamed = await rawRequest(node.port, chunks);
    assert.equal(statusOf(streamed), 413);
    assert.equal(errorCode(streamed), "value_too_large");
    await assertUnharmed();
  });

  test("a Content-Length that promises more than is sent times out with 408 and stores nothing", async () => {
    const raw = await rawRequest(node.port, [`PUT /v1/kv/liar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly-ten!!`], { idleMs: 2000 });
    assert.equal(statusOf(raw), 408);
    assert.equal(errorCode(raw), "body_timeout");
    await assertUnharmed();
  });

  test("a slow client trickling a body is cut off by the body timeout while others are served", async () => {
    const trickle = rawRequest(
      node.port,
      [`PUT /v1/kv/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 20\r\nConnection: close\r\n\r\n`, "a", "b", "c", "d", "e", "f", "g"],
      { gapMs: 200, idleMs: 2000 },
    );
    await assertUnharmed();
    const raw = await trickle;
    assert.equal(statusOf(raw), 408);
    await assertUnharmed();
  });

  test("hostile JSON to /v1/invalidate gets 400 and the node stays healthy", async () => {
    const bodies = ["[".repeat(50_000), '{"prefix":', '{"prefix":"","tags":["a"]}', '{"__proto__":{"prefix":"x"}}', "\u0000\u0001", '{"tags":"a"}'];
    for (const body of bodies) {
      const response = await fetch(`${node.url}/v1/invalidate`, { method: "POST", headers: auth, body });
      assert.equal(response.status, 400, body.slice(0, 20));
      const code = (await response.json()).error.code;
      assert.ok(code === "invalid_json" || code === "bad_request", code);
    }
    await assertUnharmed();
  });

  test("an enormous header is refused without harming the node", async () => {
    const raw = await rawRequest(node.port, [`GET /v1/kv/sentinel HTTP/1.1\r\nHost: x\r\nX-Junk: ${"j".repeat(256 * 1024)}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`]);
    assert.ok(statusOf(raw) === 431 || statusOf(raw) === 400 || raw === "", `status ${statusOf(raw)}`);
    await assertUnharmed();
  });

  test("garbage bytes instead of HTTP get no answer that harms the node", async () => {
    await rawRequest(node.port, [new Uint8Array([0, 1, 2, 255, 254, 13, 10, 13, 10])], { idleMs: 500 });
    await assertUnharmed();
  });

  test("/metrics and /readyz need no token and expose no key names", async () => {
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    assert.match(metrics, /edgecache_http_requests_total\{route="kv"/);
    assert.match(metrics, /edgecache_cache_hits_total \d+/);
    assert.ok(!metrics.includes("sentinel"));
    const ready = await fetch(`${node.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).checks.store.status, "ok");
  });
});
