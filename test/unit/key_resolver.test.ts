import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { allowedAlgorithms, importKeyMaterial } from "../../src/auth/key_resolver.ts";
import { EdgecacheError } from "../../src/core/errors.ts";
import { keyPair } from "./auth_keys.ts";

const SECRET_TEXT = "an HS256 secret of at least 32 bytes!";

describe("key resolver", () => {
  test("importKeyMaterial() with nothing configured allows no algorithm", async () => {
    const material = await importKeyMaterial({});
    assert.equal(material.secret, undefined);
    assert.equal(material.publicKey, undefined);
    assert.equal(material.jwks, undefined);
    assert.deepEqual(allowedAlgorithms(material), []);
  });

  test("importKeyMaterial() keeps the HS256 secret as its UTF-8 bytes and allows only HS256", async () => {
    const material = await importKeyMaterial({ jwtSecret: "s€cret-that-is-long-enough-for-hs256" });
    assert.deepEqual(material.secret, new TextEncoder().encode("s€cret-that-is-long-enough-for-hs256"));
    assert.deepEqual(allowedAlgorithms(material), ["HS256"]);
  });

  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    test(`importKeyMaterial() gives a ${alg} PEM public key the algorithm ${alg} and allows only that`, async () => {
      const pair = await keyPair(alg);
      const material = await importKeyMaterial({ jwtPublicKey: pair.pem });
      const publicKey = material.publicKey;
      assert.ok(publicKey !== undefined);
      assert.equal((publicKey.key as unknown as { type: string }).type, "public");
      assert.equal(publicKey.algorithm, alg);
      assert.deepEqual(allowedAlgorithms(material), [alg]);
    });
  }

  test("importKeyMaterial() never allows HS256 because of a PEM key", async () => {
    const pair = await keyPair("RS256");
    const material = await importKeyMaterial({ jwtPublicKey: pair.pem });
    assert.ok(!allowedAlgorithms(material).includes("HS256"));
    assert.equal(material.secret, undefined);
  });

  test("importKeyMaterial() refuses a PEM that is not an RSA, P-256 or Ed25519 public key with bad_request", async () => {
    const p384 = await keyPair("ES384");
    for (const pem of ["not a pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", p384.pem]) {
      await assert.rejects(importKeyMaterial({ jwtPublicKey: pem }), (error: unknown) => {
        assert.ok(error instanceof EdgecacheError);
        assert.equal(error.code, "bad_request");
        return true;
      });
    }
  });

  test("importKeyMaterial() with a JWKS URL allows every asymmetric algorithm but not HS256", async () => {
    const material = await importKeyMaterial({ jwksUrl: "http://127.0.0.1:9/jwks.json" });
    assert.equal(typeof material.jwks, "function");
    assert.deepEqual(allowedAlgorithms(material).sort(), ["ES256", "EdDSA", "RS256"]);
  });

  test("allowedAlgorithms() lists each algorithm once when key sources overlap", async () => {
    const pair = await keyPair("ES256");
    const material = await importKeyMaterial({ jwtSecret: SECRET_TEXT, jwtPublicKey: pair.pem, jwksUrl: "http://127.0.0.1:9/jwks.json" });
    const algorithms = allowedAlgorithms(material);
    assert.equal(new Set(algorithms).size, algorithms.length);
    assert.deepEqual([...algorithms].sort(), ["ES256", "EdDSA", "HS256", "RS256"]);
  });
});
