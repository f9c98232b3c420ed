import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, type JWTVerifyGetKey } from "jose";
import { importKeyMaterial, type KeyMaterial } from "../../src/auth/key_resolver.ts";
import { createTokenVerifier, type TokenVerifier, type VerifierOptions } from "../../src/auth/token_verifier.ts";
import { AuthFailed } from "../../src/core/errors.ts";
import { keyPair, segment, signToken } from "./auth_keys.ts";
import { createFakeClock, type FakeClock, T0 } from "./fakes.ts";

const SECRET_TEXT = "an HS256 secret of at least 32 bytes!";
const SECRET = new TextEncoder().encode(SECRET_TEXT);
const NOW_S = T0 / 1000;

function verifierFor(material: KeyMaterial, options: VerifierOptions = {}, clock: FakeClock = createFakeClock()): TokenVerifier {
  return createTokenVerifier(material, options, clock.now);
}

/** Resolves to the AuthFailed code of a refused token; fails the test if the token is accepted. */
async function refusal(verifier: TokenVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (error) {
    assert.ok(error instanceof AuthFailed, `expected AuthFailed, got ${String(error)}`);
    return error.code;
  }
  assert.fail("expected the token to be refused, but it was accepted");
}

describe("token verifier: accepted tokens", () => {
  test("verifier.verify() accepts an HS256 token signed with the configured secret and returns its principal", async () => {
    const verifier = verifierFor(await importKeyMaterial({ jwtSecret: SECRET_TEXT }));
    const token = await signToken("HS256", SECRET, NOW_S, {
      sub: "alice",
      claims: { scope: "cache:read cache:write", prefixes: ["tenant-a/", "shared/"] },
      exp: NOW_S + 600,
    });
    const principal = await verifier.verify(token);
    assert.equal(principal.subject, "alice");
    assert.deepEqual(Array.from(principal.scopes).sort(), ["cache:read", "cache:write"]);
    assert.deepEqual(principal.prefixes, ["tenant-a/", "shared/"]);
    assert.equal(principal.expiresAt, (NOW_S + 600) * 1000);
  });

  test("verifier.verify() gives no prefixes limit and no scopes when the claims are absent, and ignores extra spaces", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const noScope = await signToken("HS256", SECRET, NOW_S, { claims: { scope: undefined } });
    const principal = await verifier.verify(noScope);
    assert.equal(principal.scopes.size, 0);
    assert.equal(principal.prefixes, undefined);
    const spaced = await signToken("HS256", SECRET, NOW_S, { claims: { scope: "  cache:read   cache:admin " } });
    assert.deepEqual(Array.from((await verifier.verify(spaced)).scopes).sort(), ["cache:admin", "cache:read"]);
  });

  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    test(`verifier.verify() accepts an ${alg} token signed by the key whose PEM is configured`, async () => {
      const pair = await keyPair(alg);
      const verifier = verifierFor(await importKeyMaterial({ jwtPublicKey: pair.pem }));
      const token = await signToken(alg, pair.privateKey, NOW_S, { sub: `${alg}-user`, claims: { scope: "cache:admin" } });
      const principal = await verifier.verify(token);
      assert.equal(principal.subject, `${alg}-user`);
      assert.ok(principal.scopes.has("cache:admin"));
    });
  }

  test("verifier.verify() accepts both HS256 and the PEM key's algorithm when both are configured", async () => {
    const pair = await keyPair("ES256");
    const verifier = verifierFor(await importKeyMaterial({ jwtSecret: SECRET_TEXT, jwtPublicKey: pair.pem }));
    assert.equal((await verifier.verify(await signToken("HS256", SECRET, NOW_S, { sub: "h" }))).subject, "h");
    assert.equal((await verifier.verify(await signToken("ES256", pair.privateKey, NOW_S, { sub: "e" }))).subject, "e");
  });

  test("verifier.verify() accepts a token whose issuer and audience match the configured ones", async () => {
    const verifier = verifierFor({ secret: SECRET }, { issuer: "https://issuer.example", audience: "edgecache" });
    const token = await signToken("HS256", SECRET, NOW_S, { iss: "https://issuer.example", aud: "edgecache" });
    assert.equal((await verifier.verify(token)).subject, "tester");
    const multi = await signToken("HS256", SECRET, NOW_S, { iss: "https://issuer.example", aud: ["other", "edgecache"] });
    assert.equal((await verifier.verify(multi)).subject, "tester");
  });

  test("verifier.verify() tolerates 5 s of clock skew on exp and nbf, and no more", async () => {
    const clock = createFakeClock();
    const verifier = verifierFor({ secret: SECRET }, {}, clock);
    const justExpired = await signToken("HS256", SECRET, NOW_S, { iat: NOW_S - 60, exp: NOW_S - 4 });
    const almostValid = await signToken("HS256", SECRET, NOW_S, { nbf: NOW_S + 4 });
    assert.equal((await verifier.verify(justExpired)).subject, "tester");
    assert.equal((await verifier.verify(almostValid)).subject, "tester");
    const expired = await signToken("HS256", SECRET, NOW_S, { iat: NOW_S - 60, exp: NOW_S - 6 });
    assert.equal(await refusal(verifier, expired), "token_expired");
  });
});

