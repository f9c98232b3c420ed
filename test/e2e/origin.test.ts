import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { binaryPath, sourceCommand, startNodeProcess, waitFor } from "../helpers/node_process.ts";
import { type OriginServer, startOriginServer } from "../helpers/origin_server.ts";

const SECRET = "e2e-origin-secret-that-is-32-bytes-or-more";

async function mint(scope = "cache:read cache:write"): Promise<string> {
  const { SignJWT } = await import("jose");
  return await new SignJWT({ scope }).setProtectedHeader({ alg: "HS256" }).setSubject("e2e").setExpirationTime("10m").sign(new TextEncoder().encode(SECRET));
}

const TARGETS: Array<[string, () => string[]]> = [["the compiled binary", () => [binaryPath()]], ["the sources on this test runtime", sourceCommand]];

for (const [name, argv] of TARGETS) {
  describe(`read-through with a real origin: ${name}`, () => {
    let origin: OriginServer;
    let auth: Record<string, string>;

    before(async () => {
      origin = await startOriginServer((_request, response) => response.writeHead(500).end());
      auth = { authorization: `Bearer ${await mint()}` };
    });
    after(() => origin.close());

    test("1,000 concurrent GETs for one missing key cause one origin fetch and all get the same bytes", async () => {
      origin.handle((_request, response) => {
        setTimeout(() => response.writeHead(200, { "content-type": "text/plain", "cache-control": "max-age=60" }).end("the one true value"), 200);
      });
      const node = await startNodeProcess({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_ORIGIN_URL: origin.url }, argv());
      try {
        const responses = await Promise.all(Array.from({ length: 1000 }, () => fetch(`${node.url}/v1/kv/herd/key-1`, { headers: auth })));
        const bodies = await Promise.all(responses.map((response) => response.text()));
        assert.deepEqual(new Set(responses.map((response) => response.status)), new Set([200]));
        assert.deepEqual(new Set(bodies), new Set(["the one true value"]));
        assert.equal(origin.hits.get("/herd/key-1"), 1, "exactly one origin fetch");
        const statuses = responses.map((response) => response.headers.get("cache-status") ?? "");
        assert.ok(statuses.some((status) => status.includes("collapsed")), "waiters are marked collapsed");
        const again = await fetch(`${node.url}/v1/kv/herd/key-1`, { headers: auth });
        assert.match(again.headers.get("cache-status") ?? "", /^edgecache; hit; ttl=\d+/);
        await again.body?.cancel();
        assert.equal(origin.hits.get("/herd/key-1"), 1);
      } finally {
        assert.equal((await node.stop()).code, 0);
      }
    });

    test("a failed fetch wakes every waiter with the error and the next request tries again", async () => {
      origin.handle((_request, response) => setTimeout(() => response.writeHead(500).end(), 100));
      const node = await startNodeProcess({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_ORIGIN_URL: origin.url, EDGECACHE_ORIGIN_RETRIES: "0" }, argv());
      try {
        const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${node.url}/v1/kv/herd/fails`, { headers: auth })));
        for (const response of responses) {
          assert.equal(response.status, 502);
          assert.equal((await response.json()).error.code, "origin_error");
        }
        assert.equal(origin.hits.get("/herd/fails"), 1);
        origin.handle((_request, response) => response.writeHead(200, { "cache-control": "max-age=60" }).end("recovered"));
        const retry = await fetch(`${node.url}/v1/kv/herd/fails`, { headers: auth });
        assert.equal(await retry.text(), "recovered");
        assert.equal(origin.hits.get("/herd/fails"), 2);
      } finally {
        await node.stop();
      }
    });

    test("stale-if-error serves the expired value when the origin fails", async () => {
      origin.handle((_request, response) => response.writeHead(200, { "cache-control": "max-age=1" }).end("v1"));
      const node = await startNodeProcess({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_ORIGIN_URL: origin.url, EDGECACHE_STALE_IF_ERROR: "60s", EDGECACHE_ORIGIN_RETRIES: "0" }, argv());
      try {
        assert.equal(await (await fetch(`${node.url}/v1/kv/sie`, { headers: auth })).text(), "v1");
        origin.handle((_request, response) => response.writeHead(503).end());
        let stale: Response | undefined;
        await waitFor(async () => {
          stale = await fetch(`${node.url}/v1/kv/sie`, { headers: auth });
          const fresh = (stale.headers.get("cache-status") ?? "").includes("hit");
          if (fresh) await stale.body?.cancel();
          return !fresh;
        }, 5000, "the entry to expire");
        const response = stale as Response;
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "v1");
        assert.match(response.headers.get("cache-status") ?? "", /fwd=stale; ttl=-\d+; detail=stale-if-error/);
      } finally {
        await node.stop();
      }
    });

    test("SIGTERM during a slow origin fetch lets the waiting requests finish", async () => {
      origin.handle((_request, response) => setTimeout(() => response.writeHead(200, { "cache-control": "max-age=60" }).end("slow but sure"), 800));
      const node = await startNodeProcess({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_ORIGIN_URL: origin.url }, argv());
      const pending = Array.from({ length: 20 }, () => fetch(`${node.url}/v1/kv/slow`, { headers: auth }).then(async (response) => [response.status, await response.text()]));
      await waitFor(() => (origin.hits.get("/slow") ?? 0) > 0, 5000, "the origin fetch to start");
      process.kill(node.child.pid as number, "SIGTERM");
      const results = await Promise.all(pending);
      for (const [status, body] of results) {
        assert.equal(status, 200);
        assert.equal(body, "slow but sure");
      }
      assert.equal((await node.exited).code, 0);
    });

    test("a key the token may not touch never reaches the origin", async () => {
      origin.handle((_request, response) => response.writeHead(200).end("secret"));
      const node = await startNodeProcess({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_ORIGIN_URL: origin.url }, argv());
      try {
        const { SignJWT } = await import("jose");
        const limited = await new SignJWT({ scope: "cache:read", prefixes: ["public/"] }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("10m")
          .sign(new TextEncoder().encode(SECRET));
        const response = await fetch(`${node.url}/v1/kv/private/thing`, { headers: { authorization: `Bearer ${limited}` } });
        assert.equal(response.status, 403);
        await response.body?.cancel();
        assert.equal(origin.hits.get("/private/thing"), undefined);
      } finally {
        await node.stop();
      }
    });
  });
}
