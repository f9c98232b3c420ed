import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RULES_DIR = join(ROOT, "deploy/prometheus");
const PROMTOOL = process.env.PROMTOOL ?? "/usr/bin/promtool";
const rules = readFileSync(join(RULES_DIR, "alerts.yml"), "utf8");
const runbook = readFileSync(join(ROOT, "RUNBOOK.md"), "utf8");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [readFileSync(path, "utf8")] : [];
  });
}

/** GitHub's anchor for a heading: lower case, spaces to dashes, punctuation dropped. */
function anchors(markdown: string): Set<string> {
  return new Set(markdown.split("\n").filter((line) => /^#{1,6} /.test(line)).map((line) =>
    line.replace(/^#+ /, "").trim().toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-")
  ));
}

describe("Prometheus alert rules", () => {
  test("promtool is installed (Debian package prometheus; scripts/test installs it when run as root)", () => {
    assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing`);
  });

  test("promtool check rules accepts deploy/prometheus/alerts.yml", () => {
    const output = execFileSync(PROMTOOL, ["check", "rules", "alerts.yml"], { cwd: RULES_DIR, encoding: "utf8" });
    assert.match(output, /SUCCESS: \d+ rules found/);
  });

  test("promtool test rules fires each alert on synthetic series and only there", () => {
    const output = execFileSync(PROMTOOL, ["test", "rules", "alerts.test.yml"], { cwd: RULES_DIR, encoding: "utf8" });
    assert.match(output, /SUCCESS/);
  });

  test("every alert has a unit test", () => {
    const tests = readFileSync(join(RULES_DIR, "alerts.test.yml"), "utf8");
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((match) => match[1]);
    assert.ok(alerts.length >= 8);
    for (const alert of alerts) assert.ok(tests.includes(`alertname: ${alert}`), `${alert} is tested`);
  });

  test("every runbook link points at a section of RUNBOOK.md", () => {
    const known = anchors(runbook);
    for (const [, anchor] of rules.matchAll(/runbook_url: "RUNBOOK\.md#([a-z0-9-]+)"/g)) {
      assert.ok(known.has(anchor), `RUNBOOK.md has a section for #${anchor}`);
    }
  });

  test("every edgecache metric an alert uses is one the node exports", () => {
    const code = sources(join(ROOT, "src")).join("\n");
    const used = new Set([...rules.matchAll(/\b(edgecache_[a-z_]+?)(?:_bucket)?\b/g)].map((match) => match[1]));
    for (const metric of used) assert.ok(code.includes(`"${metric}"`), `${metric} is registered in src/`);
  });
});
