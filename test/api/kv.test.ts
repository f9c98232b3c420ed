import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFixture, expectError, expectUnchanged, keyPath } from "../helpers/app_fixture.ts";

describe("PUT /v1/kv/{key}", () => {
  test("answers 201 with an ETag when the key is new and 204 with a new ETag when it is replaced", async () => {
    const fx = await createFixture();
    const first = await fx.request("/v1/kv/greeting", { method: "PUT", token: fx.adminToken, body: "hello", headers: { "content-type": "text/plain" } });
    assert.equal(first.status, 201);
    const etag1 = first.headers.get("etag");
    assert.match(etag1 ?? "", /^"[^"]+"$/);
    const second = await fx.request("/v1/kv/greeting", { method: "PUT", token: fx.adminToken, body: "hello again", headers: { "content-type": "text/plain" } });
    assert.equal(second.status, 204);
    assert.equal(await second.text(), "");
    const etag2 = second.headers.get("etag");
    assert.match(etag2 ?? "", /^"[^"]+"$/);
    assert.notEqual(etag2, etag1);
    const got = await fx.request("/v1/kv/greeting", { token: fx.adminToken });
    assert.equal(await got.text(), "hello again");
    assert.equal(got.headers.get("etag"), etag2);
  });

  test("stores raw bytes exactly, including non-UTF-8 bytes", async () => {
    const fx = await createFixture();
    const bytes = new Uint8Array(256).map((_, i) => i);
    const put = await fx.request("/v1/kv/bin", { method: "PUT", token: fx.adminToken, body: bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(put.status, 201);
    const got = await fx.request("/v1/kv/bin", { token: fx.adminToken });
    assert.deepEqual(new Uint8Array(await got.arrayBuffer()), bytes);
  });

  test("an empty body stores an empty value", async () => {
    const fx = await createFixture();
    const put = await fx.request("/v1/kv/empty", { method: "PUT", token: fx.adminToken, headers: { "content-type": "text/plain" } });
    assert.equal(put.status, 201);
    const got = await fx.request("/v1/kv/empty", { token: fx.adminToken });
    assert.equal(got.status, 200);
    assert.equal(await got.text(), "");
  });
});

describe("GET and HEAD /v1/kv/{key}", () => {
  test("GET returns the value with its Content-Type, ETag, Age and Cache-Status", async () => {
    const fx = await createFixture();
    const put = await fx.put("doc", '{"a":1}', { contentType: "application/vnd.test+json; charset=utf-8" });
    const res = await fx.request("/v1/kv/doc", { token: fx.adminToken });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '{"a":1}');
    assert.equal(res.headers.get("content-type"), "application/vnd.test+json; charset=utf-8");
    assert.equal(res.headers.get("etag"), put.headers.get("etag"));
    assert.equal(res.headers.get("age"), "0");
    assert.equal(res.headers.get("cache-status"), "edgecache; hit");
  });

  test("a value written without Content-Type reads back as application/octet-stream", async () => {
    const fx = await createFixture();
    const put = await fx.request("/v1/kv/raw", { method: "PUT", token: fx.adminToken, body: new Uint8Array([1, 2, 3]) });
    assert.equal(put.status, 201);
    const res = await fx.request("/v1/kv/raw", { token: fx.adminToken });
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
  });

  test("Age grows in whole seconds as the clock advances", async () => {
    const fx = await createFixture();
    await fx.put("aging", "v");
    fx.advance(1999);
    assert.equal((await fx.request("/v1/kv/aging", { token: fx.adminToken })).headers.get("age"), "1");
    fx.advance(60_000);
    assert.equal((await fx.request("/v1/kv/aging", { token: fx.adminToken })).headers.get("age"), "61");
  });

  test("Cache-Status carries the remaining ttl when the entry has one", async () => {
    const fx = await createFixture();
    await fx.put("short", "v", { query: "?ttl=60" });
    let res = await fx.request("/v1/kv/short", { token: fx.adminToken });
    assert.equal(res.headers.get("cache-status"), "edgecache; hit; ttl=60");
    fx.advance(15_000);
    res = await fx.request("/v1/kv/short", { token: fx.adminToken });
    assert.equal(res.headers.get("cache-status"), "edgecache; hit; ttl=45");
    assert.equal(res.headers.get("age"), "15");
  });

  test("EDGECACHE_DEFAULT_TTL applies when a write gives no ttl", async () => {
    const fx = await createFixture({ env: { EDGECACHE_DEFAULT_TTL: "30s" } });
    await fx.put("defaulted", "v");
    const res = await fx.request("/v1/kv/defaulted", { token: fx.adminToken });
    assert.equal(res.headers.get("cache-status"), "edgecache; hit; ttl=30");
    fx.advance(30_000);
    await expectError(await fx.request("/v1/kv/defaulted", { token: fx.adminToken }), 404, "not_found");
  });

  test("HEAD has the same status and headers as GET and no body", async () => {
    const fx = await createFixture();
    await fx.put("headed", "some value", { contentType: "text/x-head", query: "?ttl=100" });
    fx.advance(3000);
    const get = await fx.request("/v1/kv/headed", { token: fx.adminToken });
    const head = await fx.request("/v1/kv/headed", { method: "HEAD", token: fx.adminToken });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    for (const name of ["content-type", "etag", "age", "cache-status"]) {
      assert.ok(get.headers.get(name) !== null, `GET has ${name}`);
      assert.equal(head.headers.get(name), get.headers.get(name), name);
    }
    assert.equal(head.headers.get("age"), "3");
    const absent = await fx.request("/v1/kv/nothing-here", { method: "HEAD", token: fx.adminToken });
    assert.equal(absent.status, 404);
    assert.equal(await absent.text(), "");
  });

  test("GET of an absent key is 404 not_found", async () => {
    const fx = await createFixture();
    await expectError(await fx.request("/v1/kv/never-written", { token: fx.adminToken }), 404, "not_found");
  });

  test("an entry is gone once its ttl passes on the injected clock", async () => {
    const fx = await createFixture();
    await fx.put("expiring", "v", { query: "?ttl=10" });
    fx.advance(9_999);
    assert.equal((await fx.request("/v1/kv/expiring", { token: fx.adminToken })).status, 200);
    fx.advance(1);
    await expectError(await fx.request("/v1/kv/expiring", { token: fx.adminToken }), 404, "not_found");
    const stats = await (await fx.request("/v1/admin/stats", { token: fx.adminToken })).json();
    assert.equal(stats.entries, 0);
  });
});

describe("conditional requests", () => {
  test("If-None-Match with the current tag, its weak form or * gives 304; another tag gives 200", async () => {
    const fx = await createFixture();
    const etag = (await fx.put("cond", "v")).headers.get("etag") as string;
    const get = (value: string) => fx.request("/v1/kv/cond", { token: fx.adminToken, headers: { "if-none-match": value } });

    for (const header of [etag, `W/${etag}`, "*", `"other", ${etag}`]) {
      const res = await get(header);
      assert.equal(res.status, 304, header);
      assert.equal(await res.text(), "");
      assert.equal(res.headers.get("etag"), etag);
    }
    const other = await get('"not-the-tag"');
    assert.equal(other.status, 200);
    assert.equal(await other.text(), "v");
  });

  test("If-None-Match on a HEAD gives 304 too", async () => {
    const fx = await createFixture();
    const etag = (await fx.put("cond-head", "v")).headers.get("etag") as string;
    const res = await fx.request("/v1/kv/cond-head", { method: "HEAD", token: fx.adminToken, headers: { "if-none-match": etag } });
    assert.equal(res.status, 304);
  });

  test("PUT with If-None-Match: * creates an absent key and refuses an existing one with 412, unchanged", async () => {
    const fx = await createFixture();
    const created = await fx.request("/v1/kv/once", { method: "PUT", token: fx.adminToken, body: "first", headers: { "if-none-match": "*", "content-type": "text/plain" } });
    assert.equal(created.status, 201);
    const etag = created.headers.get("etag");
    const again = await fx.request("/v1/kv/once", { method: "PUT", token: fx.adminToken, body: "second", headers: { "if-none-match": "*", "content-type": "text/plain" } });
    await expectError(again, 412, "precondition_failed");
    const res = await fx.request("/v1/kv/once", { token: fx.adminToken });
    assert.equal(await res.text(), "first");
    assert.equal(res.headers.get("etag"), etag);
  });

  test("PUT with a mismatching If-Match is 412 and leaves the value; a matching one replaces it", async () => {
    const fx = await createFixture();
    const etag = (await fx.put("cas", "v1")).headers.get("etag") as string;
    const stale = await fx.request("/v1/kv/cas", { method: "PUT", token: fx.adminToken, body: "v2", headers: { "if-match": '"stale-tag"' } });
    await expectError(stale, 412, "precondition_failed");
    // A weak tag never matches If-Match (strong comparison).
    await expectError(await fx.request("/v1/kv/cas", { method: "PUT", token: fx.adminToken, body: "v2", headers: { "if-match": `W/${etag}` } }), 412, "precondition_failed");
    let res = await fx.request("/v1/kv/cas", { token: fx.adminToken });
    assert.equal(await res.text(), "v1");
    assert.equal(res.headers.get("etag"), etag);

    const ok = await fx.request("/v1/kv/cas", { method: "PUT", token: fx.adminToken, body: "v2", headers: { "if-match": etag } });
    assert.equal(ok.status, 204);
    res = await fx.request("/v1/kv/cas", { token: fx.adminToken });
    assert.equal(await res.text(), "v2");
    assert.equal(res.headers.get("etag"), ok.headers.get("etag"));
    assert.notEqual(ok.headers.get("etag"), etag);
  });

  test("PUT with If-Match on an absent key is 412 and creates nothing", async () => {
    const fx = await createFixture();
    await expectError(await fx.request("/v1/kv/ghost", { method: "PUT", token: fx.adminToken, body: "x", headers: { "if-match": '"abc"' } }), 412, "precondition_failed");
    assert.equal((await fx.request("/v1/kv/ghost", { token: fx.adminToken })).status, 404);
  });

  test("DELETE with a mismatching If-Match is 412 and keeps the key; a matching one deletes it", async () => {
    const fx = await createFixture();
    const etag = (await fx.put("del-cas", "v")).headers.get("etag") as string;
    await expectError(await fx.request("/v1/kv/del-cas", { method: "DELETE", token: fx.adminToken, headers: { "if-match": '"nope"' } }), 412, "precondition_failed");
    assert.equal((await fx.request("/v1/kv/del-cas", { token: fx.adminToken })).status, 200);
    const ok = await fx.request("/v1/kv/del-cas", { method: "DELETE", token: fx.adminToken, headers: { "if-match": etag } });
    assert.equal(ok.status, 204);
    assert.equal((await fx.request("/v1/kv/del-cas", { token: fx.adminToken })).status, 404);
  });

  test("an unquoted entity tag is a 400 and changes nothing", async () => {
    const fx = await createFixture();
    await expectUnchanged(fx, async () => {
      const res = await fx.request(keyPath(fx.sentinelKey), { method: "PUT", token: fx.adminToken, body: "x", headers: { "if-match": "unquoted" } });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error.code, "bad_request");
    });
  });
});

