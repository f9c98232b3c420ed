import { SignJWT } from "jose";

/** What a minted token says. */
export interface MintRequest {
  subject: string;
  scopes: readonly string[];
  ttlSeconds: number;
  prefixes?: readonly string[];
  issuer?: string;
  audience?: string;
}

/** Signs an HS256 token with the given secret; used by `edgecache token` and the first-run token. */
export async function mintToken(secret: Uint8Array, request: MintRequest, now: () => number): Promise<string> {
  const issuedAt = Math.floor(now() / 1000);
  const claims: Record<string, unknown> = { scope: request.scopes.join(" ") };
  if (request.prefixes !== undefined && request.prefixes.length > 0) claims.prefixes = [...request.prefixes];
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(request.subject)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + request.ttlSeconds);
  if (request.issuer !== undefined) jwt.setIssuer(request.issuer);
  if (request.audience !== undefined) jwt.setAudience(request.audience);
  return await jwt.sign(secret);
}
