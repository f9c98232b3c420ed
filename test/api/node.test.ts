import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SignJWT } from "jose";
import { loadConfig } from "../../src/config/load_config.ts";
import { startNode } from "../../src/node.ts";
import { currentRuntime } from "../../src/runtime/select.ts";

const SECRET = "node-test-secret-that-is-at-least-32-bytes";

describe("startNode() in this process", () => {
  test("serves over real HTTP, writes audit records to EDGECACHE_AUDIT_FILE, and shuts down cleanly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgecache-node-"));
    const auditFile = join(dir, "audit.log");
    const lines: string[] = [];
    const result = loadConfig({ EDGECACHE_LISTEN: "127.0.0.1:0", EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_AUDIT_FILE: auditFile, EDGECACHE_LOG_LEVEL: "warn" }, { hostname: "in-process" });
    assert.ok(result.ok);
    const node = await startNode(result.config, currentRuntime(), { logDestination: { write: (line: string) => void lines.push(line) }, collectProcessMetrics: false });
    try {
      const token = await new SignJWT({ scope: "cache:read cache:write cache:admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("auditor").setExpirationTime("5m")
        .sign(new TextEncoder().encode(SECRET));
      const auth = { authorization: `Bearer ${token}` };
      assert.equal((await fetch(`${node.url}/v1/kv/a`, { method: "PUT", headers: auth, body: "1" })).status, 201);
      assert.equal(await (await fetch(`${node.url}/v1/kv/a`, { headers: auth })).text(), "1");
      assert.deepEqual(await (await fetch(`${node.url}/v1/admin/flush`, { method: "POST", headers: auth })).json(), { flushed: 1 });
      const explain = await (await fetch(`${node.url}/v1/admin/explain/a`, { headers: auth })).json();
      assert.equal(explain.owner, "in-process");
      assert.equal(explain.copies[0].present, false);
      const denied = await fetch(`${node.url}/v1/admin/stats`, { headers: { authorization: "Bearer nonsense" } });
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
    } finally {
      await node.shutdown("test over");
    }
    const audit = readFileSync(auditFile, "utf8").trim().split("\n").map((line) => JSON.parse(line));
    assert.ok(audit.some((record) => record.action === "admin.flush" && record.actor === "auditor" && record.outcome === "allowed"));
    assert.ok(audit.some((record) => record.outcome === "denied" && record.reason === "token_invalid"));
    assert.ok(audit.every((record) => record.audit === true));
    assert.ok(!readFileSync(auditFile, "utf8").includes(SECRET));
    assert.ok(lines.some((line) => line.includes('"audit":true')), "audit records also reach the main log at level warn");
    rmSync(dir, { recursive: true, force: true });
  });
});
