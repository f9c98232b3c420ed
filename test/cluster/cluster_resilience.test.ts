/**
 * A cluster of the compiled binary under stress: a read herd spread over every node (and again
 * after the key's owner is killed), request ids followed across nodes, the operator's views
 * (explain, cluster, readyz, metrics) in health and after a kill, and a node cut off by TCP
 * proxies the test controls: dropped (a partition), delayed, cut mid-chunk, black-holed for good
 * (new connections work), and killed and restarted before anyone declares it down.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { testPki } from "../helpers/certs.ts";
import { type ClusterMember, clusterToken, freePort, nodeEnv, waitForMembers } from "../helpers/cluster_harness.ts";
import { clusterOf, createLauncher, get, getJson, metricsOf, put } from "../helpers/cluster_client.ts";
import { waitFor } from "../helpers/node_process.ts";
import { type OriginServer, startOriginServer } from "../helpers/origin_server.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp_proxy.ts";

const HERD = 300;
const ORIGIN_DELAY_MS = 300;

/** `/v1/admin/explain/{key}` of a member. */
async function explain(
  member: ClusterMember,
  token: string,
  key: string,
): Promise<{ owner: string; replicas: string[]; copies: Array<{ node: string; present: boolean; etag?: string; error?: string }> }> {
  const { status, json } = await getJson(member, token, `/v1/admin/explain/${key}`);
  assert.equal(status, 200);
  return json as never;
}

/** The first key `${prefix}/N` whose owner is `owner`. */
async function keyOwnedBy(member: ClusterMember, token: string, prefix: string, owner: string): Promise<string> {
  for (let i = 0; i < 200; i++) if ((await explain(member, token, `${prefix}/${i}`)).owner === owner) return `${prefix}/${i}`;
  throw new Error(`no key under ${prefix}/ is owned by ${owner}`);
}

/** Sends `count` concurrent GETs for `key`, round-robin over `members`. */
async function herd(members: ClusterMember[], token: string, key: string, count = HERD): Promise<Array<{ status: number; body: string }>> {
  return await Promise.all(Array.from({ length: count }, (_, i) => get(members[i % members.length], token, key)));
}

