import assert from "node:assert/strict";
import { EdgecacheError } from "../../src/core/errors.ts";

/** The `code` of what `promise` rejects with, asserting it rejects with an EdgecacheError. */
export async function rejectionCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EdgecacheError, `expected an EdgecacheError, got ${String(error)}`);
    return error.code;
  }
  assert.fail("expected the call to fail");
}

/** Polls `condition` until it holds or the real-time deadline passes (no fixed sleeps). */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
