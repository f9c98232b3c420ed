import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { secretsIn } from "../helpers/node_process.ts";

describe("the log-secret check every e2e and cluster test applies when it stops a node", () => {
  test("finds the JWT secret, a write-behind token and any JWT, and nothing in a clean log", () => {
    const env = { EDGECACHE_JWT_SECRET: "s3cret-that-is-long-enough", EDGECACHE_WRITE_BEHIND_TOKEN: "wb-token-value" };
    assert.equal(secretsIn('{"msg":"edgecache listening"}\n', env), undefined);
    assert.equal(secretsIn('{"msg":"s3cret-that-is-long-enough"}', env), "EDGECACHE_JWT_SECRET");
    assert.equal(secretsIn('{"msg":"wb-token-value"}', env), "EDGECACHE_WRITE_BEHIND_TOKEN");
    assert.equal(secretsIn('{"auth":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"}', {}), "a bearer token (JWT)");
  });
});
