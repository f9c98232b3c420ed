import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

/** The logger's slice of the configuration. */
export interface LoggerOptions {
  level: string;
  nodeId: string;
  /** Where JSON lines go. @default standard output */
  destination?: DestinationStream;
}

/**
 * Creates the node's pino logger: JSON lines with level, time and node id. Anything that could
 * carry a secret (authorization headers, tokens, the JWT secret) is redacted at the source.
 * Writes are synchronous so the last lines before exit are never lost; nothing logs per
 * request at info level, so this costs nothing on the hot path.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { node: options.nodeId },
      redact: { paths: ["authorization", "token", "secret", "*.authorization", "*.token", "*.secret", "*.jwtSecret"], censor: "[redacted]" },
    },
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/** A logger appending JSON lines to `path` (created if missing), e.g. for the audit trail. */
export function createFileLogger(path: string, nodeId: string): Logger {
  return pino({ level: "info", base: { node: nodeId } }, pino.destination({ dest: path, sync: true, append: true, mkdir: true }));
}
