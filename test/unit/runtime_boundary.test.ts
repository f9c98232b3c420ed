import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/** Source text without comments, so prose that names Bun or Deno does not count. */
function code(path: string): string {
  return readFileSync(path, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

const files = sourceFiles(SRC).map((path) => ({ path, name: relative(SRC, path).replaceAll("\\", "/") }));

describe("the runtime boundary", () => {
  test("finds the source files it guards", () => {
    assert.ok(files.length > 20, `found ${files.length} files`);
    assert.ok(files.some((file) => file.name === "runtime/bun.ts"));
  });

  test("only src/runtime/ touches the Bun and Deno globals", () => {
    const offenders = files
      .filter((file) => !file.name.startsWith("runtime/"))
      .filter((file) => /\b(Bun|Deno)\s*\.\s*[A-Za-z]|globalThis\s*\.\s*(Bun|Deno)\b|declare const (Bun|Deno)\b/.test(code(file.path)))
      .map((file) => file.name);
    assert.deepEqual(offenders, []);
  });

  test("the core, config, auth and API import no node: modules", () => {
    const pure = ["core/", "config/", "auth/", "api/", "bench/"];
    const offenders = files
      .filter((file) => pure.some((dir) => file.name.startsWith(dir)))
      .filter((file) => /from\s+["']node:|import\(["']node:|(^|[^.\w])require\(/m.test(code(file.path)))
      .map((file) => file.name);
    assert.deepEqual(offenders, []);
  });

  test("source files stay under 400 lines", () => {
    const long = files.filter((file) => readFileSync(file.path, "utf8").split("\n").length > 400).map((file) => file.name);
    assert.deepEqual(long, []);
  });
});
