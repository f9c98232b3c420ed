import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Decoder, Encoder } from "cbor-x";
import { createFixture, expectError, expectUnchanged, type Fixture } from "../helpers/app_fixture.ts";

function batchJson(fx: Fixture, body: unknown, token = fx.adminToken): Promise<Response> {
  return fx.request("/v1/batch", { method: "POST", token, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
}

describe("POST /v1/batch", () => {
  test("runs gets, puts and deletes in order and answers one result per operation (JSON)", async () => {
    const fx = await createFixture();
    await fx.put("existing", "old");
    const res = await batchJson(fx, {
      ops: [
        { op: "put", key: "a", value: "alpha", ttl: 60, tags: ["t"], content_type: "text/plain" },
        { op: "get", key: "a" },
        { op: "put", key: "existing", value_base64: btoa("new") },
        { op: "get", key: "missing" },
        { op: "delete", key: "existing" },
        { op: "get", key: "existing" },
      ],
    });
    assert.equal(res.status, 200);
    const { results } = await res.json();
    assert.deepEqual(results.map((r: { status: number }) => r.status), [201, 200, 204, 404, 204, 404]);
    assert.equal(atob(results[1].value_base64), "alpha");
    assert.equal(results[1].content_type, "text/plain");
    assert.equal(results[1].etag, results[0].etag);
    const single = await fx.request("/v1/kv/a", { token: fx.adminToken });
    assert.equal(await single.text(), "alpha");
    assert.equal(single.headers.get("cache-status"), "edgecache; hit; ttl=60");
  });

  test("speaks CBOR with byte values when the request is CBOR", async () => {
    const fx = await createFixture();
    const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
    const body = new Uint8Array(encoder.encode({ ops: [{ op: "put", key: "bin", value: new Uint8Array([0, 255, 7]) }, { op: "get", key: "bin" }] }));
    const res = await fx.request("/v1/batch", { method: "POST", token: fx.adminToken, body, headers: { "content-type": "application/cbor" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/cbor");
    const { results } = new Decoder({ useRecords: false, mapsAsObjects: true }).decode(new Uint8Array(await res.arrayBuffer()));
    assert.equal(results[0].status, 201);
    assert.deepEqual([...results[1].value], [0, 255, 7]);
  });

  test("a CBOR put stores its value in its own memory, not as a view that keeps the whole request alive", async () => {
    const fx = await createFixture();
    const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
    const ops = Array.from({ length: 200 }, (_, i) => ({ op: "put", key: `own/${i}`, value: new Uint8Array(100).fill(i) }));
    const res = await fx.request("/v1/batch", { method: "POST", token: fx.adminToken, body: new Uint8Array(encoder.encode({ ops })), headers: { "content-type": "application/cbor" } });
    assert.equal(res.status, 200);
    for (let i = 0; i < 200; i++) {
      const value = fx.store.peek(`own/${i}`)?.value as Uint8Array;
      assert.equal(value.byteLength, 100);
      assert.equal(value.buffer.byteLength, 100, `own/${i}: a 100-byte value backed by ${value.buffer.byteLength} bytes`);
      assert.equal(value[99], i);
    }
  });

  test("enforces scopes and prefixes per operation, and one refusal does not stop the rest", async () => {
    const fx = await createFixture();
    await fx.put("team-a/x", "1");
    const readOnly = await fx.token({ scopes: ["cache:read"], prefixes: ["team-a/"] });
    const res = await batchJson(fx, { ops: [{ op: "get", key: "team-a/x" }, { op: "get", key: "team-b/y" }, { op: "put", key: "team-a/z", value: "v" }] }, readOnly);
    const { results } = await res.json();
    assert.deepEqual(results.map((r: { status: number }) => r.status), [200, 403, 403]);
    assert.equal(results[1].error.code, "prefix_denied");
    assert.equal(results[2].error.code, "scope_denied");
    assert.equal(fx.store.peek("team-a/z"), undefined);
    assert.ok(fx.audits().some((line) => line.action === "batch.put" && line.outcome === "denied"));
  });

  test("applies the single-key limits to each operation", async () => {
    const fx = await createFixture({ env: { EDGECACHE_MAX_VALUE_BYTES: "16", EDGECACHE_MAX_KEY_BYTES: "8" } });
    const res = await batchJson(fx, {
      ops: [
        { op: "put", key: "k", value: "x".repeat(17) },
        { op: "put", key: "way-too-long-key", value: "v" },
        { op: "put", key: "bad\u0000key", value: "v" },
        { op: "put", key: "t", value: "v", ttl: -1 },
        { op: "put", key: "t", value: "v", tags: ["no spaces"] },
        { op: "frobnicate", key: "k" },
        { op: "put", key: "ok", value: "fine" },
      ],
    });
    const { results } = await res.json();
    assert.deepEqual(results.map((r: { error?: { code: string } }) => r.error?.code), ["value_too_large", "key_too_long", "invalid_key", "invalid_ttl", "invalid_tags", "bad_request", undefined]);
    assert.equal(results[6].status, 201);
  });

  test("refuses a malformed batch as a whole and changes nothing", async () => {
    const fx = await createFixture();
    for (const body of ["not json", JSON.stringify({}), JSON.stringify({ ops: [] }), JSON.stringify({ ops: "x" }), JSON.stringify({ ops: Array.from({ length: 1001 }, () => ({ op: "get", key: "k" })) })]) {
      await expectUnchanged(fx, async () => {
        const res = await fx.request("/v1/batch", { method: "POST", token: fx.adminToken, body, headers: { "content-type": "application/json" } });
        assert.equal(res.status, 400, body.slice(0, 20));
      });
    }
  });

  test("needs a token", async () => {
    const fx = await createFixture();
    await expectError(await fx.request("/v1/batch", { method: "POST", body: JSON.stringify({ ops: [{ op: "get", key: "k" }] }) }), 401, "token_missing");
  });
});
