import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ENV_HELP, envSchema } from "../../src/config/schema.ts";
import { ENTRY_OVERHEAD_BYTES } from "../../src/core/entry.ts";

/**
 * Keeps the operator files (RUNBOOK.md, Containerfile, systemd unit and env example) in step with
 * the code: every variable and metric documented, the image built by scripts/build and run as a
 * non-root user without secrets, and systemd waiting longer than the node's drain.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

const runbook = read("RUNBOOK.md");
const containerfile = read("Containerfile");
const unit = read("deploy/systemd/edgecache.service");
const envExample = read("deploy/systemd/edgecache.env.example");
const variables = Object.keys(envSchema.shape);

/** True when `name` occurs in `text` as a whole identifier, not as part of a longer one. */
function mentions(text: string, name: string): boolean {
  return new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`).test(text);
}

/** Containerfile instructions: comments dropped, `\` continuations joined. */
function instructions(text: string): { keyword: string; args: string }[] {
  const joined = text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n/g, " ");
  return joined
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line) as RegExpExecArray;
      return { keyword: keyword.toUpperCase(), args };
    });
}

/** The build stages of a Containerfile, each with its name (if any) and instructions. */
function stages(text: string): { name?: string; from: string; body: { keyword: string; args: string }[] }[] {
  const result: { name?: string; from: string; body: { keyword: string; args: string }[] }[] = [];
  for (const instruction of instructions(text)) {
    if (instruction.keyword === "FROM") {
      const [, from, name] = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(instruction.args) as RegExpExecArray;
      result.push({ from, name, body: [] });
    } else {
      assert.ok(result.length > 0, `${instruction.keyword} before the first FROM`);
      result[result.length - 1].body.push(instruction);
    }
  }
  return result;
}

/** systemd time span (`30s`, `1min 30s`, `90`, `500ms`) in milliseconds. */
function systemdSpanMs(text: string): number {
  const units: Record<string, number> = {
    "": 1000,
    us: 0.001,
    ms: 1,
    s: 1000,
    sec: 1000,
    m: 60_000,
    min: 60_000,
    h: 3_600_000,
    hr: 3_600_000,
  };
  let total = 0;
  const parts = text.trim().split(/\s+/);
  for (const part of parts) {
    const match = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part);
    assert.ok(match !== null && match[2] in units, `cannot read systemd time span '${text}'`);
    total += Number(match[1]) * units[match[2]];
  }
  return total;
}

/** The last value of `Key=` in the unit's [Service] section. */
function serviceSetting(key: string): string | undefined {
  const service = /^\[Service\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(unit);
  assert.ok(service !== null, "the unit has a [Service] section");
  const values = [...service[1].matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((match) => match[1].trim());
  return values.at(-1);
}

/** Milliseconds of a duration variable's default, as the node parses it. */
function defaultMs(name: "EDGECACHE_SHUTDOWN_TIMEOUT"): number {
  return envSchema.shape[name].parse(undefined) as number;
}

describe("Containerfile", () => {
  const all = stages(containerfile);
  const build = all.find((stage) =>
    stage.body.some((i) => i.keyword === "RUN" && /(^|[\s;&|])(\.\/)?scripts\/build(\s|$|;|&)/.test(i.args))
  );
  const final = all.at(-1);
  // The path the default `scripts/build` writes and prints.
  const script = read("scripts/build");
  // The command may continue over several lines (backslash-newline).
  const outfile = /bun build --compile(?:[^\n]|\\\n)*?--outfile\s+(\S+)/.exec(script)?.[1];
  const printed = /--outfile[^\n]*\n\s*echo\s+"([^"]+)"/.exec(script)?.[1];

  test("scripts/build writes and prints one binary path", () => {
    assert.equal(outfile, "dist/edgecache");
    assert.equal(printed, outfile);
  });

  test("has a build stage that runs scripts/build after npm ci", () => {
    assert.ok(all.length >= 2, "multi-stage");
    assert.ok(build !== undefined, "a stage RUNs scripts/build");
    assert.notEqual(build, final, "the build stage is not the final stage");
    const runs = build.body.filter((i) => i.keyword === "RUN").map((i) => i.args);
    const ci = runs.findIndex((args) => /\bnpm ci\b/.test(args));
    const compile = runs.findIndex((args) => /scripts\/build/.test(args));
    assert.ok(ci !== -1 && ci < compile, "npm ci runs before scripts/build");
  });

  test("the final stage copies only dist/edgecache from the build stage", () => {
    assert.ok(final !== undefined && build !== undefined);
    const copies = final.body.filter((i) => i.keyword === "COPY" || i.keyword === "ADD");
    assert.ok(copies.length > 0, "the final stage copies the binary");
    const buildRef = new Set([build.name, String(all.indexOf(build))].filter((ref) => ref !== undefined));
    for (const copy of copies) {
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      assert.ok(from !== undefined && buildRef.has(from), `copies from the build stage: ${copy.args}`);
      const sources = copy.args.replace(/--\S+/g, "").trim().split(/\s+/).slice(0, -1);
      assert.deepEqual(sources.map((source) => source.replace(/^.*?(?=dist\/)/, "")), [outfile], `copies exactly ${outfile}: ${copy.args}`);
    }
  });

  test("the final stage runs as a non-root USER", () => {
    assert.ok(final !== undefined);
    const user = final.body.filter((i) => i.keyword === "USER").at(-1)?.args;
    assert.ok(user !== undefined, "the final stage sets USER");
    const name = user.split(":")[0];
    assert.ok(!["root", "0"].includes(name), `USER ${user} is not root`);
  });

  test("sets no secret and copies no env file", () => {
    for (const stage of all) {
      for (const i of stage.body) {
        if (i.keyword === "ENV" || i.keyword === "ARG" || i.keyword === "LABEL") {
          assert.doesNotMatch(i.args, /SECRET|PASSWORD|TOKEN|PRIVATE|JWT|_KEY\b/i, `${i.keyword} ${i.args}`);
        }
        if (i.keyword === "COPY" || i.keyword === "ADD") assert.doesNotMatch(i.args, /\.env\b|\.pem\b|\.key\b/, `${i.keyword} ${i.args}`);
      }
    }
  });

  test("listens on all interfaces inside the container and exposes that port", () => {
    assert.ok(final !== undefined);
    const env = final.body.filter((i) => i.keyword === "ENV").map((i) => i.args).join(" ");
    const port = /EDGECACHE_LISTEN[= ]0\.0\.0\.0:(\d+)/.exec(env)?.[1];
    assert.ok(port !== undefined, "ENV EDGECACHE_LISTEN=0.0.0.0:PORT");
    assert.ok(final.body.some((i) => i.keyword === "EXPOSE" && i.args.split(/\s+/).includes(port)), `EXPOSE ${port}`);
  });
});

describe("RUNBOOK.md", () => {
  test("names every environment variable of the schema", () => {
    assert.ok(variables.length > 20, `found ${variables.length} variables`);
    assert.deepEqual(
      variables.filter((name) => !mentions(runbook, name)),
      [],
      "variables missing from RUNBOOK.md: add them to its Configure table",
    );
  });

  test("its configuration table gives each variable the default `edgecache help` prints", () => {
    const rows = new Map<string, string>();
    for (const match of runbook.matchAll(/^\|\s*`(EDGECACHE_[A-Z0-9_]+)`\s*\|([^|]*)\|/gm)) {
      rows.set(match[1], match[2].replaceAll("`", "").trim());
    }
    const wrong = variables
      .filter((name) => rows.get(name) !== ENV_HELP[name as keyof typeof ENV_HELP][0])
      .map((name) => `${name}: table '${rows.get(name)}', help '${ENV_HELP[name as keyof typeof ENV_HELP][0]}'`);
    assert.deepEqual(wrong, [], "RUNBOOK.md Configure table rows must match ENV_HELP defaults");
  });

  test("names every metric the node registers", () => {
    const files = (function walk(dir: string): string[] {
      return readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? walk(path) : path.endsWith(".ts") ? [path] : [];
      });
    })(join(ROOT, "src"));
    const metrics = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const match of text.matchAll(/name:\s*"(edgecache_[a-z0-9_]+)"/g)) metrics.add(match[1]);
      // Metrics registered through a helper: fromStore("edgecache_...", ...).
      for (const match of text.matchAll(/\(\s*"(edgecache_[a-z0-9_]+)"\s*,/g)) metrics.add(match[1]);
    }
    assert.ok([...metrics].some((name) => name === "edgecache_http_requests_total"), "found the metrics of src/obs/metrics.ts");
    assert.ok(metrics.size >= 10, `found ${metrics.size} metrics`);
    assert.deepEqual(
      [...metrics].filter((name) => !mentions(runbook, name)),
      [],
      "metrics missing from RUNBOOK.md: add them to its Metrics section",
    );
  });

  test("states the per-entry overhead the store counts", () => {
    const line = runbook.split("\n").find((text) => /\+ \d+\s*$/.test(text) && text.includes("key UTF-8 bytes"));
    assert.ok(line !== undefined, "the accounting formula is in the runbook");
    assert.ok(line.trimEnd().endsWith(`+ ${ENTRY_OVERHEAD_BYTES}`), `formula ends with + ${ENTRY_OVERHEAD_BYTES}: ${line.trim()}`);
    assert.match(runbook, new RegExp(`${ENTRY_OVERHEAD_BYTES} is \`ENTRY_OVERHEAD_BYTES\``));
  });

  test("does not describe cluster mode as refused or unavailable", () => {
    // The cluster works; an earlier runbook described a build where it was refused at start-up.
    for (
      const stale of [
        /cluster mode (is|was) (refused|not built|not available|unavailable)/i,
        /cluster mode is not covered/i,
        /no cluster: no peer link/i,
        /\(not built: use `EDGECACHE_MODE=local`\)/i,
      ]
    ) {
      assert.doesNotMatch(runbook, stale);
    }
  });

  test("keeps the anchors alerts link to", () => {
    const headings = new Set([...runbook.matchAll(/^## (.+)$/gm)].map((match) => match[1].trim()));
    for (
      const heading of [
        "Health and readiness",
        "Graceful shutdown",
        "Metrics",
        "Audit log",
        "Memory sizing",
        "Incident: 401 storm",
        "Incident: node not ready",
      ]
    ) {
      assert.ok(headings.has(heading), `## ${heading}`);
    }
    // Every in-page link resolves to a heading (GitHub's anchor rules, for plain ASCII headings).
    const anchors = new Set(
      [...runbook.matchAll(/^#{1,6} (.+)$/gm)].map((match) =>
        match[1].trim().toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-")
      ),
    );
    const broken = [...runbook.matchAll(/\]\(#([^)]+)\)/g)].map((match) => match[1]).filter((anchor) => !anchors.has(anchor));
    assert.deepEqual(broken, []);
  });
});

describe("systemd unit and environment example", () => {
  test("waits longer than the node's default drain before killing it", () => {
    const stop = serviceSetting("TimeoutStopSec");
    assert.ok(stop !== undefined, "TimeoutStopSec is set");
    assert.ok(
      systemdSpanMs(stop) > defaultMs("EDGECACHE_SHUTDOWN_TIMEOUT"),
      `TimeoutStopSec=${stop} > ${defaultMs("EDGECACHE_SHUTDOWN_TIMEOUT")}ms`,
    );
    assert.equal(serviceSetting("KillSignal"), "SIGTERM");
  });

  test("waits longer than the drain, the persistence flush and a cluster handoff", () => {
    // Shutdown waits up to EDGECACHE_SHUTDOWN_TIMEOUT for requests, again for the persistence
    // flush, then hands a cluster member's entries off (no overall bound). One minute of handoff is
    // about the ~370,000 entries a 256MiB cap holds at the ~7,000 entries/s measured
    // (RUNBOOK.md "Graceful shutdown").
    const HANDOFF_BUDGET_MS = 60_000;
    const stop = systemdSpanMs(serviceSetting("TimeoutStopSec") as string);
    assert.ok(stop > 2 * defaultMs("EDGECACHE_SHUTDOWN_TIMEOUT") + HANDOFF_BUDGET_MS, `TimeoutStopSec=${stop}ms`);
  });

  test("gives the dynamic user the state and logs directories the example points at", () => {
    // ProtectSystem=strict makes everything else read-only; DynamicUser owns no other directory.
    assert.equal(serviceSetting("StateDirectory"), "edgecache");
    assert.equal(serviceSetting("LogsDirectory"), "edgecache");
    const dataDir = /^\s*#?\s*EDGECACHE_DATA_DIR\s*=\s*(\S+)/m.exec(envExample)?.[1];
    assert.equal(dataDir, "/var/lib/edgecache", "the example's EDGECACHE_DATA_DIR is the StateDirectory");
    const auditFile = /^\s*#?\s*EDGECACHE_AUDIT_FILE\s*=\s*(\S+)/m.exec(envExample)?.[1];
    assert.ok(auditFile?.startsWith("/var/log/edgecache/"), `the example's EDGECACHE_AUDIT_FILE is in the LogsDirectory: ${auditFile}`);
    assert.match(runbook, /StateDirectory=edgecache/);
  });

  test("the example names every cluster variable without setting it", () => {
    for (const name of variables.filter((v) => /^EDGECACHE_(PEER|CLUSTER_NAME|HEARTBEAT|FAILURE|REPLICAS|TLS_|MODE)/.test(v))) {
      assert.match(envExample, new RegExp(`^#\\s*${name}=`, "m"), `${name} appears commented in the example`);
      assert.doesNotMatch(envExample, new RegExp(`^\\s*${name}=`, "m"), `${name} is not set on an active line`);
    }
  });

  test("waits longer than the drain the example configures, if it sets one", () => {
    const set = /^\s*EDGECACHE_SHUTDOWN_TIMEOUT\s*=\s*(\S+)/m.exec(envExample)?.[1];
    if (set === undefined) return;
    const ms = envSchema.shape.EDGECACHE_SHUTDOWN_TIMEOUT.parse(set.replace(/^["']|["']$/g, "")) as number;
    assert.ok(systemdSpanMs(serviceSetting("TimeoutStopSec") as string) > ms);
  });

  test("reads the environment file and is hardened", () => {
    assert.equal(serviceSetting("EnvironmentFile"), "/etc/edgecache/edgecache.env");
    assert.match(serviceSetting("ExecStart") ?? "", /\/edgecache serve$/);
    assert.equal(serviceSetting("NoNewPrivileges"), "yes");
    assert.equal(serviceSetting("ProtectSystem"), "strict");
    assert.ok(
      serviceSetting("DynamicUser") === "yes" || (serviceSetting("User") ?? "root") !== "root",
      "runs as a dedicated or dynamic user",
    );
  });

  test("the example leaves EDGECACHE_JWT_SECRET without a value", () => {
    assert.doesNotMatch(envExample, /^\s*EDGECACHE_JWT_SECRET\s*=/m, "not set on an active line");
    for (const match of envExample.matchAll(/^\s*#\s*EDGECACHE_JWT_SECRET\s*=(.*)$/gm)) {
      assert.equal(match[1].trim(), "", "commented out with no value");
    }
  });

  test("the example only names variables the node reads", () => {
    const named = [...envExample.matchAll(/^\s*#?\s*(EDGECACHE_[A-Z0-9_]+)\s*=/gm)].map((match) => match[1]);
    assert.ok(named.length > 10);
    assert.deepEqual(named.filter((name) => !variables.includes(name)), []);
  });
});
