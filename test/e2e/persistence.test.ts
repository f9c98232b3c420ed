import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { binaryPath, type NodeProcess, sourceCommand, startNodeProcess, waitFor } from "../helpers/node_process.ts";

const SECRET = "e2e-persistence-secret-at-least-32-bytes";
const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "edgecache-e2e-data-"));
  dirs.push(dir);
  return dir;
}

async function mint(): Promise<string> {
  const { SignJWT } = await import("jose");
  return await new SignJWT({ scope: "cache:read cache:write cache:admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("e2e").setExpirationTime("10m")
    .sign(new TextEncoder().encode(SECRET));
}

async function metric(node: NodeProcess, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? NaN);
}

const WRITTEN = /^edgecache_persistence_records_written_total\{adapter="file"\} (\d+)/m;
const QUEUED = /^edgecache_persistence_queue_depth\{adapter="file"\} (\d+)/m;

async function ready(node: NodeProcess): Promise<void> {
  await waitFor(async () => (await fetch(`${node.url}/readyz`)).status === 200, 20_000, "the node to be ready (recovery done)");
}

/** PUTs `count` keys, `parallel` at a time. */
async function putMany(node: NodeProcess, auth: Record<string, string>, count: number, value: (i: number) => string, parallel = 50): Promise<void> {
  for (let start = 0; start < count; start += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, j) => start + j);
    const statuses = await Promise.all(batch.map(async (i) => (await fetch(`${node.url}/v1/kv/key-${i}`, { method: "PUT", headers: auth, body: value(i) })).status));
    assert.ok(statuses.every((status) => status === 201 || status === 204), `PUT statuses ${statuses}`);
  }
}

const TARGETS: Array<[string, () => string[]]> = [["the compiled binary", () => [binaryPath()]], ["the sources on this test runtime", sourceCommand]];

for (const [name, argv] of TARGETS) {
  describe(`persistence of ${name}`, () => {
    test("a restart keeps values, content types, remaining TTLs, tags and deletes", async () => {
      const env = { EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_DATA_DIR: dataDir() };
      const auth = { authorization: `Bearer ${await mint()}` };
      const first = await startNodeProcess(env, argv());
      await ready(first);
      assert.equal((await fetch(`${first.url}/v1/kv/page/home?ttl=600&tags=pages,home`, { method: "PUT", headers: { ...auth, "content-type": "text/html" }, body: "<h1>home</h1>" })).status, 201);
      assert.equal((await fetch(`${first.url}/v1/kv/page/gone`, { method: "PUT", headers: auth, body: "bye" })).status, 201);
      assert.equal((await fetch(`${first.url}/v1/kv/page/gone`, { method: "DELETE", headers: auth })).status, 204);
      const etag = (await fetch(`${first.url}/v1/kv/page/home`, { headers: auth })).headers.get("etag");
      assert.equal((await first.stop()).code, 0);

      const second = await startNodeProcess(env, argv());
      try {
        await ready(second);
        const home = await fetch(`${second.url}/v1/kv/page/home`, { headers: auth });
        assert.equal(home.status, 200);
        assert.equal(await home.text(), "<h1>home</h1>");
        assert.equal(home.headers.get("content-type"), "text/html");
        assert.equal(home.headers.get("etag"), etag);
        const ttl = Number(/ttl=(\d+)/.exec(home.headers.get("cache-status") ?? "")?.[1]);
        assert.ok(ttl > 0 && ttl <= 600, `remaining ttl ${ttl}`);
        assert.equal((await fetch(`${second.url}/v1/kv/page/gone`, { headers: auth })).status, 404);
        const invalidated = await fetch(`${second.url}/v1/invalidate`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ tags: ["home"] }) });
        assert.deepEqual(await invalidated.json(), { invalidated: 1 });
        const recovered = second.logs().find((line) => line.msg === "recovered from the data directory");
        assert.ok(recovered !== undefined && (recovered.files as number) >= 1 && recovered.deletes === 1, JSON.stringify(recovered));
      } finally {
        assert.equal((await second.stop()).code, 0);
      }
    });

    test("kill -9 after the flush window loses nothing written before it", async () => {
      const env = { EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_DATA_DIR: dataDir() };
      const auth = { authorization: `Bearer ${await mint()}` };
      const first = await startNodeProcess(env, argv());
      await ready(first);
      await putMany(first, auth, 1000, (i) => `value-${i}`);
      // The flush window: every record has reached the file once the writer reports it written.
      await waitFor(async () => (await metric(first, WRITTEN)) >= 1000 && (await metric(first, QUEUED)) === 0, 10_000, "1000 records written");
      assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");

      const second = await startNodeProcess(env, argv());
      try {
        await ready(second);
        const stats = await (await fetch(`${second.url}/v1/admin/stats`, { headers: auth })).json();
        assert.equal(stats.entries, 1000);
        for (const i of [0, 1, 499, 998, 999]) assert.equal(await (await fetch(`${second.url}/v1/kv/key-${i}`, { headers: auth })).text(), `value-${i}`);
      } finally {
        await second.stop();
      }
    });

    test("kill -9 in the middle of a write storm never brings back a damaged value", async () => {
      const env = { EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_DATA_DIR: dataDir() };
      const auth = { authorization: `Bearer ${await mint()}` };
      const first = await startNodeProcess(env, argv());
      await ready(first);
      const value = (i: number) => `${i}:${"abcdefghij".repeat(20 + (i % 50))}`;
      const storm = putMany(first, auth, 5000, value, 100).catch(() => {});
      await waitFor(async () => (await metric(first, WRITTEN)) >= 1000, 20_000, "a part of the storm to be written");
      await first.stop("SIGKILL");
      await storm;

      const second = await startNodeProcess(env, argv());
      try {
        await ready(second);
        const stats = await (await fetch(`${second.url}/v1/admin/stats`, { headers: auth })).json();
        assert.ok(stats.entries >= 1000, `${stats.entries} recovered`);
        for (let i = 0; i < 5000; i += 7) {
          const response = await fetch(`${second.url}/v1/kv/key-${i}`, { headers: auth });
          if (response.status === 404) continue;
          assert.equal(await response.text(), value(i), `key-${i}`);
        }
      } finally {
        await second.stop();
      }
    });

    test("SIGTERM writes and fsyncs everything before exit 0, even with EDGECACHE_FSYNC=never", async () => {
      const env = { EDGECACHE_JWT_SECRET: SECRET, EDGECACHE_DATA_DIR: dataDir(), EDGECACHE_FSYNC: "never" };
      const auth = { authorization: `Bearer ${await mint()}` };
      const first = await startNodeProcess(env, argv());
      await ready(first);
      await putMany(first, auth, 500, (i) => `v${i}`);
      const exit = await first.stop("SIGTERM");
      assert.equal(exit.code, 0);
      const messages = first.logs().map((line) => line.msg);
      assert.ok(messages.includes("shutdown complete"));
      assert.ok(!messages.includes("persistence closed with records not written"));

      const second = await startNodeProcess(env, argv());
      try {
        await ready(second);
        const stats = await (await fetch(`${second.url}/v1/admin/stats`, { headers: auth })).json();
        assert.equal(stats.entries, 500);
      } finally {
        await second.stop();
      }
    });
  });
}
