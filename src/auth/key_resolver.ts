import { createRemoteJWKSet, importSPKI, type JWTVerifyGetKey, type CryptoKey } from "jose";
import { EdgecacheError } from "../core/errors.ts";

/** Asymmetric algorithms accepted from a PEM key or a JWKS. */
export const ASYMMETRIC_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;

/** The key material the verifier may use, already imported. */
export interface KeyMaterial {
  /** HS256 secret bytes. */
  secret?: Uint8Array;
  /** An imported PEM public key and the one algorithm it is for. */
  publicKey?: { key: CryptoKey; algorithm: string };
  /** A remote key set (fetched lazily, cached, with timeouts). */
  jwks?: JWTVerifyGetKey;
}

/** Timeouts of the JWKS fetcher. */
export const JWKS_OPTIONS = { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 } as const;

/**
 * Imports the configured keys once, at start-up. A PEM key is tried against each asymmetric
 * algorithm, so its type decides its algorithm and it can never be used as an HMAC secret.
 */
export async function importKeyMaterial(auth: { jwtSecret?: string; jwtPublicKey?: string; jwksUrl?: string }): Promise<KeyMaterial> {
  const material: KeyMaterial = {};
  if (auth.jwtSecret !== undefined) material.secret = new TextEncoder().encode(auth.jwtSecret);
  if (auth.jwtPublicKey !== undefined) {
    for (const algorithm of ASYMMETRIC_ALGORITHMS) {
      try {
        material.publicKey = { key: await importSPKI(auth.jwtPublicKey, algorithm), algorithm };
        break;
      } catch {
        // Not a key of this type; try the next algorithm.
      }
    }
    if (material.publicKey === undefined) {
      throw new EdgecacheError("bad_request", "Cannot use EDGECACHE_JWT_PUBLIC_KEY as it must be an RSA, P-256 or Ed25519 SPKI PEM public key: current value is not");
    }
  }
  if (auth.jwksUrl !== undefined) material.jwks = createRemoteJWKSet(new URL(auth.jwksUrl), JWKS_OPTIONS);
  return material;
}

/** The algorithms a key set allows, so `alg` in a header can never pick a key of another kind. */
export function allowedAlgorithms(material: KeyMaterial): string[] {
  const algorithms: string[] = [];
  if (material.secret !== undefined) algorithms.push("HS256");
  if (material.publicKey !== undefined) algorithms.push(material.publicKey.algorithm);
  if (material.jwks !== undefined) algorithms.push(...ASYMMETRIC_ALGORITHMS);
  return Array.from(new Set(algorithms));
}
