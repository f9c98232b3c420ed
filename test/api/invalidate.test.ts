import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createFixture, expectError, expectUnchanged, type Fixture } from "../helpers/app_fixture.ts";

async function present(fx: Fixture, key: string): Promise<boolean> {
  return fx.store.peek(key) !== undefined;
}

function invalidate(fx: Fixture, body: string, token = fx.adminToken): Promise<Response> {
  return fx.request("/v1/invalidate", { method: "POST", token, body, headers: { "content-type": "application/json" } });
}

describe("POST /v1/invalidate", () => {
  test('{"prefix"} removes every key with that prefix and answers {"invalidated": N}', async () => {
    const fx = await createFixture();
    for (const key of ["users/1", "users/2", "users/3/avatar", "usersx", "teams/1"]) await fx.put(key, "v");
    const res = await invalidate(fx, JSON.stringify({ prefix: "users/" }));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { invalidated: 3 });
    for (const key of ["users/1", "users/2", "users/3/avatar"]) {
      assert.equal((await fx.request(`/v1/kv/${key}`, { token: fx.adminToken })).status, 404, key);
    }
    assert.ok(await present(fx, "usersx"));
    assert.ok(await present(fx, "teams/1"));
  });

  test('{"tags"} removes every key carrying any of the tags', async () => {
    const fx = await createFixture();
    await fx.put("a", "v", { query: "?tags=red,blue" });
    await fx.put("b", "v", { query: "?tags=blue" });
    await fx.put("c", "v", { query: "?tags=green" });
    await fx.put("d", "v");
    const res = await invalidate(fx, JSON.stringify({ tags: ["blue", "yellow"] }));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { invalidated: 2 });
    assert.equal(await present(fx, "a"), false);
    assert.equal(await present(fx, "b"), false);
    assert.ok(await present(fx, "c"));
    assert.ok(await present(fx, "d"));
  });

  test("a replaced value's old tags no longer select it", async () => {
    const fx = await createFixture();
    await fx.put("retagged", "v1", { query: "?tags=old" });
    await fx.put("retagged", "v2", { query: "?tags=new" });
    assert.deepEqual(await (await invalidate(fx, JSON.stringify({ tags: ["old"] }))).json(), { invalidated: 0 });
    assert.ok(await present(fx, "retagged"));
    assert.deepEqual(await (await invalidate(fx, JSON.stringify({ tags: ["new"] }))).json(), { invalidated: 1 });
  });

  test("expired entries are not counted as invalidated", async () => {
    const fx = await createFixture();
    await fx.put("p/live", "v");
    await fx.put("p/dying", "v", { query: "?ttl=1" });
    fx.advance(1000);
    assert.deepEqual(await (await invalidate(fx, JSON.stringify({ prefix: "p/" }))).json(), { invalidated: 1 });
  });

  test("a prefix matching nothing answers {\"invalidated\": 0}", async () => {
    const fx = await createFixture();
    await fx.put("kept", "v");
    assert.deepEqual(await (await invalidate(fx, JSON.stringify({ prefix: "zzz" }))).json(), { invalidated: 0 });
    assert.ok(await present(fx, "kept"));
  });

  test("malformed JSON is 400 invalid_json and changes nothing", async () => {
    const fx = await createFixture();
    await expectUnchanged(fx, async () => {
      for (const body of ['{"prefix":', "not json", "", "\u0000"]) {
        await expectError(await invalidate(fx, body), 400, "invalid_json");
      }
    });
  });

  const wrongShapes: Array<[string, unknown]> = [
    ["both prefix and tags", { prefix: "sentinel", tags: ["a"] }],
    ["an extra field", { prefix: "sentinel", extra: true }],
    ["an empty prefix", { prefix: "" }],
    ["an empty tag list", { tags: [] }],
    ["a non-string prefix", { prefix: 42 }],
    ["tags not an array", { tags: "a" }],
    ["an invalid tag", { tags: ["has space"] }],
    ["an empty object", {}],
    ["an array", ["sentinel"]],
    ["null", null],
    ["a string", "sentinel"],
  ];
  for (const [what, body] of wrongShapes) {
    test(`a body with ${what} is 400 bad_request and changes nothing`, async () => {
      const fx = await createFixture();
      await fx.put(fx.sentinelKey, "sentinel value", { query: "?tags=a" });
      await expectUnchanged(fx, async () => {
        await expectError(await invalidate(fx, JSON.stringify(body)), 400, "bad_request");
      });
    });
  }

  test("an invalidation body over 64 KiB is 413 and changes nothing", async () => {
    const fx = await createFixture();
    await expectUnchanged(fx, async () => {
      await expectError(await invalidate(fx, JSON.stringify({ prefix: "s".repeat(70_000) })), 413, "value_too_large");
    });
  });
});
