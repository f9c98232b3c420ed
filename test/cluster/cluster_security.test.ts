/**
 * Strangers on the peer port of a running cluster of the compiled binary: a TLS client without a
 * certificate, a certificate from another CA, a cluster certificate claiming another node's id, a
 * node certificate with the wrong cluster name, a plaintext client, and a node that dials a stranger.
 * Each must get nothing (no frame but a `refuse`), and change nothing (member list, data).
 * Also: a local-only node opens no peer link even with peers configured.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect as netConnect, createServer as createNetServer } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { after, before, describe, test } from "node:test";
import { type TestPki, testPki } from "../helpers/certs.ts";
import { CLUSTER_SECRET, type ClusterMember, clusterToken, freePort, nodeEnv, waitForMembers } from "../helpers/cluster_harness.ts";
import { type ClusterMemberView, clusterOf, createLauncher, get, getJson, put } from "../helpers/cluster_client.ts";
import { type NodeProcess, startNodeProcess, waitFor } from "../helpers/node_process.ts";
import { PROTOCOL_VERSION } from "../../src/cluster/frames.ts";
import { frame, helloFrame, parseFrames, probePlain, type ProbeResult, probeTls } from "../helpers/peer_probe.ts";

const KEYS = 24;

/** A peer-facing view of the member list: who, where, and whether alive. */
type Identity = [id: string, peer: string, http: string, alive: boolean];
function identity(view: ClusterMemberView[]): Identity[] {
  const alive = (m: ClusterMemberView) => m.state === "alive" || m.state === "self";
  return view.map((m): Identity => [m.id, m.peer_address, m.http_address, alive(m)]).sort();
}

/** The node closed the connection and sent nothing but, at most, one `refuse`. */
function assertGotNothing(result: ProbeResult, what: string): void {
  assert.equal(result.closedByPeer, true, `${what}: the node closes the connection`);
  assert.ok(result.frames.length <= 1, `${what}: at most one frame, got ${JSON.stringify(result.frames)}`);
  for (const received of result.frames) {
    assert.equal((received as { t?: unknown }).t, "refuse", `${what}: the only frame allowed is a refuse, got ${JSON.stringify(received)}`);
  }
}