describe("token verifier: attacks and invalid tokens", () => {
  test("verifier.verify() refuses an unsigned alg:none token with token_invalid", async () => {
    const claims = { sub: "mallory", scope: "cache:admin", exp: NOW_S + 3600, iat: NOW_S };
    const unsigned = `${segment({ alg: "none", typ: "JWT" })}.${segment(claims)}.`;
    const unsignedNoDot = `${segment({ alg: "none", typ: "JWT" })}.${segment(claims)}`;
    const pair = await keyPair("RS256");
    for (const material of [{ secret: SECRET }, await importKeyMaterial({ jwtPublicKey: pair.pem })]) {
      const verifier = verifierFor(material);
      assert.equal(await refusal(verifier, unsigned), "token_invalid");
      assert.equal(await refusal(verifier, unsignedNoDot), "token_invalid");
      for (const alg of ["None", "NONE", "nOnE"]) {
        assert.equal(await refusal(verifier, `${segment({ alg, typ: "JWT" })}.${segment(claims)}.`), "token_invalid", alg);
      }
    }
  });

  test("verifier.verify() refuses an HS256 token signed with another secret with token_invalid", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const forged = await signToken("HS256", new TextEncoder().encode("a different secret that is 32+ bytes"), NOW_S);
    assert.equal(await refusal(verifier, forged), "token_invalid");
  });

  test("verifier.verify() refuses an HS256 token whose HMAC secret is the configured RSA public key PEM (algorithm confusion)", async () => {
    const pair = await keyPair("RS256");
    const claims = { scope: "cache:admin" };
    for (const pemBytes of [new TextEncoder().encode(pair.pem), new TextEncoder().encode(pair.pem.trim())]) {
      const confused = await signToken("HS256", pemBytes, NOW_S, { claims });
      // Only the PEM key configured: HS256 is not an allowed algorithm at all.
      const pemOnly = verifierFor(await importKeyMaterial({ jwtPublicKey: pair.pem }));
      assert.equal(await refusal(pemOnly, confused), "token_invalid");
      // A real secret configured too: HS256 is checked against that secret only, never the PEM.
      const both = verifierFor(await importKeyMaterial({ jwtSecret: SECRET_TEXT, jwtPublicKey: pair.pem }));
      assert.equal(await refusal(both, confused), "token_invalid");
    }
  });

  test("verifier.verify() refuses an asymmetric token when only an HS256 secret is configured", async () => {
    const pair = await keyPair("RS256");
    const verifier = verifierFor({ secret: SECRET });
    assert.equal(await refusal(verifier, await signToken("RS256", pair.privateKey, NOW_S)), "token_invalid");
  });

  test("verifier.verify() refuses a token of another algorithm than the configured PEM key's", async () => {
    const rsa = await keyPair("RS256");
    const ec = await keyPair("ES256");
    const verifier = verifierFor(await importKeyMaterial({ jwtPublicKey: rsa.pem }));
    assert.equal(await refusal(verifier, await signToken("ES256", ec.privateKey, NOW_S)), "token_invalid");
  });

  test("verifier.verify() refuses an RS256 token signed by another RSA key with token_invalid", async () => {
    const configured = await keyPair("RS256");
    const other = await keyPair("RS256", "other");
    const verifier = verifierFor(await importKeyMaterial({ jwtPublicKey: configured.pem }));
    assert.equal(await refusal(verifier, await signToken("RS256", other.privateKey, NOW_S)), "token_invalid");
  });

  test("verifier.verify() refuses a token whose payload was altered after signing", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const token = await signToken("HS256", SECRET, NOW_S, { claims: { scope: "cache:read" } });
    const [header, , signature] = token.split(".");
    const altered = `${header}.${segment({ sub: "tester", scope: "cache:admin", iat: NOW_S, exp: NOW_S + 3600 })}.${signature}`;
    assert.equal(await refusal(verifier, altered), "token_invalid");
  });

  test("verifier.verify() refuses an expired token with token_expired", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const expired = await signToken("HS256", SECRET, NOW_S, { iat: NOW_S - 7200, exp: NOW_S - 3600 });
    assert.equal(await refusal(verifier, expired), "token_expired");
  });

  test("verifier.verify() refuses a token that is not yet valid (nbf in the future) with token_invalid", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const early = await signToken("HS256", SECRET, NOW_S, { nbf: NOW_S + 600 });
    assert.equal(await refusal(verifier, early), "token_invalid");
  });

  test("verifier.verify() refuses a token without exp with token_invalid", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const forever = await signToken("HS256", SECRET, NOW_S, { exp: null });
    assert.equal(await refusal(verifier, forever), "token_invalid");
  });

  test("verifier.verify() refuses a token with a wrong or missing issuer when one is configured", async () => {
    const verifier = verifierFor({ secret: SECRET }, { issuer: "https://issuer.example" });
    assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S, { iss: "https://evil.example" })), "token_invalid");
    assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S)), "token_invalid");
  });

  test("verifier.verify() refuses a token with a wrong or missing audience when one is configured", async () => {
    const verifier = verifierFor({ secret: SECRET }, { audience: "edgecache" });
    assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S, { aud: "another-service" })), "token_invalid");
    assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S)), "token_invalid");
  });

  test("verifier.verify() refuses a validly signed token longer than 8192 characters with token_invalid", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const base = await signToken("HS256", SECRET, NOW_S, { claims: { pad: "" } });
    // base64url of the padding adds 4/3 characters per byte.
    const padBytes = (text: number) => Math.floor(((text - base.length) * 3) / 4);
    const fits = await signToken("HS256", SECRET, NOW_S, { claims: { pad: "x".repeat(padBytes(8150)) } });
    const tooLong = await signToken("HS256", SECRET, NOW_S, { claims: { pad: "x".repeat(padBytes(8250)) } });
    assert.ok(fits.length <= 8192 && tooLong.length > 8192, `${fits.length} / ${tooLong.length}`);
    assert.equal((await verifier.verify(fits)).subject, "tester");
    assert.equal(await refusal(verifier, tooLong), "token_invalid");
  });

  test("verifier.verify() honours a smaller maxTokenLength", async () => {
    const verifier = verifierFor({ secret: SECRET }, { maxTokenLength: 100 });
    assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S)), "token_invalid");
  });

  test("verifier.verify() refuses malformed token strings with token_invalid", async () => {
    const verifier = verifierFor({ secret: SECRET });
    const good = await signToken("HS256", SECRET, NOW_S);
    const [header, payload, signature] = good.split(".");
    const malformed = [
      "",
      "abc",
      "a.b",
      "a.b.c",
      "...",
      `${good}.extra`,
      `${header}.${payload}`,
      `${header}..${signature}`,
      `.${payload}.${signature}`,
      `${header}.${payload}.!!!`,
      `${segment("not an object")}.${payload}.${signature}`,
      `${header}.${segment([1, 2])}.${signature}`,
      `${header}.bm90IGpzb24.${signature}`,
      `Bearer ${good}`,
      ` ${good}`,
    ];
    for (const token of malformed) assert.equal(await refusal(verifier, token), "token_invalid", JSON.stringify(token));
  });

  test("verifier.verify() refuses a validly signed token whose scope claim is not a string", async () => {
    const verifier = verifierFor({ secret: SECRET });
    for (const scope of [["cache:read"], 5, { read: true }, true]) {
      assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S, { claims: { scope } })), "token_invalid", JSON.stringify(scope));
    }
  });

  test("verifier.verify() refuses a validly signed token whose prefixes claim is not an array of strings", async () => {
    const verifier = verifierFor({ secret: SECRET });
    for (const prefixes of ["tenant-a/", ["tenant-a/", 2], [null], { 0: "a/" }, 7]) {
      assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S, { claims: { prefixes } })), "token_invalid", JSON.stringify(prefixes));
    }
  });

  test("verifier.verify() refuses every token when no key is configured", async () => {
    const verifier = verifierFor({});
    assert.equal(await refusal(verifier, await signToken("HS256", SECRET, NOW_S)), "token_invalid");
  });
});