describe("DELETE /v1/kv/{key}", () => {
  test("answers 204 and removes the key, and 204 again when it is already absent", async () => {
    const fx = await createFixture();
    await fx.put("doomed", "v");
    const first = await fx.request("/v1/kv/doomed", { method: "DELETE", token: fx.adminToken });
    assert.equal(first.status, 204);
    assert.equal((await fx.request("/v1/kv/doomed", { token: fx.adminToken })).status, 404);
    const second = await fx.request("/v1/kv/doomed", { method: "DELETE", token: fx.adminToken });
    assert.equal(second.status, 204);
    const never = await fx.request("/v1/kv/never-existed", { method: "DELETE", token: fx.adminToken });
    assert.equal(never.status, 204);
  });
});

describe("?ttl= and ?tags=", () => {
  test("a valid ttl is accepted, up to EDGECACHE_MAX_TTL", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_TTL: "1h" } });
    assert.equal((await fx.request("/v1/kv/t1?ttl=1", { method: "PUT", token: fx.adminToken, body: "v" })).status, 201);
    assert.equal((await fx.request("/v1/kv/t2?ttl=3600", { method: "PUT", token: fx.adminToken, body: "v" })).status, 201);
    assert.equal((await fx.request("/v1/kv/t2", { token: fx.adminToken })).headers.get("cache-status"), "edgecache; hit; ttl=3600");
  });

  for (const ttl of ["0", "-1", "abc", "1.5", "", "3601", "99999999999"]) {
    test(`ttl=${JSON.stringify(ttl)} is 400 invalid_ttl and changes nothing`, async () => {
      const fx = await createFixture({ env: { EDGECACHE_MAX_TTL: "1h" } });
      await expectUnchanged(fx, async () => {
        await expectError(await fx.request(`${keyPath(fx.sentinelKey)}?ttl=${ttl}`, { method: "PUT", token: fx.adminToken, body: "changed" }), 400, "invalid_ttl");
        await expectError(await fx.request(`/v1/kv/new-key?ttl=${ttl}`, { method: "PUT", token: fx.adminToken, body: "changed" }), 400, "invalid_ttl");
      });
    });
  }

  test("a ttl above the default EDGECACHE_MAX_TTL of 30d is refused", async () => {
    const fx = await createFixture();
    assert.equal((await fx.request(`/v1/kv/max?ttl=${30 * 86400}`, { method: "PUT", token: fx.adminToken, body: "v" })).status, 201);
    await expectError(await fx.request(`/v1/kv/max?ttl=${30 * 86400 + 1}`, { method: "PUT", token: fx.adminToken, body: "v" }), 400, "invalid_ttl");
  });

  test("valid tags are accepted and usable for invalidation", async () => {
    const fx = await createFixture();
    const res = await fx.request("/v1/kv/tagged?tags=user:1,team.a,x_y-z~", { method: "PUT", token: fx.adminToken, body: "v" });
    assert.equal(res.status, 201);
    const inv = await fx.request("/v1/invalidate", { method: "POST", token: fx.adminToken, body: JSON.stringify({ tags: ["team.a"] }) });
    assert.deepEqual(await inv.json(), { invalidated: 1 });
  });

  const badTags = ["a,,b", "has space", "semi;colon", "x".repeat(129), Array.from({ length: 33 }, (_, i) => `t${i}`).join(","), "caf%C3%A9"];
  for (const tags of badTags) {
    test(`tags=${JSON.stringify(tags.slice(0, 40))} is 400 invalid_tags and changes nothing`, async () => {
      const fx = await createFixture();
      await expectUnchanged(fx, async () => {
        await expectError(await fx.request(`${keyPath(fx.sentinelKey)}?tags=${tags.replaceAll(" ", "%20")}`, { method: "PUT", token: fx.adminToken, body: "changed" }), 400, "invalid_tags");
      });
    });
  }
});

