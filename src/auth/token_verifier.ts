import { errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose";
import { AuthFailed } from "../core/errors.ts";
import { allowedAlgorithms, type KeyMaterial } from "./key_resolver.ts";
import type { Principal } from "./principal.ts";

/** Checks bearer tokens. */
export interface TokenVerifier {
  /** The principal of a valid token; throws `AuthFailed` otherwise. */
  verify(token: string): Promise<Principal>;
}

/** What the verifier checks besides the signature. */
export interface VerifierOptions {
  issuer?: string;
  audience?: string;
  /** Verified tokens remembered until they expire, so the hot path skips the signature check. @default 10000 */
  cacheSize?: number;
  /** Longest token accepted, in characters. @default 8192 */
  maxTokenLength?: number;
  /** Allowed clock skew for `exp` and `nbf`, in seconds. @default 5 */
  clockToleranceSeconds?: number;
}

function toPrincipal(payload: JWTPayload): Principal {
  const scope = payload.scope ?? "";
  if (typeof scope !== "string") throw new AuthFailed("token_invalid", "Cannot accept the token as its scope claim must be a string: current value is not");
  const prefixes = payload.prefixes;
  if (prefixes !== undefined && (!Array.isArray(prefixes) || !prefixes.every((prefix) => typeof prefix === "string"))) {
    throw new AuthFailed("token_invalid", "Cannot accept the token as its prefixes claim must be an array of strings: current value is not");
  }
  return {
    subject: typeof payload.sub === "string" ? payload.sub : "unknown",
    scopes: new Set(scope.split(" ").filter((s) => s.length > 0)),
    prefixes: prefixes as string[] | undefined,
    expiresAt: (payload.exp as number) * 1000,
  };
}

/**
 * Creates a verifier over imported keys: algorithms allow-listed per key kind, `exp` required,
 * issuer and audience enforced when set, and a bounded cache of verified tokens until expiry.
 */
export function createTokenVerifier(material: KeyMaterial, options: VerifierOptions, now: () => number): TokenVerifier {
  const algorithms = allowedAlgorithms(material);
  const cacheSize = options.cacheSize ?? 10_000;
  const maxTokenLength = options.maxTokenLength ?? 8192;
  const verified = new Map<string, Principal>();

  // The header's alg picks the key, but only among keys of that alg's own kind: an HS256 token
  // can never be checked against the PEM public key (the classic algorithm-confusion attack).
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === "HS256") {
      if (material.secret !== undefined) return material.secret;
    } else if (material.publicKey !== undefined && header.alg === material.publicKey.algorithm && (header.kid === undefined || material.jwks === undefined)) {
      return material.publicKey.key;
    } else if (material.jwks !== undefined) {
      return await material.jwks(header, token);
    }
    throw new AuthFailed("token_invalid", `Cannot verify the token as its alg must be one of ${algorithms.join(", ")}: current value is ${header.alg}`);
  };

  return {
    async verify(token) {
      const cached = verified.get(token);
      if (cached !== undefined) {
        if (cached.expiresAt > now()) return cached;
        verified.delete(token);
      }
      if (token.length > maxTokenLength) {
        throw new AuthFailed("token_invalid", `Cannot accept the token as it must be at most ${maxTokenLength} characters: current length is ${token.length}`);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms,
          issuer: options.issuer,
          audience: options.audience,
          requiredClaims: ["exp"],
          currentDate: new Date(now()),
          clockTolerance: options.clockToleranceSeconds ?? 5,
        }));
      } catch (error) {
        if (error instanceof AuthFailed) throw error;
        if (error instanceof errors.JWTExpired) throw new AuthFailed("token_expired", "Cannot accept the token as it must not be expired: current token is", { cause: error });
        throw new AuthFailed("token_invalid", `Cannot accept the token: ${(error as Error).message}`, { cause: error });
      }
      const principal = toPrincipal(payload);
      if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
      verified.set(token, principal);
      return principal;
    },
  };
}