describe("token verifier: verified-token cache", () => {
  /** Key material whose only key source counts how often a signature had to be checked. */
  async function countingMaterial(): Promise<{ material: KeyMaterial; calls: () => number; sign: (spec?: Parameters<typeof signToken>[3]) => Promise<string> }> {
    const pair = await keyPair("ES256");
    let calls = 0;
    const jwks: JWTVerifyGetKey = () => {
      calls++;
      return Promise.resolve(pair.publicKey);
    };
    return { material: { jwks }, calls: () => calls, sign: (spec) => signToken("ES256", pair.privateKey, NOW_S, spec) };
  }

  test("verifier.verify() returns the cached principal for a repeated token without verifying it again", async () => {
    const { material, calls, sign } = await countingMaterial();
    const verifier = verifierFor(material);
    const token = await sign();
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    const third = await verifier.verify(token);
    assert.equal(calls(), 1);
    assert.equal(second, first);
    assert.equal(third, first);
  });

  test("verifier.verify() stops accepting a cached token once it has expired", async () => {
    const clock = createFakeClock();
    const { material, sign } = await countingMaterial();
    const verifier = verifierFor(material, {}, clock);
    const token = await sign({ exp: NOW_S + 60 });
    await verifier.verify(token);
    clock.advance(59_000);
    assert.equal((await verifier.verify(token)).subject, "tester");
    clock.advance(60_000);
    assert.equal(await refusal(verifier, token), "token_expired");
    assert.equal(await refusal(verifier, token), "token_expired", "and it stays refused");
  });

  test("verifier.verify() never caches a refused token", async () => {
    const { material, calls, sign } = await countingMaterial();
    const verifier = verifierFor(material, { audience: "edgecache" });
    const token = await sign({ aud: "someone-else" });
    assert.equal(await refusal(verifier, token), "token_invalid");
    assert.equal(await refusal(verifier, token), "token_invalid");
    assert.equal(calls(), 2);
  });

  test("verifier.verify() keeps at most cacheSize tokens, verifying an evicted one again", async () => {
    const { material, calls, sign } = await countingMaterial();
    const verifier = verifierFor(material, { cacheSize: 2 });
    const tokens = [await sign({ sub: "a" }), await sign({ sub: "b" }), await sign({ sub: "c" })];
    for (const token of tokens) await verifier.verify(token);
    assert.equal(calls(), 3);
    await verifier.verify(tokens[2]);
    await verifier.verify(tokens[1]);
    assert.equal(calls(), 3, "the two newest are cached");
    await verifier.verify(tokens[0]);
    assert.equal(calls(), 4, "the oldest was dropped and had to be verified again");
  });
});