describe("keys", () => {
  test("'/' is allowed inside a key and %2F decodes to the same key", async () => {
    const fx = await createFixture();
    await fx.put("a/b/c", "slashed");
    const res = await fx.request("/v1/kv/a/b/c", { token: fx.adminToken });
    assert.equal(await res.text(), "slashed");
    const encoded = await fx.request("/v1/kv/a%2Fb%2Fc", { token: fx.adminToken });
    assert.equal(encoded.status, 200);
    assert.equal(await encoded.text(), "slashed");
  });

  test("percent-encoded UTF-8 keys round-trip and are distinct keys", async () => {
    const fx = await createFixture();
    const put = await fx.request("/v1/kv/caf%C3%A9/%F0%9F%98%80", { method: "PUT", token: fx.adminToken, body: "unicode" });
    assert.equal(put.status, 201);
    assert.ok(fx.store.peek("café/😀") !== undefined, "stored under the decoded key");
    assert.equal(await (await fx.request(keyPath("café/😀"), { token: fx.adminToken })).text(), "unicode");
    assert.equal((await fx.request("/v1/kv/cafe/%F0%9F%98%80", { token: fx.adminToken })).status, 404);
  });

  test("percent-encoded spaces and reserved characters are part of the key", async () => {
    const fx = await createFixture();
    await fx.put("a b?c#d&e", "reserved");
    assert.ok(fx.store.peek("a b?c#d&e") !== undefined);
    assert.equal(await (await fx.request("/v1/kv/a%20b%3Fc%23d%26e", { token: fx.adminToken })).text(), "reserved");
  });

  const invalid: Array<[string, string, number, string]> = [
    ["bad percent-encoding %zz", "/v1/kv/bad%zz", 400, "invalid_key"],
    ["a truncated % escape", "/v1/kv/bad%4", 400, "invalid_key"],
    ["invalid UTF-8 (lone continuation byte)", "/v1/kv/bad%80", 400, "invalid_key"],
    ["invalid UTF-8 (overlong encoding)", "/v1/kv/bad%C0%AF", 400, "invalid_key"],
    ["invalid UTF-8 (truncated sequence)", "/v1/kv/bad%E2%82", 400, "invalid_key"],
    ["control character %00", "/v1/kv/bad%00key", 400, "invalid_key"],
    ["control character %0A", "/v1/kv/bad%0Akey", 400, "invalid_key"],
    ["DEL %7F", "/v1/kv/bad%7F", 400, "invalid_key"],
    ["C1 control U+0085", "/v1/kv/bad%C2%85", 400, "invalid_key"],
    ["an empty key", "/v1/kv/", 400, "invalid_key"],
  ];
  for (const [what, path, status, code] of invalid) {
    test(`${what} is ${status} ${code} for PUT, GET and DELETE, and changes nothing`, async () => {
      const fx = await createFixture();
      await expectUnchanged(fx, async () => {
        await expectError(await fx.request(path, { method: "PUT", token: fx.adminToken, body: "x" }), status, code);
        await expectError(await fx.request(path, { token: fx.adminToken }), status, code);
        await expectError(await fx.request(path, { method: "DELETE", token: fx.adminToken }), status, code);
      });
    });
  }

  test("/v1/kv without a key is 400 invalid_key and a '/v1/kv/' in the query never becomes the key", async () => {
    const fx = await createFixture();
    await expectUnchanged(fx, async () => {
      for (const path of ["/v1/kv", "/v1/kv?x=1", "/v1/kv?x=/v1/kv/abc"]) {
        await expectError(await fx.request(path, { method: "PUT", token: fx.adminToken, body: "x" }), 400, "invalid_key");
        await expectError(await fx.request(path, { token: fx.adminToken }), 400, "invalid_key");
      }
    });
    assert.equal(fx.store.peek("abc"), undefined);
  });

  test("a query string is not part of the key, and an empty segment is", async () => {
    const fx = await createFixture();
    await fx.put("q/key", "v", { query: "?tags=a" });
    assert.ok(fx.store.peek("q/key") !== undefined);
    assert.equal((await fx.request("/v1/kv//lead", { method: "PUT", token: fx.adminToken, body: "v" })).status, 201);
    assert.ok(fx.store.peek("/lead") !== undefined);
  });

  test("a key of exactly EDGECACHE_MAX_KEY_BYTES is accepted; one byte more is 414 key_too_long", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_KEY_BYTES: "16" } });
    assert.equal((await fx.request(`/v1/kv/${"k".repeat(16)}`, { method: "PUT", token: fx.adminToken, body: "v" })).status, 201);
    await expectUnchanged(fx, async () => {
      await expectError(await fx.request(`/v1/kv/${"k".repeat(17)}`, { method: "PUT", token: fx.adminToken, body: "v" }), 414, "key_too_long");
      await expectError(await fx.request(`/v1/kv/${"k".repeat(17)}`, { token: fx.adminToken }), 414, "key_too_long");
    });
  });

  test("key length is counted in UTF-8 bytes after decoding", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_KEY_BYTES: "8" } });
    // "éééé" is 8 bytes: allowed. "ééééé" is 10 bytes: too long, though only 5 characters.
    assert.equal((await fx.request(keyPath("éééé"), { method: "PUT", token: fx.adminToken, body: "v" })).status, 201);
    await expectError(await fx.request(keyPath("ééééé"), { method: "PUT", token: fx.adminToken, body: "v" }), 414, "key_too_long");
  });

  test("a key longer than the default EDGECACHE_MAX_KEY_BYTES (1024) is 414", async () => {
    const fx = await createFixture();
    assert.equal((await fx.request(`/v1/kv/${"k".repeat(1024)}`, { method: "PUT", token: fx.adminToken, body: "v" })).status, 201);
    await expectError(await fx.request(`/v1/kv/${"k".repeat(1025)}`, { method: "PUT", token: fx.adminToken, body: "v" }), 414, "key_too_long");
  });
});
