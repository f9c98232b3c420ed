import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { binaryPath, waitFor } from "../helpers/node_process.ts";
import { type ClusterMember, clusterToken, clusterView, freePort, nodeEnv, otherRuntimeCommand, startCluster, startMember, stopAll, waitForMembers } from "../helpers/cluster_harness.ts";

const KEYS = 120;

async function put(member: ClusterMember, token: string, key: string, value: string): Promise<Response> {
  return await fetch(`${member.process.url}/v1/kv/${key}`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" }, body: value });
}

async function get(member: ClusterMember, token: string, key: string): Promise<[number, string]> {
  const response = await fetch(`${member.process.url}/v1/kv/${key}`, { headers: { authorization: `Bearer ${token}` } });
  return [response.status, await response.text()];
}

/** Writes KEYS keys round-robin over `members`, asserting each write was acknowledged. */
async function writeKeys(members: ClusterMember[], token: string, prefix: string, version: string): Promise<void> {
  for (let i = 0; i < KEYS; i++) {
    const response = await put(members[i % members.length], token, `${prefix}/${i}`, `${version}-${i}`);
    assert.ok(response.status === 201 || response.status === 204, `write ${i} acknowledged: ${response.status} ${await response.text()}`);
  }
}

/** Asserts every key reads back with `version` from every member. */
async function assertReadable(members: ClusterMember[], token: string, prefix: string, version: string): Promise<void> {
  for (const member of members) {
    for (let i = 0; i < KEYS; i++) {
      const [status, body] = await get(member, token, `${prefix}/${i}`);
      assert.equal(status, 200, `${member.id} reads ${prefix}/${i}`);
      assert.equal(body, `${version}-${i}`, `${member.id} reads the newest ${prefix}/${i}`);
    }
  }
}

describe("a 3-node cluster with 2 replicas over mutual TLS", () => {
  let members: ClusterMember[] = [];
  after(() => stopAll(members));

  test("every acknowledged write is readable from every node, across a Bun and a Deno node", async () => {
    // node-c runs on the other runtime: a Bun node and a Deno node must interoperate.
    ({ members } = await startCluster(["node-a", "node-b", "node-c"], { argvFor: (id) => (id === "node-c" ? otherRuntimeCommand() : [binaryPath()]) }));
    const token = await clusterToken();
    await writeKeys(members, token, "basic", "v1");
    await assertReadable(members, token, "basic", "v1");
    const view = await clusterView(members[0], token);
    assert.deepEqual(view.members.map((m) => m.id).sort(), ["node-a", "node-b", "node-c"]);
  });

  test("kill -9 of one node loses no acknowledged write", async () => {
    const token = await clusterToken();
    await writeKeys(members, token, "crash", "v1");
    const victim = members[1];
    await victim.process.stop("SIGKILL");
    const survivors = members.filter((member) => member !== victim);
    await assertReadable(survivors, token, "crash", "v1");
    await assertReadable(survivors, token, "basic", "v1");
  });

  test("a node that comes back catches up and never overwrites newer data", async () => {
    const token = await clusterToken();
    const survivors = members.filter((member) => member.id !== "node-b");
    await waitForMembers(survivors, 2);
    // Written while node-b was gone: node-b holds older versions of these keys.
    await writeKeys(survivors, token, "crash", "v2");
    const old = members.find((member) => member.id === "node-b") as ClusterMember;
    const back = await startMember({ id: old.id, peerPort: old.peerPort, env: old.env });
    members = [...survivors, back];
    await waitForMembers(members, 3);
    await waitFor(async () => {
      for (let i = 0; i < KEYS; i++) if ((await get(back, token, `crash/${i}`))[1] !== `v2-${i}`) return false;
      return true;
    }, 15_000, "node-b to catch up");
    await assertReadable(members, token, "crash", "v2");
  });

  test("SIGSTOP longer than failure detection, then SIGCONT, converges without stale overwrites", async () => {
    const token = await clusterToken();
    await writeKeys(members, token, "pause", "v1");
    const paused = members[0];
    process.kill(paused.process.child.pid as number, "SIGSTOP");
    try {
      const others = members.filter((member) => member !== paused);
      await waitFor(async () => {
        const view = await clusterView(others[0], token);
        return view.members.find((m) => m.id === paused.id)?.state === "down";
      }, 10_000, "the paused node to be declared down");
      await writeKeys(others, token, "pause", "v2");
    } finally {
      process.kill(paused.process.child.pid as number, "SIGCONT");
    }
    await waitForMembers(members, 3);
    await waitFor(async () => {
      for (let i = 0; i < KEYS; i++) if ((await get(paused, token, `pause/${i}`))[1] !== `v2-${i}`) return false;
      return true;
    }, 15_000, "the resumed node to converge");
    await assertReadable(members, token, "pause", "v2");
  });

  test("a graceful leave hands its keys off and exits 0", async () => {
    const token = await clusterToken();
    await writeKeys(members, token, "leave", "v1");
    const leaving = members[2];
    const exit = await leaving.process.stop("SIGTERM");
    assert.equal(exit.code, 0);
    members = members.filter((member) => member !== leaving);
    await assertReadable(members, token, "leave", "v1");
  });
});

describe("a node joining a running cluster", () => {
  let members: ClusterMember[] = [];
  after(() => stopAll(members));

  test("keys stay readable while a third node joins, and the newcomer gets its share", async () => {
    const started = await startCluster(["node-a", "node-b"]);
    members = started.members;
    const token = await clusterToken();
    await writeKeys(members, token, "join", "v1");
    const port = await freePort();
    const env = await nodeEnv(started.pki, "node-c", port, members.map((member) => member.peerPort));
    const joining = startMember({ id: "node-c", peerPort: port, env });
    // Reads keep working while the ring changes under them.
    await assertReadable(members, token, "join", "v1");
    members.push(await joining);
    await waitForMembers(members, 3);
    await assertReadable(members, token, "join", "v1");
    const stats = await (await fetch(`${members[2].process.url}/v1/admin/stats`, { headers: { authorization: `Bearer ${token}` } })).json();
    await waitFor(async () => {
      const now = await (await fetch(`${members[2].process.url}/v1/admin/stats`, { headers: { authorization: `Bearer ${token}` } })).json();
      return now.entries > 0;
    }, 10_000, "the newcomer to receive keys");
    assert.ok(stats.entries >= 0);
  });
});