/** A TLS server in this process posing as a node, recording what a dialling node sends it. */
async function fakeNode(
  credentials: { cert: string; key: string; ca: string },
  answer: (frames: unknown[], socket: TLSSocket) => void,
): Promise<{ port: number; attempts(): number; frames(): unknown[]; close(): Promise<void> }> {
  let attempts = 0;
  const seen: unknown[] = [];
  const sockets = new Set<TLSSocket>();
  const server = createTlsServer({
    cert: credentials.cert,
    key: credentials.key,
    ca: credentials.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  }, (socket) => {
    sockets.add(socket);
    const chunks: Uint8Array[] = [];
    let answered = 0;
    socket.on("data", (data: Buffer) => {
      chunks.push(new Uint8Array(data));
      const frames = parseFrames(new Uint8Array(Buffer.concat(chunks)));
      seen.push(...frames.slice(answered));
      if (frames.length > answered) answer(frames.slice(answered), socket);
      answered = frames.length;
    });
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  // Every TCP connection counts as an attempt, including those whose TLS handshake then fails.
  server.on("connection", () => attempts++);
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    attempts: () => attempts,
    frames: () => seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("strangers on the peer port of a running 2-node cluster", () => {
  const launcher = createLauncher();
  const fakes: Array<{ close(): Promise<void> }> = [];
  let pki: TestPki;
  let token: string;
  let members: ClusterMember[] = [];
  let baseline: Identity[][];
  let impostorSeed: Awaited<ReturnType<typeof fakeNode>>;
  let strangerSeed: Awaited<ReturnType<typeof fakeNode>>;

  before(async () => {
    pki = await testPki();
    token = await clusterToken();
    // Two seeds of node-a are strangers posing as nodes: one with a certificate from another CA, one
    // with a cluster certificate whose welcome claims to be node-b.
    strangerSeed = await fakeNode({ cert: pki.stranger.cert, key: pki.stranger.key, ca: pki.ca.cert }, () => {});
    impostorSeed = await fakeNode({ cert: pki.impostor.cert, key: pki.impostor.key, ca: pki.ca.cert }, (frames, socket) => {
      if (frames.some((f) => (f as { t?: unknown }).t === "hello")) {
        socket.write(frame({ t: "welcome", v: PROTOCOL_VERSION, node: "node-b", peer: "127.0.0.1:9", http: "127.0.0.1:9", members: [] }));
      }
    });
    fakes.push(strangerSeed, impostorSeed);
    const [portA, portB] = [await freePort(), await freePort()];
    members = await Promise.all([
      launcher.launch({
        id: "node-a",
        peerPort: portA,
        env: await nodeEnv(pki, "node-a", portA, [portB, strangerSeed.port, impostorSeed.port]),
      }),
      launcher.launch({ id: "node-b", peerPort: portB, env: await nodeEnv(pki, "node-b", portB, [portA]) }),
    ]);
    await waitForMembers(members, 2);
    for (let i = 0; i < KEYS; i++) {
      const written = await put(members[i % 2], token, `guarded/${i}`, `value-${i}`);
      assert.ok(written.status === 201, `write ${i} acknowledged: ${written.status} ${written.body}`);
    }
    baseline = await Promise.all(members.map(async (member) => identity((await clusterOf(member, token)).members)));
    assert.deepEqual(baseline[0].map(([id]) => id), ["node-a", "node-b"]);
  });

  after(async () => {
    await launcher.killAll();
    await Promise.all(fakes.map((fake) => fake.close()));
  });

  /** The member list is what it was and every key written before reads back from every node. */
  async function assertNothingChanged(): Promise<void> {
    await waitForMembers(members, 2);
    for (const [index, member] of members.entries()) {
      assert.deepEqual(identity((await clusterOf(member, token)).members), baseline[index], `${member.id}'s member list is unchanged`);
      for (let i = 0; i < KEYS; i++) {
        const read = await get(member, token, `guarded/${i}`);
        assert.equal(read.status, 200, `${member.id} still reads guarded/${i}`);
        assert.equal(read.body, `value-${i}`);
      }
    }
    for (const member of members) assert.equal(member.process.child.exitCode, null, `${member.id} is still running`);
  }

  test("a TLS client without a certificate is closed before any frame", async () => {
    const result = await probeTls(members[0].peerPort, { ca: pki.ca.cert, send: [helloFrame({ node: "node-b" })] });
    assertGotNothing(result, "no certificate");
    assert.equal(result.received, 0);
    assert.match(result.errorCode ?? "", /CERTIFICATE_REQUIRED/, "the TLS layer demands a certificate");
    await assertNothingChanged();
  });

  test("a certificate from another CA, even one naming node-a, is closed before any frame", async () => {
    // The client does not check the node's certificate, so any refusal is the node's doing.
    const result = await probeTls(members[1].peerPort, {
      cert: pki.stranger.cert,
      key: pki.stranger.key,
      send: [helloFrame({ node: "node-a" })],
    });
    assertGotNothing(result, "certificate from another CA");
    assert.equal(result.received, 0);
    await assertNothingChanged();
  });

  test("a cluster certificate whose hello claims node-b's id gets at most a refuse and takes nothing over", async () => {
    for (const member of members) {
      const result = await probeTls(member.peerPort, {
        cert: pki.impostor.cert,
        key: pki.impostor.key,
        ca: pki.ca.cert,
        send: [helloFrame({ node: "node-b", peer: "127.0.0.1:9", http: "127.0.0.1:9" })],
      });
      assertGotNothing(result, `impostor at ${member.id}`);
    }
    await assertNothingChanged();
  });

  test("a node certificate with the wrong cluster name gets at most a refuse", async () => {
    const result = await probeTls(members[0].peerPort, {
      cert: pki.nodes["node-c"].cert,
      key: pki.nodes["node-c"].key,
      ca: pki.ca.cert,
      send: [helloFrame({ node: "node-c", cluster: "another-cluster" })],
    });
    assertGotNothing(result, "wrong cluster");
    await assertNothingChanged();
  });

  test("a node certificate with another protocol version gets at most a refuse", async () => {
    const result = await probeTls(members[1].peerPort, {
      cert: pki.nodes["node-c"].cert,
      key: pki.nodes["node-c"].key,
      ca: pki.ca.cert,
      send: [helloFrame({ node: "node-c", v: 99 })],
    });
    assertGotNothing(result, "other protocol version");
    await assertNothingChanged();
  });

  test("a plaintext TCP client sending a hello frame is closed without a frame", async () => {
    const result = await probePlain(members[0].peerPort, [helloFrame({ node: "node-b" })]);
    assertGotNothing(result, "plaintext");
    assert.equal(result.frames.length, 0, "no frame at all, not even a refuse, goes out in plaintext");
    await assertNothingChanged();
  });

  test("a node certificate that never says hello is dropped without a frame", async () => {
    const result = await probeTls(members[1].peerPort, {
      cert: pki.nodes["node-c"].cert,
      key: pki.nodes["node-c"].key,
      ca: pki.ca.cert,
      send: [],
    });
    assertGotNothing(result, "silent client");
    assert.equal(result.frames.length, 0);
    await assertNothingChanged();
  });

  test("a node dialling a stranger seed sends it nothing and refuses an impostor's welcome", async () => {
    // node-a keeps retrying its seeds with backoff: wait for two tries of the stranger and a refusal of the impostor.
    await waitFor(() => strangerSeed.attempts() >= 2, 15_000, "node-a to dial the stranger seed twice");
    await waitFor(
      () => impostorSeed.frames().some((f) => (f as { t?: unknown }).t === "refuse"),
      15_000,
      "node-a to refuse the impostor seed",
    );
    // The other CA's certificate fails node-a's verification: its hello (addresses, node id) never leaves.
    assert.equal(strangerSeed.frames().length, 0, "the stranger seed received no frame");
    const types = impostorSeed.frames().map((f) => (f as { t?: unknown }).t);
    assert.equal(types[0], "hello", "the impostor, holding a cluster certificate, gets node-a's hello");
    assert.ok(types.includes("refuse"), `node-a refuses the welcome claiming node-b: ${types.join(",")}`);
    assert.ok(types.every((t) => t === "hello" || t === "refuse"), `nothing but hello and refuse: ${types.join(",")}`);
    await assertNothingChanged();
  });

  // Last: it adds node-c to the member list. It proves the probes can see an acceptance, so the
  // refusals above are the node's doing and not a blind probe.
  test("control: node-c's certificate with the right cluster name is welcomed and joins the member list", async () => {
    const result = await probeTls(members[0].peerPort, {
      cert: pki.nodes["node-c"].cert,
      key: pki.nodes["node-c"].key,
      ca: pki.ca.cert,
      send: [helloFrame({ node: "node-c", peer: "127.0.0.1:9", http: "127.0.0.1:9" })],
      timeoutMs: 300,
    });
    assert.equal((result.frames[0] as { t?: unknown })?.t, "welcome");
    const view = identity((await clusterOf(members[0], token)).members);
    assert.ok(view.some(([id]) => id === "node-c"), "node-c is now a member");
    assert.notDeepEqual(view, baseline[0]);
  });
});

describe("a local-only node with peers configured", () => {
  let node: NodeProcess | undefined;
  let seed: { connections: number; close(): Promise<void> } | undefined;
  after(async () => {
    await node?.stop("SIGKILL");
    await seed?.close();
  });

  test("EDGECACHE_MODE=local opens no peer listener and dials no peer", async () => {
    const pki = await testPki();
    const peerPort = await freePort();
    // A plain TCP server on the seed's address counts any connection attempt.
    const server = createNetServer((socket) => {
      counter.connections++;
      socket.destroy();
    });
    const counter = { connections: 0, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    seed = counter;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const env = await nodeEnv(pki, "node-a", peerPort, [(server.address() as { port: number }).port], { EDGECACHE_MODE: "local" });
    node = await startNodeProcess({ ...env, EDGECACHE_JWT_SECRET: CLUSTER_SECRET });
    const token = await clusterToken();
    const view = await getJson({ process: node }, token, "/v1/admin/cluster");
    assert.equal(view.status, 200);
    assert.equal(view.json.mode, "local");
    // A deliberate observation window of ten heartbeat intervals (150ms configured), while serving.
    const until = Date.now() + 1500;
    while (Date.now() < until) assert.equal((await getJson({ process: node }, undefined, "/healthz")).status, 200);
    const refused = await new Promise<string>((resolve) => {
      const socket = netConnect(peerPort, "127.0.0.1");
      socket.on("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "unknown"));
    });
    assert.equal(refused, "ECONNREFUSED", "nothing listens on EDGECACHE_PEER_LISTEN");
    assert.equal(counter.connections, 0, "the configured peer was never dialled");
    const ready = await getJson({ process: node }, undefined, "/readyz");
    assert.equal((ready.json.checks as Record<string, { status: string }>).peers.status, "disabled");
  });
});