describe("token verifier: JWKS", () => {
  async function serveJwks(body: () => unknown): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
    let requests = 0;
    const server: Server = createServer((request, response) => {
      requests++;
      if (request.url !== "/.well-known/jwks.json") {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { "content-type": "application/json", connection: "close" }).end(JSON.stringify(body()));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      requests: () => requests,
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.closeAllConnections?.();
          server.close((error) => (error ? reject(error) : resolve()));
        }),
    };
  }

  test("verifier.verify() accepts an RS256 token whose kid names a key in the JWKS and refuses unknown or mismatched kids", async () => {
    const signing = await keyPair("RS256");
    const other = await keyPair("RS256", "other");
    const jwk = { ...(await exportJWK(signing.publicKey)), kid: "key-1", alg: "RS256", use: "sig" };
    const otherJwk = { ...(await exportJWK(other.publicKey)), kid: "key-2", alg: "RS256", use: "sig" };
    const server = await serveJwks(() => ({ keys: [jwk, otherJwk] }));
    try {
      const material = await importKeyMaterial({ jwksUrl: server.url });
      const verifier = verifierFor(material);
      const token = await signToken("RS256", signing.privateKey, NOW_S, { kid: "key-1", sub: "jwks-user" });
      assert.equal((await verifier.verify(token)).subject, "jwks-user");
      assert.ok(server.requests() >= 1, "the key set was fetched from the server");

      const unknownKid = await signToken("RS256", signing.privateKey, NOW_S, { kid: "key-404" });
      assert.equal(await refusal(verifier, unknownKid), "token_invalid");
      const wrongKid = await signToken("RS256", signing.privateKey, NOW_S, { kid: "key-2" });
      assert.equal(await refusal(verifier, wrongKid), "token_invalid");
      const confused = await signToken("HS256", new TextEncoder().encode(JSON.stringify(jwk)), NOW_S, { kid: "key-1" });
      assert.equal(await refusal(verifier, confused), "token_invalid");
    } finally {
      await server.close();
    }
  });
});
