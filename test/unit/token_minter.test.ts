import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { mintToken } from "../../src/auth/token_minter.ts";
import { createTokenVerifier } from "../../src/auth/token_verifier.ts";
import { AuthFailed } from "../../src/core/errors.ts";
import { createFakeClock, T0 } from "./fakes.ts";

const SECRET = new TextEncoder().encode("an HS256 secret of at least 32 bytes!");

describe("token minter", () => {
  test("mintToken() signs an HS256 JWT with sub, space-separated scope, iat and exp = iat + ttl", async () => {
    const token = await mintToken(SECRET, { subject: "ops", scopes: ["cache:read", "cache:write"], ttlSeconds: 3600 }, () => T0 + 999);
    assert.deepEqual(decodeProtectedHeader(token), { alg: "HS256", typ: "JWT" });
    const claims = decodeJwt(token);
    assert.equal(claims.sub, "ops");
    assert.equal(claims.scope, "cache:read cache:write");
    assert.equal(claims.iat, T0 / 1000);
    assert.equal(claims.exp, T0 / 1000 + 3600);
    assert.equal("prefixes" in claims, false);
    assert.equal(claims.iss, undefined);
    assert.equal(claims.aud, undefined);
  });

  test("mintToken() adds prefixes only when some are given", async () => {
    const withPrefixes = decodeJwt(await mintToken(SECRET, { subject: "s", scopes: [], ttlSeconds: 60, prefixes: ["a/", "b/"] }, () => T0));
    assert.deepEqual(withPrefixes.prefixes, ["a/", "b/"]);
    const empty = decodeJwt(await mintToken(SECRET, { subject: "s", scopes: [], ttlSeconds: 60, prefixes: [] }, () => T0));
    assert.equal("prefixes" in empty, false);
  });

  test("mintToken() output is accepted by the verifier with the same secret, issuer and audience", async () => {
    const clock = createFakeClock();
    const token = await mintToken(
      SECRET,
      { subject: "admin", scopes: ["cache:admin"], ttlSeconds: 600, prefixes: ["tenant/"], issuer: "edgecache", audience: "edgecache-api" },
      clock.now,
    );
    const verifier = createTokenVerifier({ secret: SECRET }, { issuer: "edgecache", audience: "edgecache-api" }, clock.now);
    const principal = await verifier.verify(token);
    assert.equal(principal.subject, "admin");
    assert.deepEqual(Array.from(principal.scopes), ["cache:admin"]);
    assert.deepEqual(principal.prefixes, ["tenant/"]);
    assert.equal(principal.expiresAt, T0 + 600_000);
  });

  test("mintToken() output is refused by a verifier with another secret", async () => {
    const clock = createFakeClock();
    const token = await mintToken(SECRET, { subject: "s", scopes: ["cache:read"], ttlSeconds: 60 }, clock.now);
    const verifier = createTokenVerifier({ secret: new TextEncoder().encode("some other secret, also 32 bytes+") }, {}, clock.now);
    await assert.rejects(verifier.verify(token), (error: unknown) => error instanceof AuthFailed && error.code === "token_invalid");
  });

  test("mintToken() output expires after its ttl", async () => {
    const clock = createFakeClock();
    const token = await mintToken(SECRET, { subject: "s", scopes: ["cache:read"], ttlSeconds: 60 }, clock.now);
    const verifier = createTokenVerifier({ secret: SECRET }, {}, clock.now);
    clock.advance(3_600_000);
    await assert.rejects(verifier.verify(token), (error: unknown) => error instanceof AuthFailed && error.code === "token_expired");
  });
});
