import type { Logger } from "pino";

/** One audited event: an admin action or a denied request. */
export interface AuditRecord {
  /** The token's `sub`, or "anonymous" when no valid token was presented. */
  actor: string;
  /** What was attempted, e.g. "admin.flush", "kv.get". */
  action: string;
  /** What it was attempted on (a route or key prefix, never a token). */
  target: string;
  /** "allowed" or "denied". */
  outcome: "allowed" | "denied";
  /** The error code when denied. */
  reason?: string;
  requestId: string;
  /** Client address as the runtime saw it. */
  source: string;
}

/** Writes audit records. */
export interface AuditLog {
  record(entry: AuditRecord): void;
}

/**
 * Audit records as structured log lines marked `audit: true`, so they can be routed apart, and
 * also to a logger of their own (EDGECACHE_AUDIT_FILE) when given. The
 * audit child logs at info whatever EDGECACHE_LOG_LEVEL says: quieting the logs must not
 * silently switch off the audit trail.
 */
export function createAuditLog(logger: Logger, file?: Logger): AuditLog {
  const audit = logger.child({ audit: true }, { level: "info" });
  const copy = file?.child({ audit: true }, { level: "info" });
  return {
    record(entry) {
      const message = `audit ${entry.action} ${entry.outcome}`;
      audit.info(entry, message);
      copy?.info(entry, message);
    },
  };
}
