import { bunRuntime } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import type { Runtime } from "./runtime.ts";

/** The Runtime for the engine this process runs on. */
export function currentRuntime(): Runtime {
  return "Deno" in globalThis ? denoRuntime : bunRuntime;
}
