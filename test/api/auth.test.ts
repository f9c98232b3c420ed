import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFixture, expectError, expectUnchanged, type Fixture, keyPath, TEST_SECRET } from "../helpers/app_fixture.ts";

function base64url(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A token with `alg: none` and an empty signature (must never be accepted). */
function unsignedToken(now: number): string {
  const header = base64url(JSON.stringify({ alg: "none", typ: "JWT" }));
  const payload = base64url(JSON.stringify({ sub: "mallory", scope: "cache:read cache:write cache:admin", exp: Math.floor(now / 1000) + 3600 }));
  return `${header}.${payload}.`;
}

/** Re-signs nothing: swaps the payload of a valid token (signature no longer matches). */
function tamperedToken(token: string, now: number): string {
  const [header, , signature] = token.split(".");
  const payload = base64url(JSON.stringify({ sub: "mallory", scope: "cache:read cache:write cache:admin", exp: Math.floor(now / 1000) + 3600 }));
  return `${header}.${payload}.${signature}`;
}

/** An HS512 token signed with the right secret: the algorithm is not on the allow list. */
async function hs512Token(now: number): Promise<string> {
  const header = base64url(JSON.stringify({ alg: "HS512", typ: "JWT" }));
  const payload = base64url(JSON.stringify({ sub: "x", scope: "cache:read", exp: Math.floor(now / 1000) + 3600 }));
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(TEST_SECRET), { name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${header}.${payload}`)));
  return `${header}.${payload}.${base64url(String.fromCharCode(...signature))}`;
}

/** Asserts no captured log line contains any of `secrets`. */
function assertLogsFree(fx: Fixture, secrets: string[]): void {
  for (const line of fx.logLines) {
    for (const secret of secrets) assert.ok(!line.includes(secret), `a log line contains a secret: ${line.slice(0, 200)}`);
  }
}

describe("authentication", () => {
  test("no Authorization header is 401 token_missing with WWW-Authenticate, on every protected route", async () => {
    const fx = await createFixture();
    const routes: Array<[string, string]> = [
      ["GET", "/v1/kv/a"],
      ["HEAD", "/v1/kv/a"],
      ["PUT", "/v1/kv/a"],
      ["DELETE", "/v1/kv/a"],
      ["POST", "/v1/invalidate"],
      ["GET", "/v1/admin/stats"],
      ["GET", "/v1/admin/cluster"],
      ["GET", "/v1/admin/config"],
      ["POST", "/v1/admin/flush"],
    ];
    await expectUnchanged(fx, async () => {
      for (const [method, path] of routes) {
        const res = await fx.request(path, { method, body: method === "PUT" || method === "POST" ? "{}" : undefined });
        assert.equal(res.status, 401, `${method} ${path}`);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer\b/, `${method} ${path}`);
        if (method !== "HEAD") assert.equal((await res.json()).error.code, "token_missing");
      }
    });
  });

  test("a non-Bearer Authorization header is 401 token_missing", async () => {
    const fx = await createFixture();
    for (const header of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"]) {
      const res = await fx.request("/v1/kv/a", { headers: { authorization: header } });
      await expectError(res, 401, "token_missing");
    }
  });

  test("garbage, tampered, alg:none, HS512 and exp-less tokens are 401 token_invalid and change nothing", async () => {
    const fx = await createFixture();
    const bad = [
      "garbage",
      "a.b.c",
      tamperedToken(fx.adminToken, fx.now()),
      unsignedToken(fx.now()),
      await hs512Token(fx.now()),
      await fx.token({ noExp: true }),
      "x".repeat(9000),
    ];
    await expectUnchanged(fx, async () => {
      for (const token of bad) {
        const put = await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token, body: "changed" });
        const body = await expectError(put, 401, "token_invalid");
        assert.ok(!body.error.message.includes(token.slice(0, 40)) || token.length < 12, "the token is not echoed back");
        await expectError(await fx.request(keyPath(fx.sentinelKey), { token }), 401, "token_invalid");
        const flush = await fx.request("/v1/admin/flush", { method: "POST", token });
        assert.equal(flush.status, 401);
        assert.ok(flush.headers.get("www-authenticate"));
      }
    });
  });

  test("a token signed with another key is 401 token_invalid", async () => {
    const fx = await createFixture();
    const token = await fx.token({ secret: "another-secret-that-is-at-least-32-bytes-long" });
    await expectError(await fx.request("/v1/kv/a", { token }), 401, "token_invalid");
  });

  test("an expired token is 401 token_expired", async () => {
    const fx = await createFixture();
    const token = await fx.token({ ttl: -60 });
    await expectUnchanged(fx, async () => {
      await expectError(await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token, body: "changed" }), 401, "token_expired");
    });
  });

  test("a token that was valid stops working once the clock passes its exp", async () => {
    const fx = await createFixture();
    const token = await fx.token({ ttl: 60, scopes: ["cache:read"] });
    assert.equal((await fx.request("/v1/kv/a", { token })).status, 404);
    fx.advance(60_000 + 10_000);
    await expectError(await fx.request("/v1/kv/a", { token }), 401, "token_expired");
  });
});

describe("scopes", () => {
  test("a read-only token may GET and HEAD but PUT, DELETE and invalidate are 403 scope_denied and change nothing", async () => {
    const fx = await createFixture();
    const token = await fx.token({ scopes: ["cache:read"] });
    await fx.put(fx.sentinelKey, "sentinel value");
    assert.equal((await fx.request(keyPath(fx.sentinelKey), { token })).status, 200);
    assert.equal((await fx.request(keyPath(fx.sentinelKey), { method: "HEAD", token })).status, 200);
    await expectUnchanged(fx, async () => {
      await expectError(await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token, body: "changed" }), 403, "scope_denied");
      await expectError(await fx.request("/v1/kv/new", { method: "PUT", token, body: "changed" }), 403, "scope_denied");
      await expectError(await fx.request(keyPath(fx.sentinelKey), { method: "DELETE", token }), 403, "scope_denied");
      await expectError(await fx.request("/v1/invalidate", { method: "POST", token, body: '{"prefix":"s"}' }), 403, "scope_denied");
    });
  });

  test("a write-only token may PUT, DELETE and invalidate but GET and HEAD are 403 scope_denied", async () => {
    const fx = await createFixture();
    const token = await fx.token({ scopes: ["cache:write"] });
    assert.equal((await fx.request("/v1/kv/w", { method: "PUT", token, body: "v" })).status, 201);
    await expectError(await fx.request("/v1/kv/w", { token }), 403, "scope_denied");
    const head = await fx.request("/v1/kv/w", { method: "HEAD", token });
    assert.equal(head.status, 403);
    assert.equal((await fx.request("/v1/invalidate", { method: "POST", token, body: '{"prefix":"w"}' })).status, 200);
    assert.equal((await fx.request("/v1/kv/w", { method: "DELETE", token })).status, 204);
  });

  test("admin routes need cache:admin: read+write tokens get 403 scope_denied and flush changes nothing", async () => {
    const fx = await createFixture();
    const token = await fx.token({ scopes: ["cache:read", "cache:write"] });
    await expectUnchanged(fx, async () => {
      await expectError(await fx.request("/v1/admin/stats", { token }), 403, "scope_denied");
      await expectError(await fx.request("/v1/admin/cluster", { token }), 403, "scope_denied");
      await expectError(await fx.request("/v1/admin/config", { token }), 403, "scope_denied");
      await expectError(await fx.request("/v1/admin/flush", { method: "POST", token }), 403, "scope_denied");
    });
  });

  test("an admin-only token may use admin routes but not the key-value API", async () => {
    const fx = await createFixture();
    const token = await fx.token({ scopes: ["cache:admin"] });
    assert.equal((await fx.request("/v1/admin/stats", { token })).status, 200);
    await expectError(await fx.request("/v1/kv/a", { token }), 403, "scope_denied");
    await expectError(await fx.request("/v1/kv/a", { method: "PUT", token, body: "v" }), 403, "scope_denied");
  });

  test("a token with no scope claim may do nothing", async () => {
    const fx = await createFixture();
    const token = await fx.token({ scopes: [] });
    await expectError(await fx.request("/v1/kv/a", { token }), 403, "scope_denied");
  });
});

describe("the prefixes claim", () => {
  test("allows keys under the granted prefixes and refuses others with 403 prefix_denied", async () => {
    const fx = await createFixture();
    const token = await fx.token({ sub: "tenant-a-app", prefixes: ["tenant-a/", "shared/"], scopes: ["cache:read", "cache:write"] });
    assert.equal((await fx.request("/v1/kv/tenant-a/x", { method: "PUT", token, body: "v" })).status, 201);
    assert.equal((await fx.request("/v1/kv/shared/y", { method: "PUT", token, body: "v" })).status, 201);
    assert.equal((await fx.request("/v1/kv/tenant-a/x", { token })).status, 200);
    // The check applies to the decoded key, however it is encoded.
    assert.equal((await fx.request("/v1/kv/tenant-a%2Fx", { token })).status, 200);

    await fx.put("tenant-b/secret", "other tenant");
    await expectUnchanged(fx, async () => {
      await expectError(await fx.request("/v1/kv/tenant-b/secret", { token }), 403, "prefix_denied");
      await expectError(await fx.request("/v1/kv/%74enant-b/secret", { token }), 403, "prefix_denied");
      await expectError(await fx.request("/v1/kv/tenant-b/secret", { method: "PUT", token, body: "x" }), 403, "prefix_denied");
      await expectError(await fx.request("/v1/kv/tenant-b/secret", { method: "DELETE", token }), 403, "prefix_denied");
      await expectError(await fx.request("/v1/kv/tenant-a", { method: "PUT", token, body: "x" }), 403, "prefix_denied");
      await expectError(await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token, body: "x" }), 403, "prefix_denied");
    });
    assert.equal(await (await fx.request("/v1/kv/tenant-b/secret", { token: fx.adminToken })).text(), "other tenant");
  });

  test("prefix invalidation outside the grant is 403 prefix_denied; inside it works", async () => {
    const fx = await createFixture();
    const token = await fx.token({ prefixes: ["tenant-a/"], scopes: ["cache:write"] });
    await fx.put("tenant-a/1", "v");
    await fx.put("tenant-a/2", "v");
    await fx.put("tenant-b/1", "v");
    await expectUnchanged(fx, async () => {
      for (const prefix of ["tenant-", "tenant-b/", "t", "tenant-a"]) {
        const res = await fx.request("/v1/invalidate", { method: "POST", token, body: JSON.stringify({ prefix }) });
        await expectError(res, 403, "prefix_denied");
      }
    });
    const ok = await fx.request("/v1/invalidate", { method: "POST", token, body: JSON.stringify({ prefix: "tenant-a/" }) });
    assert.deepEqual(await ok.json(), { invalidated: 2 });
    assert.ok(fx.store.peek("tenant-b/1") !== undefined);
  });

  test("tag invalidation with a prefix-limited token removes only keys within its prefixes", async () => {
    const fx = await createFixture();
    const token = await fx.token({ prefixes: ["tenant-a/"], scopes: ["cache:write"] });
    await fx.put("tenant-a/1", "v", { query: "?tags=shared-tag" });
    await fx.put("tenant-a/2", "v", { query: "?tags=shared-tag,other" });
    await fx.put("tenant-b/1", "v", { query: "?tags=shared-tag" });
    await fx.put("unprefixed", "v", { query: "?tags=shared-tag" });
    const res = await fx.request("/v1/invalidate", { method: "POST", token, body: JSON.stringify({ tags: ["shared-tag"] }) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { invalidated: 2 });
    assert.equal(fx.store.peek("tenant-a/1"), undefined);
    assert.equal(fx.store.peek("tenant-a/2"), undefined);
    assert.ok(fx.store.peek("tenant-b/1") !== undefined);
    assert.ok(fx.store.peek("unprefixed") !== undefined);
  });

  test("a malformed prefixes claim is 401 token_invalid", async () => {
    const fx = await createFixture();
    const { SignJWT } = await import("jose");
    const iat = Math.floor(fx.now() / 1000);
    const token = await new SignJWT({ scope: "cache:read", prefixes: "tenant-a/" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .sign(new TextEncoder().encode(TEST_SECRET));
    await expectError(await fx.request("/v1/kv/tenant-a/x", { token }), 401, "token_invalid");
  });
});

describe("audit", () => {
  test("each denied request writes an audit line with actor, action, outcome, reason and the response's request id", async () => {
    const fx = await createFixture();
    const readOnly = await fx.token({ sub: "reader-1", scopes: ["cache:read"] });
    const limited = await fx.token({ sub: "tenant-a-app", prefixes: ["tenant-a/"] });
    const expired = await fx.token({ sub: "late", ttl: -600 });
    const cases: Array<[RequestInit & { token?: string }, string, string, string, string]> = [
      [{ method: "GET" }, "/v1/kv/private-key-name-1", "anonymous", "kv.get", "token_missing"],
      [{ method: "GET", token: "garbage" }, "/v1/kv/private-key-name-2", "anonymous", "kv.get", "token_invalid"],
      [{ method: "GET", token: expired }, "/v1/kv/private-key-name-3", "anonymous", "kv.get", "token_expired"],
      [{ method: "PUT", token: readOnly, body: "v" }, "/v1/kv/private-key-name-4", "reader-1", "kv.put", "scope_denied"],
      [{ method: "DELETE", token: readOnly }, "/v1/kv/private-key-name-5", "reader-1", "kv.delete", "scope_denied"],
      [{ method: "GET", token: limited }, "/v1/kv/private-key-name-6", "tenant-a-app", "kv.get", "prefix_denied"],
      [{ method: "POST", token: limited, body: '{"prefix":"private-key-name"}' }, "/v1/invalidate", "tenant-a-app", "invalidate", "prefix_denied"],
      [{ method: "POST", token: readOnly }, "/v1/admin/flush", "reader-1", "admin.flush", "scope_denied"],
      [{ method: "GET", token: readOnly }, "/v1/admin/config", "reader-1", "admin.config", "scope_denied"],
      [{ method: "GET", token: readOnly }, "/v1/admin/stats", "reader-1", "admin.stats", "scope_denied"],
    ];
    for (const [init, path, actor, action, reason] of cases) {
      const before = fx.audits().length;
      const res = await fx.request(path, init);
      assert.ok(res.status === 401 || res.status === 403, `${init.method} ${path} answered ${res.status}`);
      const requestId = res.headers.get("x-request-id");
      const added = fx.audits().slice(before);
      assert.equal(added.length, 1, `one audit line for ${init.method} ${path}`);
      const [line] = added;
      assert.equal(line.audit, true);
      assert.equal(line.actor, actor);
      assert.equal(line.action, action);
      assert.equal(line.outcome, "denied");
      assert.equal(line.reason, reason);
      assert.equal(line.requestId, requestId);
      assert.equal(line.source, "127.0.0.1");
    }
    assertLogsFree(fx, [TEST_SECRET, readOnly, limited, expired, fx.adminToken, "private-key-name"]);
  });

  test("flush and config reads are audited as allowed with the token's subject", async () => {
    const fx = await createFixture();
    const admin = await fx.token({ sub: "ops-alice" });
    await fx.put("a", "v");
    const flush = await fx.request("/v1/admin/flush", { method: "POST", token: admin, headers: { "x-request-id": "flush-req-1" } });
    assert.equal(flush.status, 200);
    const config = await fx.request("/v1/admin/config", { token: admin, headers: { "x-request-id": "config-req-1" } });
    assert.equal(config.status, 200);

    const flushLine = fx.audits().find((line) => line.action === "admin.flush");
    assert.ok(flushLine, "flush is audited");
    assert.equal(flushLine.actor, "ops-alice");
    assert.equal(flushLine.outcome, "allowed");
    assert.equal(flushLine.requestId, "flush-req-1");
    const configLine = fx.audits().find((line) => line.action === "admin.config");
    assert.ok(configLine, "config read is audited");
    assert.equal(configLine.actor, "ops-alice");
    assert.equal(configLine.outcome, "allowed");
    assert.equal(configLine.requestId, "config-req-1");
    assertLogsFree(fx, [TEST_SECRET, admin, fx.adminToken]);
  });

  test("successful reads and writes are not audited", async () => {
    const fx = await createFixture();
    await fx.put("quiet", "v");
    await fx.request("/v1/kv/quiet", { token: fx.adminToken });
    assert.equal(fx.audits().length, 0);
  });
});