describe("a 3-node cluster reading through a slow origin", () => {
  const launcher = createLauncher();
  let origin: OriginServer | undefined;
  let members: ClusterMember[] = [];
  let token: string;

  before(async () => {
    token = await clusterToken();
    const served = new Map<string, number>();
    origin = await startOriginServer((request, response) => {
      const path = request.url ?? "/";
      const n = (served.get(path) ?? 0) + 1;
      served.set(path, n);
      // Each fetch of a path answers different bytes, so two fetches could not hide behind equal bodies.
      setTimeout(() => {
        response.writeHead(200, { "content-type": "text/plain", "cache-control": "max-age=60" });
        response.end(`origin ${path} fetch #${n}`);
      }, ORIGIN_DELAY_MS);
    });
    const pki = await testPki();
    const ids = ["node-a", "node-b", "node-c"] as const;
    const ports = await Promise.all(ids.map(() => freePort()));
    const extra = { EDGECACHE_ORIGIN_URL: origin.url, EDGECACHE_LOG_LEVEL: "debug" };
    members = await Promise.all(
      ids.map(async (id, index) =>
        launcher.launch({
          id,
          peerPort: ports[index],
          env: await nodeEnv(
            pki,
            id,
            ports[index],
            ports.filter((_, other) => other !== index),
            extra,
          ),
        })
      ),
    );
    await waitForMembers(members, 3);
  });

  after(async () => {
    await launcher.killAll();
    await origin?.close();
  });

  test(`${HERD} concurrent GETs for one missing key spread over all nodes cause one origin fetch and get the same bytes`, async () => {
    const answers = await herd(members, token, "herd/one");
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body, "origin /herd/one fetch #1");
    }
    assert.equal(origin?.hits.get("/herd/one"), 1, "one origin fetch in the whole cluster");
  });

  test("a request's id travels on the peer frame into the owner's log", async () => {
    const key = "trace/key";
    assert.equal((await put(members[0], token, key, "traced")).status, 201);
    const { replicas } = await explain(members[0], token, key);
    const owner = members.find((member) => member.id === replicas[0]) as ClusterMember;
    // With 2 replicas on 3 nodes one node holds no copy, so it must ask the owner.
    const outsider = members.find((member) => !replicas.includes(member.id)) as ClusterMember;
    const read = await get(outsider, token, key, { "x-request-id": "trace-me-123" });
    assert.equal(read.status, 200);
    assert.equal(read.body, "traced");
    assert.equal(read.headers.get("x-request-id"), "trace-me-123");
    await waitFor(
      () =>
        owner.process.logs().some((line) => line.requestId === "trace-me-123" && line.msg === "peer request" && line.peer === outsider.id),
      5000,
      "the owner to log the forwarded request's id",
    );
    await waitFor(
      () => outsider.process.logs().some((line) => line.requestId === "trace-me-123"),
      5000,
      "the receiving node to log the request's id",
    );
  });

  test("explain, cluster, readyz and metrics describe a healthy cluster", async () => {
    const key = "explain/key";
    const written = await put(members[1], token, key, "explained");
    assert.equal(written.status, 201);
    assert.ok(written.etag !== null);
    for (const member of members) {
      const view = await explain(member, token, key);
      assert.equal(view.replicas.length, 2);
      assert.equal(new Set(view.replicas).size, 2, "two distinct replicas");
      assert.equal(view.owner, view.replicas[0], "the owner is the first replica");
      assert.deepEqual(view.copies.map((copy) => copy.node), view.replicas);
      for (const copy of view.copies) {
        assert.equal(copy.present, true, `${copy.node} holds a copy (asked via ${member.id})`);
        assert.equal(copy.etag, written.etag, `${copy.node}'s copy has the written version`);
      }

      const cluster = await clusterOf(member, token);
      assert.equal(cluster.mode, "cluster");
      assert.deepEqual(cluster.members.map((m) => m.id).sort(), ["node-a", "node-b", "node-c"]);
      for (const m of cluster.members) assert.equal(m.state, m.id === member.id ? "self" : "alive");
      const ownership = cluster.members.reduce((sum, m) => sum + m.ownership, 0);
      assert.ok(Math.abs(ownership - 1) < 0.01, `ownership sums to ~1: ${ownership}`);
      for (const m of cluster.members) assert.ok(m.ownership > 0.2 && m.ownership < 0.5, `${m.id} owns a fair share: ${m.ownership}`);

      const ready = await getJson(member, undefined, "/readyz");
      assert.equal(ready.status, 200);
      assert.equal((ready.json.checks as Record<string, { status: string }>).peers.status, "ok");

      const metrics = await metricsOf(member);
      for (const other of members.filter((m) => m !== member)) {
        assert.equal(metrics.get(`edgecache_peer_up{peer="${other.id}"}`), 1, `${member.id} sees its link to ${other.id} up`);
      }
      assert.equal(metrics.get('edgecache_cluster_members{state="alive"}'), 3);
      assert.equal(metrics.get('edgecache_cluster_members{state="down"}'), 0);
    }
  });

  test("after kill -9 of a key's owner, a herd for that missing key is loaded once by the next replica", async () => {
    const victim = members[2];
    const survivors = members.filter((member) => member !== victim);
    const key = await keyOwnedBy(survivors[0], token, "orphan", victim.id);
    const { replicas } = await explain(survivors[0], token, key);
    const next = replicas[1];
    await victim.process.stop("SIGKILL");
    // At once, before failure detection: the owner's link is gone but it is still placed.
    const answers = await herd(survivors, token, key);
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body, `origin /${key} fetch #1`);
    }
    assert.equal(origin?.hits.get(`/${key}`), 1, "one origin fetch although the owner is dead");
    const loaded = await explain(survivors[0], token, key);
    assert.equal(loaded.copies.find((copy) => copy.node === next)?.present, true, `${next}, the next replica, holds the loaded value`);

    // The operator's views follow: readyz degrades, the link and the member show as down.
    for (const member of survivors) {
      await waitFor(
        async () => {
          const ready = await getJson(member, undefined, "/readyz");
          return (ready.json.checks as Record<string, { status: string }>).peers.status === "degraded";
        },
        10_000,
        `${member.id}'s peers check to degrade`,
      );
      await waitFor(
        async () => (await metricsOf(member)).get('edgecache_cluster_members{state="down"}') === 1,
        10_000,
        `${member.id} to count a member down`,
      );
      const metrics = await metricsOf(member);
      assert.equal(metrics.get(`edgecache_peer_up{peer="${victim.id}"}`), 0);
      assert.equal(metrics.get('edgecache_cluster_members{state="alive"}'), 2);
      const state = (await clusterOf(member, token)).members.find((m) => m.id === victim.id)?.state;
      assert.equal(state, "down");
    }
  });
});

