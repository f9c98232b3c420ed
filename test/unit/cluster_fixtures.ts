/**
 * Shared pieces of the cluster unit tests (peer links, cluster kv) over the in-memory chaos
 * transport: deadline polling and a recording logger. Not a test file itself: its name does not
 * end in `.test.ts`.
 */

/**
 * Polls `check` every few milliseconds until it holds; fails with `what` once `timeoutMs` has
 * passed. Waits for a condition, never for a fixed time.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One recorded log call. */
export interface LogRecord {
  level: "info" | "warn" | "debug";
  object: Record<string, unknown>;
  message: string;
}

/** A logger of the shape peer links use that keeps every call for assertions. */
export function recordingLog(): {
  records: LogRecord[];
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  debug(o: object, m: string): void;
} {
  const records: LogRecord[] = [];
  const keep = (level: LogRecord["level"]) => (object: object, message: string) =>
    void records.push({ level, object: object as Record<string, unknown>, message });
  return { records, info: keep("info"), warn: keep("warn"), debug: keep("debug") };
}
