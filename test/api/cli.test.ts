import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { jwtVerify } from "jose";
import { UsageError } from "../../src/cli/args.ts";
import type { CliContext } from "../../src/cli/cli_context.ts";
import { configCommand } from "../../src/cli/config_command.ts";
import { helpText } from "../../src/cli/help.ts";
import { tokenCommand } from "../../src/cli/token_command.ts";
import { ENV_HELP } from "../../src/config/schema.ts";
import { currentRuntime } from "../../src/runtime/select.ts";
import type { Runtime } from "../../src/runtime/runtime.ts";

const SECRET = "cli-test-secret-0123456789-abcdefghijklmn";

/** A CliContext over the real runtime with the environment, arguments and output replaced. */
function cli(env: Record<string, string>, args: string[]): { ctx: CliContext; stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const real = currentRuntime();
  const runtime: Runtime = {
    ...real,
    env: () => ({ ...env }),
    args: () => [...args],
    writeStdout: (text) => void out.push(text),
    writeStderr: (text) => void err.push(text),
    exit: (code) => {
      throw new Error(`a command must return its exit code, not call exit(${code})`);
    },
  };
  return { ctx: { runtime, args, version: "9.9.9-test" }, stdout: () => out.join(""), stderr: () => err.join("") };
}

describe("edgecache config", () => {
  test("a valid environment exits 0 and prints the effective configuration as JSON with the secret redacted", () => {
    const run = cli({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_MAX_VALUE_BYTES: "2MiB", EDGECACHE_NODE_ID: "cli-node" }, []);
    assert.equal(configCommand(run.ctx), 0);
    const text = run.stdout();
    assert.ok(!text.includes(SECRET), "the secret must not be printed");
    const config = JSON.parse(text);
    assert.equal(config.auth.jwtSecret, "[redacted]");
    assert.equal(config.limits.maxValueBytes, 2 * 1024 * 1024);
    assert.equal(config.cluster.nodeId, "cli-node");
    assert.equal(config.store.maxBytes, 256 * 1024 * 1024);
    assert.equal(config.store.eviction, "lru");
    assert.equal(run.stderr(), "");
  });

  test("an empty environment on the default loopback address is valid", () => {
    const run = cli({}, []);
    assert.equal(configCommand(run.ctx), 0);
    const config = JSON.parse(run.stdout());
    assert.deepEqual(config.listen, { host: "127.0.0.1", port: 8080 });
  });

  test("an invalid environment exits 2 and names every bad variable on stderr", () => {
    const bad = {
      EDGECACHE_MAX_BYTES: "lots",
      EDGECACHE_EVICTION: "fifo",
      EDGECACHE_JWT_SECRET: "too-short",
      EDGECACHE_MAX_TTL: "forever",
      EDGECACHE_LISTEN: "no-port",
      EDGECACHE_LOG_LEVEL: "loud",
      EDGECACHE_REPLICAS: "two",
    };
    const run = cli(bad, []);
    assert.equal(configCommand(run.ctx), 2);
    assert.equal(run.stdout(), "", "nothing on stdout when invalid");
    for (const name of Object.keys(bad)) assert.match(run.stderr(), new RegExp(`\\b${name}\\b`), `stderr names ${name}`);
    assert.ok(!run.stderr().includes("too-short"), "the (bad) secret is not echoed");
  });

  test("a non-loopback listen address without any JWT key exits 2 naming the key variable", () => {
    const run = cli({ EDGECACHE_LISTEN: "0.0.0.0:8080" }, []);
    assert.equal(configCommand(run.ctx), 2);
    assert.match(run.stderr(), /EDGECACHE_JWT_SECRET/);
  });
});

