/**
 * A node killed and restarted at once, as a supervisor would, while readers keep reading through
 * every node: the others never see it down, so they route its keys to it from its first moment,
 * empty as it is. Each read must answer the acknowledged value: no 404, no 503, and never an
 * origin value (whose newer version would replace the acknowledged write everywhere).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type TestPki, testPki } from "../helpers/certs.ts";
import { type ClusterMember, clusterToken, freePort, nodeEnv, waitForMembers } from "../helpers/cluster_harness.ts";
import { clusterOf, createLauncher, get, getJson, metricsOf } from "../helpers/cluster_client.ts";
import { waitFor } from "../helpers/node_process.ts";
import { type OriginServer, startOriginServer } from "../helpers/origin_server.ts";

const KEYS = 3000;
const VALUE_PAD = "x".repeat(900);
const valueOf = (i: number) => `v1-${i}-${VALUE_PAD}`;

/** Writes `held/0..KEYS-1` through the batch endpoint, round-robin over `members`; each must be acknowledged. */
async function fill(members: ClusterMember[], token: string): Promise<void> {
  for (let start = 0; start < KEYS; start += 250) {
    const ops = [];
    for (let i = start; i < Math.min(KEYS, start + 250); i++) ops.push({ op: "put", key: `held/${i}`, value: valueOf(i) });
    const response = await fetch(`${members[(start / 250) % members.length].process.url}/v1/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ ops }),
    });
    assert.equal(response.status, 200);
    const { results } = (await response.json()) as { results: Array<{ status: number }> };
    assert.ok(results.every((result) => result.status === 201), "every write acknowledged");
  }
}

/** Readers that read `held/*` in a loop until stopped, collecting every answer that is not the value written. */
function readLoad(token: string) {
  const wrong: string[] = [];
  const running: Array<Promise<void>> = [];
  let reads = 0;
  let stopped = false;
  const reader = async (member: ClusterMember, offset: number) => {
    for (let i = offset % KEYS; !stopped; i = (i + 7) % KEYS) {
      const read = await get(member, token, `held/${i}`);
      reads++;
      if (read.status !== 200 || read.body !== valueOf(i)) wrong.push(`${member.id} held/${i}: ${read.status} ${read.body.slice(0, 60)}`);
    }
  };
  return {
    wrong,
    reads: () => reads,
    /** Starts `count` readers on `member`. */
    add(member: ClusterMember, count: number) {
      for (let r = 0; r < count; r++) running.push(reader(member, running.length * 331));
    },
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/** An origin answering `origin <path>` for any path, cacheable for 10 minutes: its content is never what was written. */
function contentOrigin(): Promise<OriginServer> {
  return startOriginServer((request, response) => {
    response.writeHead(200, { "content-type": "text/plain", "cache-control": "max-age=600" });
    response.end(`origin ${request.url}`);
  });
}

const IDS = ["node-a", "node-b", "node-c"] as const;

/** The environment of member `index` of IDS on `ports`, seeded with the other two. */
function memberEnv(pki: TestPki, ports: number[], index: number, extra: Record<string, string>): Promise<Record<string, string>> {
  return nodeEnv(pki, IDS[index], ports[index], ports.filter((_, other) => other !== index), extra);
}

describe("a node restarted before anyone declares it down, under read load, with an origin", () => {
  const launcher = createLauncher();
  let origin: OriginServer | undefined;
  let members: ClusterMember[] = [];
  let token: string;

  before(async () => {
    token = await clusterToken();
    origin = await contentOrigin();
    const pki = await testPki();
    const ports = await Promise.all(IDS.map(() => freePort()));
    // A failure timeout far longer than the restart: nobody declares node-b down.
    const extra = { EDGECACHE_ORIGIN_URL: origin.url, EDGECACHE_FAILURE_TIMEOUT: "10s" };
    members = await Promise.all(IDS.map(async (id, index) => launcher.launch({ id, peerPort: ports[index], env: await memberEnv(pki, ports, index, extra) })));
    await waitForMembers(members, 3);
    await waitFor(async () => (await getJson(members[1], undefined, "/readyz")).status === 200, 20_000, "node-b ready");
  });

  after(async () => {
    await launcher.killAll();
    await origin?.close();
  });

  test("every read answers the acknowledged value while the restarted node catches up", async () => {
    await fill(members, token);
    const victim = members[1];
    await victim.process.stop("SIGKILL");
    const restarted = launcher.launch({ id: victim.id, peerPort: victim.peerPort, env: victim.env });
    // Readers on the nodes that stayed: they route node-b's share to node-b from its first moment.
    const load = readLoad(token);
    load.add(members[0], 4);
    load.add(members[2], 4);
    try {
      members[1] = await restarted;
      // node-b says it is not ready until it has caught up after its start, then reads through it too.
      await waitFor(async () => (await getJson(members[1], undefined, "/readyz")).status === 200, 30_000, "node-b ready after catching up")
        .catch(async (error) => {
          // Say what it still waits for, and what the syncs logged, to tell a slow sync from a lost one.
          const view = await clusterOf(members[1], token);
          const syncLines = members.flatMap((member) =>
            member.process.logs().filter((line) => /sync|caught up|link|batch|offer/.test(String(line.msg))).map((line) => `${member.id}: ${JSON.stringify(line)}`)
          );
          throw new Error(`${(error as Error).message}; catching_up ${JSON.stringify(view.catching_up)}\n${syncLines.slice(-40).join("\n")}`);
        });
      const view = await clusterOf(members[1], token);
      assert.equal((view.catching_up as { starting_up: boolean }).starting_up, false);
      load.add(members[1], 2);
      await waitFor(async () => ((await clusterOf(members[1], token)).catching_up as { active: boolean }).active === false, 30_000, "node-b's catch-up to end");
      const readsThen = load.reads();
      await waitFor(() => load.reads() >= readsThen + 600, 30_000, "more reads after the catch-up");
    } finally {
      await load.stop();
    }
    const [reads, wrong] = [load.reads(), load.wrong];
    assert.ok(reads > 1000, `${reads} reads ran`);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${reads} reads were wrong`);
    assert.equal(origin?.total(), 0, "no acknowledged key was loaded from the origin");
    // node-b holds its share again, from the syncs, not from reads alone.
    const entries = (await metricsOf(members[1])).get("edgecache_cache_entries") ?? 0;
    assert.ok(entries >= KEYS * 0.5, `node-b holds ${entries} entries (owns about two thirds of ${KEYS})`);
    assert.ok(((await metricsOf(members[1])).get("edgecache_cluster_catching_up") ?? 1) === 0);
  });
});

describe("a node joining under read load, with an origin", () => {
  const launcher = createLauncher();
  let origin: OriginServer | undefined;
  let members: ClusterMember[] = [];
  let token: string;

  after(async () => {
    await launcher.killAll();
    await origin?.close();
  });

  test("no read answers the origin's content for a key written before the join", async () => {
    token = await clusterToken();
    origin = await contentOrigin();
    const pki = await testPki();
    const ports = await Promise.all(IDS.map(() => freePort()));
    const envOf = (index: number) => memberEnv(pki, ports, index, { EDGECACHE_ORIGIN_URL: (origin as OriginServer).url });
    members = await Promise.all([0, 1].map(async (index) => launcher.launch({ id: IDS[index], peerPort: ports[index], env: await envOf(index) })));
    await waitForMembers(members, 2);
    await fill(members, token);
    const load = readLoad(token);
    load.add(members[0], 4);
    load.add(members[1], 4);
    try {
      const joined = await launcher.launch({ id: IDS[2], peerPort: ports[2], env: await envOf(2) });
      members = [...members, joined];
      await waitForMembers(members, 3);
      await waitFor(async () => (await getJson(joined, undefined, "/readyz")).status === 200, 30_000, "node-c ready after catching up");
      load.add(joined, 2);
      const readsThen = load.reads();
      await waitFor(() => load.reads() >= readsThen + 600, 30_000, "more reads after the join");
    } finally {
      await load.stop();
    }
    assert.ok(load.reads() > 1000, `${load.reads()} reads ran`);
    assert.deepEqual(load.wrong.slice(0, 10), [], `${load.wrong.length} of ${load.reads()} reads were wrong`);
    assert.equal(origin.total(), 0, "no key written before the join was loaded from the origin");
    const entries = (await metricsOf(members[2])).get("edgecache_cache_entries") ?? 0;
    assert.ok(entries >= KEYS * 0.5, `node-c holds ${entries} entries (owns about two thirds of ${KEYS})`);
  });
});