describe("a node partitioned from the others by TCP proxies the test controls", () => {
  const launcher = createLauncher();
  const proxies: TcpProxy[] = [];
  let members: ClusterMember[] = [];
  let token: string;

  const setMode = (mode: Parameters<TcpProxy["setMode"]>[0]) => proxies.forEach((proxy) => proxy.setMode(mode));
  const total = (count: (proxy: TcpProxy) => number) => proxies.reduce((sum, proxy) => sum + count(proxy), 0);
  const [a, b, c] = [0, 1, 2];

  before(async () => {
    token = await clusterToken();
    const pki = await testPki();
    const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()];
    // Every path to or from node-c crosses a proxy: node-c advertises its proxy and is seeded with
    // the proxies of node-a and node-b, which advertise those proxies too, so whoever dials whom
    // after a reconnect goes through one. node-a and node-b link directly through their seeds.
    const toA = await startTcpProxy(portA);
    const toB = await startTcpProxy(portB);
    const toC = await startTcpProxy(portC);
    proxies.push(toA, toB, toC);
    members = await Promise.all([
      launcher.launch({
        id: "node-a",
        peerPort: portA,
        env: await nodeEnv(pki, "node-a", portA, [portB, toC.port], { EDGECACHE_PEER_ADVERTISE: toA.address }),
      }),
      launcher.launch({
        id: "node-b",
        peerPort: portB,
        env: await nodeEnv(pki, "node-b", portB, [portA, toC.port], { EDGECACHE_PEER_ADVERTISE: toB.address }),
      }),
      launcher.launch({
        id: "node-c",
        peerPort: portC,
        env: await nodeEnv(pki, "node-c", portC, [toA.port, toB.port], { EDGECACHE_PEER_ADVERTISE: toC.address }),
      }),
    ]);
    await waitForMembers(members, 3);
  });

  after(async () => {
    await launcher.killAll();
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });

  /** Resolves once `member` has sent `ticks` more heartbeats to each of its peers. */
  async function heartbeats(member: ClusterMember, ticks: number): Promise<void> {
    const pings = async () => (await metricsOf(member)).get('edgecache_peer_frames_total{direction="out",type="ping"}') ?? 0;
    const start = await pings();
    await waitFor(async () => (await pings()) >= start + ticks * 2, 10_000, `${ticks} heartbeats of ${member.id}`);
  }

  /** Writes `value-i` to keys `prefix/i` for i in `range`, round-robin over `writers`; each must be acknowledged. */
  async function writeAll(writers: ClusterMember[], prefix: string, range: number[], version: string): Promise<void> {
    await Promise.all(range.map(async (i, n) => {
      const written = await put(writers[n % writers.length], token, `${prefix}/${i}`, `${version}-${i}`);
      assert.ok(
        written.status === 201 || written.status === 204,
        `write ${prefix}/${i}=${version} acknowledged: ${written.status} ${written.body}`,
      );
    }));
  }

  /** Every expected key reads back with its newest value (null: absent) from each of `readers`. */
  async function mismatches(readers: ClusterMember[], expected: Map<string, string | null>): Promise<string[]> {
    const wrong: string[] = [];
    for (const reader of readers) {
      for (const [key, value] of expected) {
        const read = await get(reader, token, key);
        const ok = value === null ? read.status === 404 : read.status === 200 && read.body === value;
        if (!ok) wrong.push(`${reader.id} ${key}: ${read.status} ${read.body.slice(0, 80)} (want ${value ?? "absent"})`);
      }
    }
    return wrong;
  }

  /** Waits until every node serves `expected`; on timeout fails listing what is still wrong. */
  async function converged(expected: Map<string, string | null>, timeoutMs = 20_000): Promise<void> {
    let wrong: string[] = [];
    await waitFor(
      async () => (wrong = await mismatches(members, expected)).length === 0,
      timeoutMs,
      "every node to serve the newest values",
    ).catch(() => {
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} reads are not the newest`);
    });
  }

  test("seeds listed under other addresses than their nodes advertise are not re-dialled", async () => {
    // node-a and node-b are seeded with each other's direct port but advertise their proxies. One
    // dial per such seed may be needed to learn which node is there; a startup failure may retry
    // it after backoff (capped at the failure timeout), so let the startup settle first.
    await heartbeats(members[a], 10);
    const hellos = async () =>
      await Promise.all(
        [members[a], members[b]].map(async (member) =>
          (await metricsOf(member)).get('edgecache_peer_frames_total{direction="out",type="hello"}') ?? 0
        ),
      );
    const before = await hellos();
    await heartbeats(members[a], 10);
    await heartbeats(members[b], 2);
    assert.deepEqual(await hellos(), before, "no new dial (each dial starts with a hello) while every link is up");
  });

  test("writes acknowledged before, during (majority side) and after a partition are all readable afterwards, newest winning", async () => {
    const expected = new Map<string, string | null>();
    const all = Array.from({ length: 48 }, (_, i) => i);
    await writeAll(members, "part", all, "v1");

    setMode({ kind: "drop" });
    const majority = [members[a], members[b]];
    const stateIn = async (viewer: ClusterMember, id: string) => (await clusterOf(viewer, token)).members.find((m) => m.id === id)?.state;
    await waitFor(
      async () =>
        (await stateIn(members[a], "node-c")) === "down" && (await stateIn(members[b], "node-c")) === "down" &&
        (await stateIn(members[c], "node-a")) === "down" && (await stateIn(members[c], "node-b")) === "down",
      10_000,
      "both sides to declare each other down",
    );
    // Alone, node-c would hold the only copy of anything it took, so it takes nothing.
    const refused = await Promise.all(all.slice(0, 8).map((i) => put(members[c], token, `minority/${i}`, `m1-${i}`)));
    for (const answer of refused) {
      assert.equal(answer.status, 503, "the minority acknowledges no write");
      assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, "peer_unavailable");
    }
    // Overwrites, deletes and new keys acknowledged by the majority while node-c holds old copies.
    // After the heal node-c hands its old copies on; for a key deleted meanwhile, only the delete's
    // tombstone stands between that handoff and the key coming back.
    await writeAll(majority, "part", all.slice(0, 40), "v2");
    for (const i of all.slice(40)) {
      assert.equal(
        (await fetch(`${majority[i % 2].process.url}/v1/kv/part/${i}`, { method: "DELETE", headers: { authorization: `Bearer ${token}` } }))
          .status,
        204,
      );
    }
    await writeAll(majority, "fresh", all.slice(0, 24), "f1");
    for (const i of all) expected.set(`part/${i}`, i < 40 ? `v2-${i}` : null);
    for (const i of all.slice(0, 24)) expected.set(`fresh/${i}`, `f1-${i}`);
    for (const i of all.slice(0, 8)) expected.set(`minority/${i}`, null);
    assert.deepEqual(await mismatches(majority, expected), [], "the majority serves what it acknowledged");
    assert.ok(total((proxy) => proxy.dropped()) > 0, "peer traffic to node-c really was dropped");
    assert.equal(members[c].process.child.exitCode, null);

    setMode({ kind: "forward" });
    await waitForMembers(members, 3, 20_000);
    await writeAll(members, "part", all.slice(0, 16), "v3");
    for (const i of all.slice(0, 16)) expected.set(`part/${i}`, `v3-${i}`);

    await converged(expected);
    // Once more after node-c's own rebalance had time to push its old copies: none may win.
    await heartbeats(members[c], 5);
    assert.deepEqual(await mismatches(members, expected), []);
  });

  test("a delayed path slows peer traffic but loses no acknowledged write", async () => {
    setMode({ kind: "delay", ms: 100 });
    try {
      const range = Array.from({ length: 24 }, (_, i) => i);
      await writeAll(members, "slow", range, "d1");
      // The round trip to node-c crosses the delay twice.
      await waitFor(
        async () => ((await metricsOf(members[a])).get('edgecache_peer_rtt_seconds{peer="node-c"}') ?? 0) >= 0.18,
        10_000,
        "node-a to measure the delayed round trip",
      );
      const expected = new Map(range.map((i) => [`slow/${i}`, `d1-${i}`]));
      assert.deepEqual(await mismatches(members, expected), []);
    } finally {
      setMode({ kind: "forward" });
    }
  });

  test("links cut mid-chunk crash nothing and come back", async () => {
    const acceptedBefore = total((proxy) => proxy.accepted());
    const marked = total((proxy) => proxy.cutMidChunk());
    assert.ok(marked >= 2, `node-c's links cross the proxies: ${marked} open`);
    await waitFor(() => total((proxy) => proxy.cuts()) >= 2, 10_000, "the proxies to cut node-c's links");
    await waitFor(() => total((proxy) => proxy.accepted()) >= acceptedBefore + 2, 10_000, "node-c's links to be dialled again");
    for (const member of members) {
      await waitFor(
        async () => {
          const stats = await getJson(member, token, "/v1/admin/stats");
          const peers = stats.json.peers as Array<{ node: string; up: boolean }>;
          return peers.length === 2 && peers.every((peer) => peer.up);
        },
        15_000,
        `${member.id}'s links to be up again`,
      );
      assert.equal(member.process.child.exitCode, null, `${member.id} is still running`);
    }
    await waitForMembers(members, 3);
    const range = Array.from({ length: 12 }, (_, i) => i);
    await writeAll(members, "after-cut", range, "x1");
    assert.deepEqual(await mismatches(members, new Map(range.map((i) => [`after-cut/${i}`, `x1-${i}`]))), []);
  });

  test("links that silently stop delivering are replaced, and the node rejoins through fresh connections", async () => {
    // A middlebox that forgets node-c's connections: their bytes vanish, nobody is told, new connections work.
    const affected = total((proxy) => proxy.blackholeOpen());
    assert.ok(affected >= 2, `node-c's links cross the proxies: ${affected} open`);
    const majority = [members[a], members[b]];
    await waitFor(
      async () => {
        for (const member of majority) {
          if ((await clusterOf(member, token)).members.find((m) => m.id === "node-c")?.state !== "down") {
            return false;
          }
        }
        return true;
      },
      10_000,
      "node-a and node-b to declare node-c down",
    );
    const range = Array.from({ length: 24 }, (_, i) => i);
    await writeAll(majority, "blackhole", range, "b1");
    // Failure detection must not trust a link it no longer hears from: a fresh connection brings node-c back.
    await waitForMembers(members, 3, 15_000);
    await writeAll(members, "blackhole", range.slice(0, 8), "b2");
    const expected = new Map(range.map((i) => [`blackhole/${i}`, i < 8 ? `b2-${i}` : `b1-${i}`]));
    await converged(expected);
  });

  test("a node killed and restarted before it is declared down gets its keys back", async () => {
    const range = Array.from({ length: 60 }, (_, i) => i);
    await writeAll(members, "restart", range, "r1");
    const victim = members[b];
    await victim.process.stop("SIGKILL");
    // Back at once, as a supervisor would restart it: the others never see it down, so no
    // placement change re-replicates its share; the new link has to bring its keys back.
    members[b] = await launcher.launch({ id: victim.id, peerPort: victim.peerPort, env: victim.env });
    await waitForMembers(members, 3);
    await converged(new Map(range.map((i) => [`restart/${i}`, `r1-${i}`])), 10_000);
  });
});
