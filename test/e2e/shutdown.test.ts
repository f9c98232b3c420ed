import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, test } from "node:test";
import { binaryPath, type NodeProcess, sourceCommand, startNodeProcess, waitFor } from "../helpers/node_process.ts";

const SECRET = "e2e-shutdown-secret-at-least-32-bytes-long";
const TOKEN_ENV = { EDGECACHE_JWT_SECRET: SECRET };

async function mint(): Promise<string> {
  const { SignJWT } = await import("jose");
  return await new SignJWT({ scope: "cache:read cache:write" }).setProtectedHeader({ alg: "HS256" }).setSubject("e2e").setExpirationTime("10m")
    .sign(new TextEncoder().encode(SECRET));
}

async function inflight(node: NodeProcess): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return Number(/^edgecache_http_requests_in_flight (\d+)/m.exec(text)?.[1] ?? -1);
}

/** Opens a PUT whose body is sent only in part, leaving the request in flight. */
function stalledPut(node: NodeProcess, token: string, key: string) {
  const socket = connect(node.port, "127.0.0.1");
  let received = "";
  socket.on("data", (data) => (received += data.toString()));
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.write(`PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello`);
  return { socket, closed, received: () => received };
}

const TARGETS: Array<[string, () => string[]]> = [["the compiled binary", () => [binaryPath()]], ["the sources on this test runtime", sourceCommand]];

for (const [name, argv] of TARGETS) {
  describe(`graceful shutdown of ${name}`, () => {
    test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
      const node = await startNodeProcess({ ...TOKEN_ENV, EDGECACHE_SHUTDOWN_TIMEOUT: "20s" }, argv());
      const token = await mint();
      const put = stalledPut(node, token, "late");
      await waitFor(async () => (await inflight(node)) >= 2, 10_000, "the stalled PUT to be in flight");
      process.kill(node.child.pid as number, "SIGTERM");
      await waitFor(() => node.logs().some((line) => line.msg === "shutting down: no longer accepting connections"), 10_000, "draining to start");
      put.socket.write("world");
      await put.closed;
      assert.match(put.received(), /^HTTP\/1\.1 201/, "the in-flight request completed normally");
      const exit = await node.exited;
      assert.equal(exit.code, 0);
      assert.ok(node.logs().some((line) => line.msg === "shutdown complete"));
    });

    test("SIGTERM exits 0 within EDGECACHE_SHUTDOWN_TIMEOUT when a request never finishes", async () => {
      const node = await startNodeProcess({ ...TOKEN_ENV, EDGECACHE_SHUTDOWN_TIMEOUT: "300ms", EDGECACHE_BODY_TIMEOUT: "60s" }, argv());
      const put = stalledPut(node, await mint(), "never");
      await waitFor(async () => (await inflight(node)) >= 2, 10_000, "the stalled PUT to be in flight");
      const started = Date.now();
      process.kill(node.child.pid as number, "SIGTERM");
      const exit = await node.exited;
      assert.equal(exit.code, 0);
      assert.ok(Date.now() - started < 10_000, "the bounded wait did not hang");
      assert.ok(node.logs().some((line) => line.msg === "shutdown timeout reached with requests in flight; closing them"));
      put.socket.destroy();
    });
  });
}
