/** The three scopes of the contract. */
export type Scope = "cache:read" | "cache:write" | "cache:admin";

/** Who a verified token speaks for and what it may do. */
export interface Principal {
  /** The token's `sub`, used as the actor in audit records. */
  readonly subject: string;
  /** Granted scopes, from the space-separated `scope` claim. */
  readonly scopes: ReadonlySet<string>;
  /** Key prefixes the token is limited to; undefined means every key. */
  readonly prefixes: readonly string[] | undefined;
  /** Unix ms at which the token expires. */
  readonly expiresAt: number;
}
