import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { helpText } from "../../src/cli/help.ts";
import { loadConfig, redactConfig } from "../../src/config/load_config.ts";

const HOST = { hostname: "test-host" };

function problemsOf(env: Record<string, string>): string[] {
  const result = loadConfig(env, HOST);
  return result.ok ? [] : result.problems.map((problem) => problem.variable);
}

describe("persistence configuration", () => {
  test("EDGECACHE_DATA_DIR is accepted (the old refusal is gone) with documented defaults for the rest", () => {
    const result = loadConfig({ EDGECACHE_DATA_DIR: "/var/lib/edgecache" }, HOST);
    assert.ok(result.ok);
    assert.deepEqual(result.config.persistence, {
      dataDir: "/var/lib/edgecache",
      fsync: { mode: "interval", intervalMs: 1000 },
      queueMaxBytes: 64 * 1024 * 1024,
      snapshotIntervalMs: 600_000,
      snapshotLogBytes: 64 * 1024 * 1024,
      writeBehind: { url: undefined, token: undefined, batchMaxRecords: 500, timeoutMs: 5000 },
    });
    assert.ok(Object.isFrozen(result.config.persistence.writeBehind));
  });

  test("without EDGECACHE_DATA_DIR nothing is persisted", () => {
    const result = loadConfig({}, HOST);
    assert.ok(result.ok);
    assert.equal(result.config.persistence.dataDir, undefined);
  });

  test("a relative EDGECACHE_DATA_DIR is refused: it would depend on the service manager's working directory", () => {
    assert.deepEqual(problemsOf({ EDGECACHE_DATA_DIR: "data" }), ["EDGECACHE_DATA_DIR"]);
    assert.deepEqual(problemsOf({ EDGECACHE_DATA_DIR: "./data" }), ["EDGECACHE_DATA_DIR"]);
  });

  test("EDGECACHE_FSYNC takes always, never or an interval from 1ms to 1h", () => {
    const fsync = (value: string) => {
      const result = loadConfig({ EDGECACHE_FSYNC: value }, HOST);
      return result.ok ? result.config.persistence.fsync : undefined;
    };
    assert.deepEqual(fsync("always"), { mode: "always" });
    assert.deepEqual(fsync("never"), { mode: "never" });
    assert.deepEqual(fsync("250ms"), { mode: "interval", intervalMs: 250 });
    assert.deepEqual(fsync("2s"), { mode: "interval", intervalMs: 2000 });
    for (const bad of ["sometimes", "0", "2h", "-1s"]) assert.deepEqual(problemsOf({ EDGECACHE_FSYNC: bad }), ["EDGECACHE_FSYNC"], bad);
  });

  test("the write-behind variables are validated and the token is redacted", () => {
    assert.deepEqual(problemsOf({ EDGECACHE_WRITE_BEHIND_URL: "ftp://example.com/x" }), ["EDGECACHE_WRITE_BEHIND_URL"]);
    assert.deepEqual(problemsOf({ EDGECACHE_WRITE_BEHIND_BATCH: "0" }), ["EDGECACHE_WRITE_BEHIND_BATCH"]);
    assert.deepEqual(problemsOf({ EDGECACHE_PERSIST_QUEUE_BYTES: "1KiB" }), ["EDGECACHE_PERSIST_QUEUE_BYTES"]);
    assert.deepEqual(problemsOf({ EDGECACHE_SNAPSHOT_INTERVAL: "10ms" }), ["EDGECACHE_SNAPSHOT_INTERVAL"]);
    const result = loadConfig({ EDGECACHE_WRITE_BEHIND_URL: "https://tickets.example.com/cache-events/", EDGECACHE_WRITE_BEHIND_TOKEN: "very-secret" }, HOST);
    assert.ok(result.ok);
    assert.equal(result.config.persistence.writeBehind.url, "https://tickets.example.com/cache-events");
    const shown = JSON.stringify(redactConfig(result.config));
    assert.ok(!shown.includes("very-secret"));
    assert.match(shown, /"token":"\[redacted\]"/);
  });

  test("edgecache help lists every persistence variable with its default", () => {
    const help = helpText("test");
    for (const name of ["EDGECACHE_DATA_DIR", "EDGECACHE_FSYNC", "EDGECACHE_PERSIST_QUEUE_BYTES", "EDGECACHE_SNAPSHOT_INTERVAL", "EDGECACHE_SNAPSHOT_LOG_BYTES", "EDGECACHE_WRITE_BEHIND_URL", "EDGECACHE_WRITE_BEHIND_TOKEN", "EDGECACHE_WRITE_BEHIND_BATCH", "EDGECACHE_WRITE_BEHIND_TIMEOUT"]) {
      assert.match(help, new RegExp(`${name}\\s+.*\\(default: `), name);
    }
  });
});

describe("the persistence boundary", () => {
  const dir = fileURLToPath(new URL("../../src/persist/", import.meta.url));
  const sources = readdirSync(dir).filter((name) => name.endsWith(".ts")).map((name) => ({ name, code: readFileSync(`${dir}${name}`, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1") }));

  test("src/persist imports no node: module and touches no runtime global: file I/O comes in through FileSystem", () => {
    assert.ok(sources.length >= 8, `found ${sources.length} files`);
    assert.deepEqual(sources.filter((file) => /from\s+["']node:|import\(["']node:|\b(Bun|Deno)\s*\./.test(file.code)).map((file) => file.name), []);
  });

  test("every persistence source file stays under 400 lines", () => {
    for (const file of sources) assert.ok(readFileSync(`${dir}${file.name}`, "utf8").split("\n").length <= 400, file.name);
  });
});