describe("edgecache token", () => {
  test("mints a JWT that verifies with the secret and carries scopes, prefixes, sub and exp", async () => {
    const run = cli({ EDGECACHE_JWT_SECRET: SECRET }, []);
    const args = ["--sub", "deploy-bot", "--scope", "cache:read cache:write", "--ttl", "2h", "--prefix", "tenant-a/", "--prefix=shared/"];
    const code = await tokenCommand({ ...run.ctx, args });
    assert.equal(code, 0, run.stderr());
    const token = run.stdout().trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: ["HS256"] });
    assert.equal(protectedHeader.alg, "HS256");
    assert.equal(payload.sub, "deploy-bot");
    assert.equal(payload.scope, "cache:read cache:write");
    assert.deepEqual(payload.prefixes, ["tenant-a/", "shared/"]);
    assert.equal(typeof payload.exp, "number");
    assert.equal((payload.exp as number) - (payload.iat as number), 7200);
    assert.ok(Math.abs((payload.exp as number) - (Date.now() / 1000 + 7200)) < 60);
  });

  test("defaults to a 1h lifetime and no prefixes claim", async () => {
    const run = cli({ EDGECACHE_JWT_SECRET: SECRET }, []);
    assert.equal(await tokenCommand({ ...run.ctx, args: ["--sub", "a", "--scope", "cache:admin"] }), 0);
    const { payload } = await jwtVerify(run.stdout().trim(), new TextEncoder().encode(SECRET));
    assert.equal((payload.exp as number) - (payload.iat as number), 3600);
    assert.equal(payload.prefixes, undefined);
    assert.equal(payload.scope, "cache:admin");
  });

  test("the minted token does not verify with another secret", async () => {
    const run = cli({ EDGECACHE_JWT_SECRET: SECRET }, []);
    assert.equal(await tokenCommand({ ...run.ctx, args: ["--sub", "a", "--scope", "cache:read"] }), 0);
    await assert.rejects(jwtVerify(run.stdout().trim(), new TextEncoder().encode(`${SECRET}-other`)));
  });

  test("without EDGECACHE_JWT_SECRET it exits 2 naming the variable and prints no token", async () => {
    const run = cli({}, []);
    assert.equal(await tokenCommand({ ...run.ctx, args: ["--sub", "a", "--scope", "cache:read"] }), 2);
    assert.match(run.stderr(), /EDGECACHE_JWT_SECRET/);
    assert.equal(run.stdout(), "");
  });

  test("with an invalid configuration it exits 2", async () => {
    const run = cli({ EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_EVICTION: "random-ish" }, []);
    assert.equal(await tokenCommand({ ...run.ctx, args: ["--sub", "a", "--scope", "cache:read"] }), 2);
    assert.match(run.stderr(), /EDGECACHE_EVICTION/);
    assert.equal(run.stdout(), "");
  });

  const usageErrors: Array<[string, string[], RegExp]> = [
    ["an unknown scope", ["--sub", "a", "--scope", "cache:read cache:everything"], /--scope/],
    ["an empty scope", ["--sub", "a", "--scope", " "], /--scope/],
    ["a missing --scope", ["--sub", "a"], /--scope/],
    ["a missing --sub", ["--scope", "cache:read"], /--sub/],
    ["an empty --sub", ["--sub", " ", "--scope", "cache:read"], /--sub/],
    ["a malformed --ttl", ["--sub", "a", "--scope", "cache:read", "--ttl", "abc"], /--ttl/],
    ["a zero --ttl", ["--sub", "a", "--scope", "cache:read", "--ttl", "0s"], /--ttl/],
    ["a --ttl over 365d", ["--sub", "a", "--scope", "cache:read", "--ttl", "366d"], /--ttl/],
    ["an empty --prefix", ["--sub", "a", "--scope", "cache:read", "--prefix", ""], /--prefix/],
    ["an unknown flag", ["--sub", "a", "--scope", "cache:read", "--admin"], /--admin/],
    ["a flag without its value", ["--sub", "a", "--scope"], /--scope/],
  ];
  for (const [what, args, names] of usageErrors) {
    test(`${what} is a UsageError naming the flag, and no token is printed`, async () => {
      const run = cli({ EDGECACHE_JWT_SECRET: SECRET }, []);
      await assert.rejects(tokenCommand({ ...run.ctx, args }), (error: unknown) => {
        assert.ok(error instanceof UsageError, `expected UsageError, got ${error}`);
        assert.match(error.message, names);
        return true;
      });
      assert.equal(run.stdout(), "");
    });
  }
});

describe("edgecache help", () => {
  const text = helpText("9.9.9-test");

  test("mentions every environment variable of the schema with its default", () => {
    const names = Object.keys(ENV_HELP);
    assert.ok(names.length >= 25);
    for (const [name, [fallback]] of Object.entries(ENV_HELP)) {
      assert.match(text, new RegExp(`\\b${name}\\b`), name);
      assert.ok(text.includes(fallback), `${name} default ${fallback}`);
    }
  });

  test("mentions every command and the token and bench flags", () => {
    for (const command of ["serve", "bench", "token", "config", "version", "help", "--help"]) {
      assert.match(text, new RegExp(`edgecache ${command.replace("-", "\\-")}\\b|edgecache \\[${command}\\]|edgecache help, ${command}`), command);
    }
    for (const flag of ["--sub", "--scope", "--ttl", "--prefix", "--url", "--token", "--duration", "--connections", "--keys", "--value-size", "--read-ratio", "--zipf", "--json"]) {
      assert.ok(text.includes(flag), flag);
    }
    assert.match(text, /9\.9\.9-test/);
  });

  test("states the exit codes", () => {
    assert.match(text, /0 success/);
    assert.match(text, /2 bad configuration or usage/);
    assert.match(text, /1 anything else/);
  });
});
