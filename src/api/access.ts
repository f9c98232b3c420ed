import { AccessDenied, AuthFailed, EdgecacheError } from "../core/errors.ts";
import { keyAllowed } from "../core/key.ts";
import type { Scope } from "../auth/principal.ts";
import type { AppContext, AppDeps } from "./context.ts";

/**
 * Authorization for routes: checks the verified principal's scope (and key prefixes when a key
 * is involved), auditing every refusal with who, what and why.
 */
export interface AccessControl {
  /** Authenticates the request's bearer token; throws `AuthFailed` (audited). */
  authenticate(c: AppContext, action: string): Promise<void>;
  /** Requires `scope`, and when `key` is given that the token's prefixes allow it. */
  authorize(c: AppContext, scope: Scope, action: string, key?: string): void;
  /** Records a denial of a request that already has a principal. */
  deny(c: AppContext, action: string, target: string, error: EdgecacheError): never;
}

/** Creates the access control of an app. */
export function createAccessControl(deps: AppDeps): AccessControl {
  const audited = (c: AppContext, action: string, target: string, error: EdgecacheError, actor: string): never => {
    deps.metrics.authFailure(error.code);
    deps.audit.record({
      actor,
      action,
      target,
      outcome: "denied",
      reason: error.code,
      requestId: c.get("requestId"),
      source: c.env?.remoteAddress ?? "unknown",
    });
    throw error;
  };

  return {
    async authenticate(c, action) {
      const header = c.req.raw.headers.get("authorization");
      if (header === null || !/^Bearer\s+\S/i.test(header)) {
        audited(c, action, routeTarget(c), new AuthFailed("token_missing", "Cannot serve the request as it must carry Authorization: Bearer <JWT>: current request has none"), "anonymous");
      }
      try {
        c.set("principal", await deps.verifier.verify((header as string).slice(7).trim()));
      } catch (error) {
        const failure = error instanceof EdgecacheError ? error : new AuthFailed("token_invalid", "Cannot verify the token");
        audited(c, action, routeTarget(c), failure, "anonymous");
      }
    },
    authorize(c, scope, action, key) {
      const principal = c.get("principal");
      const target = key === undefined ? routeTarget(c) : "key";
      if (!principal.scopes.has(scope)) {
        audited(c, action, target, new AccessDenied("scope_denied", `Cannot serve the request as the token must grant ${scope}: current scopes are '${[...principal.scopes].join(" ")}'`), principal.subject);
      }
      if (key !== undefined && !keyAllowed(key, principal.prefixes)) {
        audited(c, action, target, new AccessDenied("prefix_denied", "Cannot serve the request as the key must start with one of the token's prefixes: current key does not"), principal.subject);
      }
    },
    deny(c, action, target, error) {
      return audited(c, action, target, error, c.get("principal").subject);
    },
  };
}

/** The route a request targets, without the key (keys never go into audit records or labels). */
function routeTarget(c: AppContext): string {
  const path = new URL(c.req.url).pathname;
  return path.startsWith("/v1/kv/") ? "/v1/kv/{key}" : path.slice(0, 64);
}
