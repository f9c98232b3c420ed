/**
 * Key pairs and token signing shared by the auth unit tests. Not a test file itself.
 * Keys are generated once per process (RSA generation is slow) and exported as SPKI PEM text,
 * exactly what an operator puts in EDGECACHE_JWT_PUBLIC_KEY.
 */
import { base64url, type CryptoKey, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/** A generated key pair with its public key as PEM. */
export interface TestKeyPair {
  alg: "RS256" | "ES256" | "EdDSA" | "ES384";
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  pem: string;
}

const cache = new Map<string, Promise<TestKeyPair>>();

/** A key pair for `alg`; `name` lets a test ask for a second, different pair of the same kind. */
export function keyPair(alg: TestKeyPair["alg"], name = "default"): Promise<TestKeyPair> {
  const id = `${alg}/${name}`;
  let pair = cache.get(id);
  if (pair === undefined) {
    pair = (async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      return { alg, privateKey, publicKey, pem: await exportSPKI(publicKey) };
    })();
    cache.set(id, pair);
  }
  return pair;
}

/** Token claims plus the registered ones a test wants to control; `exp: null` leaves exp out. */
export interface TokenSpec {
  claims?: JWTPayload;
  /** Seconds since the epoch; null omits the claim. */
  exp?: number | null;
  nbf?: number;
  iat?: number;
  iss?: string;
  aud?: string | string[];
  sub?: string;
  kid?: string;
}

/** Signs a JWS-compact JWT with `alg` and `key` (a CryptoKey or HMAC secret bytes). */
export async function signToken(alg: string, key: CryptoKey | Uint8Array, nowSeconds: number, spec: TokenSpec = {}): Promise<string> {
  const jwt = new SignJWT({ scope: "cache:read", ...spec.claims })
    .setProtectedHeader(spec.kid === undefined ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid: spec.kid })
    .setSubject(spec.sub ?? "tester")
    .setIssuedAt(spec.iat ?? nowSeconds);
  if (spec.exp !== null) jwt.setExpirationTime(spec.exp ?? nowSeconds + 3600);
  if (spec.nbf !== undefined) jwt.setNotBefore(spec.nbf);
  if (spec.iss !== undefined) jwt.setIssuer(spec.iss);
  if (spec.aud !== undefined) jwt.setAudience(spec.aud);
  return await jwt.sign(key);
}

/** Encodes a JSON object as a base64url JWT segment. */
export function segment(value: unknown): string {
  return base64url.encode(new TextEncoder().encode(JSON.stringify(value)));
}
