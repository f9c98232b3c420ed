import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeFrameBody, encodeFrame, FrameReader } from "../../src/cluster/frame_codec.ts";
import { type Frame, type Op, parseFrame, PROTOCOL_VERSION } from "../../src/cluster/frames.ts";
import { createMembership, type Membership } from "../../src/cluster/membership.ts";
import { createPeerLinks, type PeerLinks, type PeerLinkSettings } from "../../src/cluster/peer_links.ts";
import type { Connection, Transport } from "../../src/cluster/transport.ts";
import { PreconditionFailed } from "../../src/core/errors.ts";
import { createMemoryNetwork } from "../helpers/chaos_transport.ts";
import { recordingLog, waitFor } from "./cluster_fixtures.ts";
import { codeOfAsync, seededRandom } from "./fakes.ts";

const SETTINGS: PeerLinkSettings = {
  cluster: "test",
  heartbeatMs: 20,
  // Generous: tests that want a timeout pass their own; the rest must not flake on a loaded machine.
  requestTimeoutMs: 5000,
  connectTimeoutMs: 200,
  maxFrameBytes: 256 * 1024,
  maxQueuedBytes: 1024 * 1024,
  reconnectBaseMs: 10,
  reconnectCapMs: 80,
  breakerThreshold: 3,
  breakerCoolDownMs: 150,
};

/** These tests run over real timers; allow for a loaded machine (bun's default is 5s). */
const SLOW = { timeout: 30_000 };

type Handler = (from: string, op: Op, rid: string) => Promise<unknown>;

interface TestNode {
  id: string;
  address: string;
  links: PeerLinks;
  membership: Membership;
  log: ReturnType<typeof recordingLog>;
  /** Frame types received, in order. */
  framesIn: string[];
  /** Requests served: [from, op, rid]. */
  served: Array<[string, Op, string]>;
  /** Replaces how this node answers peers. */
  handle: Handler;
}

interface NodeOptions {
  settings?: Partial<PeerLinkSettings>;
  /** The identity the transport proves (the certificate's CN); defaults to the node id. */
  identity?: string;
  suspectAfterMs?: number;
  downAfterMs?: number;
  random?: () => number;
  /** Wraps the node's transport (to count or delay connection attempts). */
  wrap?: (transport: Transport) => Transport;
}

const echo: Handler = (from, op) => Promise.resolve({ from, op: op.op, key: "key" in op ? op.key : undefined });

/** A memory network plus the nodes started on it; `stopAll` ends every one of them. */
function harness() {
  const network = createMemoryNetwork();
  const nodes: TestNode[] = [];
  async function start(id: string, seeds: string[] = [], options: NodeOptions = {}): Promise<TestNode> {
    const self = { id, peer: `${id}:7070`, http: `${id}:8080` };
    const membership = createMembership({
      self,
      suspectAfterMs: options.suspectAfterMs ?? 5000,
      downAfterMs: options.downAfterMs ?? 10_000,
      now: Date.now,
    });
    const log = recordingLog();
    const node: TestNode = {
      id,
      address: self.peer,
      links: undefined as unknown as PeerLinks,
      membership,
      log,
      framesIn: [],
      served: [],
      handle: echo,
    };
    const transport = network.transport(options.identity ?? id);
    node.links = createPeerLinks({ ...SETTINGS, ...options.settings }, {
      self,
      transport: options.wrap ? options.wrap(transport) : transport,
      membership,
      log,
      now: Date.now,
      random: options.random ?? seededRandom(id.length),
      onRequest: (from, op, rid) => {
        node.served.push([from, op, rid]);
        return node.handle(from, op, rid);
      },
      onFrame: (direction, type) => void (direction === "in" && node.framesIn.push(type)),
    });
    nodes.push(node);
    await node.links.start({ host: id, port: 7070 }, seeds);
    return node;
  }
  return {
    network,
    start,
    async stopAll() {
      for (const node of nodes) await node.links.stop();
    },
  };
}

/** Runs `body` on a fresh harness and stops every node afterwards, whatever happened. */
async function withCluster(body: (h: ReturnType<typeof harness>) => Promise<void>): Promise<void> {
  const h = harness();
  try {
    await body(h);
  } finally {
    await h.stopAll();
  }
}

const linked = (a: TestNode, b: TestNode) => a.links.isUp(b.id) && b.links.isUp(a.id);

/** Starts node-b, then node-a seeded with it, and waits until the two are linked. */
async function linkedPair(h: ReturnType<typeof harness>): Promise<{ a: TestNode; b: TestNode }> {
  const b = await h.start("node-b");
  const a = await h.start("node-a", [b.address]);
  await waitFor(() => linked(a, b), "a and b linked");
  return { a, b };
}
const pings = (node: TestNode) => node.framesIn.filter((type) => type === "ping").length;

/** A hand-driven peer: a raw connection that records the frames it receives. */
function rawPeer(connection: Connection) {
  const reader = new FrameReader(SETTINGS.maxFrameBytes);
  const frames: Frame[] = [];
  let closed = false;
  connection.onData((chunk) => {
    for (const body of reader.push(chunk)) frames.push(parseFrame(decodeFrameBody(body)));
  });
  connection.onClose(() => (closed = true));
  return {
    frames,
    get closed() {
      return closed;
    },
    send: (frame: unknown) => connection.write(encodeFrame(frame)),
    write: (bytes: Uint8Array) => connection.write(bytes),
  };
}

const hello = (node: string, overrides: Record<string, unknown> = {}) => ({
  t: "hello",
  v: PROTOCOL_VERSION,
  cluster: SETTINGS.cluster,
  node,
  peer: `${node}:7070`,
  http: `${node}:8080`,
  ...overrides,
});

describe("peer links: discovery", () => {
  test("two nodes find each other from one seed and see each other alive", SLOW, () =>
    withCluster(async (h) => {
      const b = await h.start("node-b");
      const a = await h.start("node-a", [b.address]);
      await waitFor(() => linked(a, b), "a link between node-a and node-b");
      assert.equal(a.membership.get("node-b")?.state, "alive");
      assert.equal(b.membership.get("node-a")?.state, "alive");
      assert.equal(b.membership.get("node-a")?.peer, a.address, "the acceptor learns the dialler's advertised address");
      assert.deepEqual(a.links.states().map((s) => [s.node, s.up, s.breaker]), [["node-b", true, "closed"]]);
      // Heartbeats flow both ways and measure a round trip.
      await waitFor(() => pings(a) >= 3 && pings(b) >= 3, "heartbeats both ways");
    }));

  test("a node seeded with only one peer learns the third through gossip and links to it", SLOW, () =>
    withCluster(async (h) => {
      const b = await h.start("node-b");
      const a = await h.start("node-a", [b.address]);
      const c = await h.start("node-c", [b.address]);
      await waitFor(() => linked(a, b) && linked(c, b) && linked(a, c), "every pair linked");
      for (const node of [a, b, c]) {
        assert.deepEqual(node.membership.placed(), ["node-a", "node-b", "node-c"], `${node.id}'s view`);
      }
      assert.equal(a.membership.get("node-c")?.peer, c.address);
    }));

  test("exactly one link per pair even when both sides dial each other at once", SLOW, async () => {
    for (let round = 0; round < 5; round++) {
      await withCluster(async (h) => {
        const [a, b] = await Promise.all([h.start("node-a", ["node-b:7070"]), h.start("node-b", ["node-a:7070"])]);
        await waitFor(() => linked(a, b), "the pair linked");
        // Let several heartbeats and redial rounds pass, then count connections.
        const seen = pings(a) + pings(b);
        await waitFor(() => pings(a) + pings(b) >= seen + 20, "ten heartbeats each way");
        assert.equal(h.network.openConnections(), 1, `round ${round}: connections open`);
        assert.ok(linked(a, b));
      });
    }
  });

  test("a second dial from the same dialler replaces its old link: it dials again only once it gave the old one up", SLOW, () =>
    withCluster(async (h) => {
      // node-z > node-b, so node-b is the preferred dialler of the pair; a raw peer plays node-b.
      const z = await h.start("node-z");
      const dialler = h.network.transport("node-b");
      const first = rawPeer(await dialler.connect({ host: "node-z", port: 7070 }, 1000));
      first.send(hello("node-b"));
      await waitFor(() => first.frames.some((frame) => frame.t === "welcome"), "the first link welcomed");
      // As after a middlebox forgot the first connection: node-b declared it dead and dials again.
      const second = rawPeer(await dialler.connect({ host: "node-z", port: 7070 }, 1000));
      second.send(hello("node-b"));
      await waitFor(() => second.frames.some((frame) => frame.t === "welcome") && first.closed, "the old link closed for the new one");
      assert.equal(second.closed, false, "the new link is kept");
      assert.equal(z.links.isUp("node-b"), true);
      await waitFor(() => second.frames.some((frame) => frame.t === "ping"), "heartbeats on the new link");
    }));

  test("three nodes that all seed each other keep one link per pair", SLOW, () =>
    withCluster(async (h) => {
      const all = ["node-a:7070", "node-b:7070", "node-c:7070"];
      const [a, b, c] = await Promise.all(["node-a", "node-b", "node-c"].map((id) => h.start(id, all)));
      await waitFor(() => linked(a, b) && linked(b, c) && linked(a, c), "every pair linked");
      const seen = pings(a);
      await waitFor(() => pings(a) >= seen + 20, "ten heartbeat rounds");
      assert.equal(h.network.openConnections(), 3);
    }));
});

describe("peer links: handshake", () => {
  test("a dialler whose claimed node id differs from its certificate is refused (impostor)", SLOW, () =>
    withCluster(async (h) => {
      const a = await h.start("node-a");
      const mallory = await h.start("node-b", [a.address], { identity: "mallory" });
      await waitFor(() => mallory.framesIn.includes("refuse"), "the impostor to be refused");
      assert.equal(a.membership.get("node-b"), undefined, "node-a never learns the claimed id");
      assert.equal(a.links.isUp("node-b"), false);
      assert.equal(mallory.links.isUp("node-a"), false);
      assert.equal(a.served.length, 0);
      assert.ok(
        a.log.records.some((r) => r.level === "warn" && r.object.identity === "mallory"),
        "the refusal is logged with the proven identity",
      );
    }));

  test("an acceptor whose claimed node id differs from its certificate is refused by the dialler", SLOW, () =>
    withCluster(async (h) => {
      const mallory = await h.start("node-b", [], { identity: "mallory" });
      const a = await h.start("node-a", [mallory.address]);
      await waitFor(() => mallory.framesIn.includes("refuse"), "node-a to refuse the impostor's welcome");
      assert.equal(a.membership.get("node-b"), undefined);
      assert.equal(a.links.isUp("node-b"), false);
    }));

  test("a node of another cluster is refused, whichever side dials", SLOW, () =>
    withCluster(async (h) => {
      const a = await h.start("node-a");
      const stranger = await h.start("node-s", [a.address], { settings: { cluster: "other" } });
      await waitFor(() => stranger.framesIn.includes("refuse"), "the stranger's hello to be refused");
      const b = await h.start("node-b", [stranger.address]);
      await waitFor(() => b.framesIn.includes("refuse"), "node-b's hello to be refused by the stranger");
      assert.equal(a.membership.get("node-s"), undefined);
      assert.equal(b.membership.get("node-s"), undefined);
      assert.equal(stranger.membership.members().length, 1);
      assert.equal(stranger.links.isUp("node-a") || stranger.links.isUp("node-b"), false);
    }));

  test("a hello with another protocol version is refused and the connection closed", SLOW, () =>
    withCluster(async (h) => {
      const a = await h.start("node-a");
      const peer = rawPeer(await h.network.transport("node-x").connect({ host: "node-a", port: 7070 }, 1000));
      peer.send(hello("node-x", { v: PROTOCOL_VERSION + 1 }));
      await waitFor(() => peer.closed, "node-a to close the connection");
      assert.deepEqual(peer.frames.map((f) => f.t), ["refuse"]);
      assert.equal(a.membership.get("node-x"), undefined);
    }));

  test("a welcome with another protocol version is refused by the dialler", SLOW, () =>
    withCluster(async (h) => {
      const peers: Array<ReturnType<typeof rawPeer>> = [];
      await h.network.transport("node-x").listen({ host: "node-x", port: 7070 }, (connection) => {
        const peer = rawPeer(connection);
        peers.push(peer);
        connection.onData(() => {
          if (peer.frames.length === 1 && peer.frames[0].t === "hello") {
            peer.send({ t: "welcome", v: PROTOCOL_VERSION + 1, node: "node-x", peer: "node-x:7070", http: "node-x:8080", members: [] });
          }
        });
      });
      const a = await h.start("node-a", ["node-x:7070"]);
      await waitFor(() => peers.some((p) => p.frames.some((f) => f.t === "refuse") && p.closed), "node-a to refuse the welcome and close");
      assert.equal(a.membership.get("node-x"), undefined);
      assert.equal(a.links.isUp("node-x"), false);
    }));

  test("a first frame that is not a hello is refused", SLOW, () =>
    withCluster(async (h) => {
      const a = await h.start("node-a");
      const peer = rawPeer(await h.network.transport("node-x").connect({ host: "node-a", port: 7070 }, 1000));
      peer.send({ t: "req", id: 1, rid: "r", op: { op: "flush" } });
      await waitFor(() => peer.closed, "the connection to close");
      assert.deepEqual(peer.frames.map((f) => f.t), ["refuse"]);
      assert.equal(a.served.length, 0, "nothing was served before a handshake");
    }));

  test("a connection that never says hello is closed after the connect timeout", SLOW, () =>
    withCluster(async (h) => {
      await h.start("node-a", [], { settings: { connectTimeoutMs: 60 } });
      const peer = rawPeer(await h.network.transport("node-x").connect({ host: "node-a", port: 7070 }, 1000));
      const opened = Date.now();
      await waitFor(() => peer.closed, "the silent connection to be dropped", 2000);
      assert.ok(Date.now() - opened >= 50, "not before the timeout");
    }));

  test("a valid hello from a raw peer gets a welcome with the member list", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      const peer = rawPeer(await h.network.transport("node-x").connect({ host: "node-a", port: 7070 }, 1000));
      peer.send(hello("node-x"));
      await waitFor(() => peer.frames.length > 0, "the welcome");
      const welcome = peer.frames[0];
      assert.equal(welcome.t, "welcome");
      assert.equal((welcome as Extract<Frame, { t: "welcome" }>).node, "node-a");
      assert.deepEqual((welcome as Extract<Frame, { t: "welcome" }>).members.map((m) => m.id).sort(), ["node-a", "node-b"]);
      await waitFor(() => a.membership.get("node-x")?.state === "alive", "node-a to place node-x");
    }));
});

describe("peer links: requests", () => {
  test("many concurrent requests in both directions share one link and each gets its own answer", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      const random = seededRandom(5);
      // Answers come back in a different order than the requests went out.
      const slow: Handler = (from, op) =>
        new Promise((resolve) => setTimeout(() => resolve({ from, key: (op as { key: string }).key }), Math.floor(random() * 15)));
      a.handle = slow;
      b.handle = slow;
      const count = 300;
      const results = await Promise.all([
        ...Array.from({ length: count }, (_, i) => a.links.request("node-b", { op: "get", key: `a-${i}` }, `rid-a-${i}`, 10_000)),
        ...Array.from({ length: count }, (_, i) => b.links.request("node-a", { op: "get", key: `b-${i}` }, `rid-b-${i}`, 10_000)),
      ]);
      for (let i = 0; i < count; i++) {
        assert.deepEqual(results[i], { from: "node-a", key: `a-${i}` });
        assert.deepEqual(results[count + i], { from: "node-b", key: `b-${i}` });
      }
      assert.equal(h.network.openConnections(), 1);
    }));

  test("the request id and the caller's node id reach the remote handler", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      await a.links.request("node-b", { op: "explain", key: "k" }, "req-42");
      assert.deepEqual(b.served, [["node-a", { op: "explain", key: "k" }, "req-42"]]);
    }));

  test(
    "a remote error comes back with its code; unknown errors as internal; neither trips the breaker",
    SLOW,
    () =>
      withCluster(async (h) => {
        const { a, b } = await linkedPair(h);
        b.handle = (_from, op) =>
          Promise.reject(op.op === "put" ? new PreconditionFailed("Cannot write as If-Match must match") : new Error("boom"));
        const put: Op = { op: "put", key: "k", v: new Uint8Array(1), ct: "", tags: [], ttl: 0 };
        for (let i = 0; i < SETTINGS.breakerThreshold + 2; i++) {
          assert.equal(await codeOfAsync(() => a.links.request("node-b", put, "r")), "precondition_failed");
          assert.equal(await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r")), "internal");
        }
        assert.equal(a.links.states()[0].breaker, "closed");
      }),
  );

  test("a request to a silent peer times out with PeerUnavailable", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      b.handle = () => new Promise(() => {});
      const started = Date.now();
      assert.equal(await codeOfAsync(() => a.links.request("node-b", { op: "get", key: "k" }, "r", 80)), "peer_unavailable");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 70 && elapsed < 1000, `timed out after ${elapsed}ms`);
      assert.ok(linked(a, b), "a timeout does not close the link");
    }));

  test("an answer arriving after its request timed out is dropped, and the link keeps working", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      let answered = false;
      b.handle = (_from, op) =>
        op.op === "get" ? new Promise((resolve) => setTimeout(() => resolve(answered = true), 60)) : Promise.resolve("fine");
      assert.equal(await codeOfAsync(() => a.links.request("node-b", { op: "get", key: "k" }, "r", 20)), "peer_unavailable");
      await waitFor(() => answered, "the late answer to be sent");
      assert.equal(await a.links.request("node-b", { op: "flush" }, "r"), "fine");
      assert.ok(linked(a, b));
    }));

  test("a request to a node without a link fails at once with PeerUnavailable", SLOW, () =>
    withCluster(async (h) => {
      const a = await h.start("node-a");
      assert.equal(await codeOfAsync(() => a.links.request("node-z", { op: "flush" }, "r")), "peer_unavailable");
    }));

  test(
    "the per-peer breaker opens after repeated timeouts, fails fast, then probes and closes again",
    SLOW,
    () =>
      withCluster(async (h) => {
        const b = await h.start("node-b");
        const c = await h.start("node-c");
        const a = await h.start("node-a", [b.address, c.address]);
        await waitFor(() => linked(a, b) && linked(a, c), "a linked to b and c");
        let silent = true;
        b.handle = (from, op) => (silent ? new Promise(() => {}) : echo(from, op, ""));
        for (let i = 0; i < SETTINGS.breakerThreshold; i++) {
          assert.equal(await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r", 30)), "peer_unavailable");
        }
        const state = (node: string) => a.links.states().find((s) => s.node === node)?.breaker;
        assert.equal(state("node-b"), "open");
        const served = b.served.length;
        const started = Date.now();
        assert.equal(await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r", 5000)), "peer_unavailable");
        assert.ok(Date.now() - started < 250, "an open breaker fails fast, not at the 5s timeout");
        assert.equal(b.served.length, served, "nothing was sent while open");
        assert.equal(state("node-c"), "closed", "breakers are per peer");
        assert.deepEqual(await a.links.request("node-c", { op: "flush" }, "r"), { from: "node-a", op: "flush", key: undefined });
        // After the cool-down one probe goes through; its success closes the breaker.
        silent = false;
        await waitFor(() => state("node-b") === "half_open", "the cool-down to pass");
        assert.deepEqual(await a.links.request("node-b", { op: "flush" }, "r"), { from: "node-a", op: "flush", key: undefined });
        assert.equal(state("node-b"), "closed");
      }),
  );

  test("requests that fail because their link closed do not open the breaker, and a new link starts a fresh one", SLOW, () =>
    withCluster(async (h) => {
      const b = await h.start("node-b");
      const a = await h.start("node-a", [b.address], { settings: { breakerCoolDownMs: 60_000 } });
      await waitFor(() => linked(a, b), "a and b linked");
      b.handle = () => new Promise(() => {});
      // Many requests in flight when the link is cut (as when node-b restarts): none is a timeout.
      const inFlight = Array.from({ length: SETTINGS.breakerThreshold * 3 }, () => codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r")));
      h.network.cut("node-a", "node-b");
      assert.deepEqual(new Set(await Promise.all(inFlight)), new Set(["peer_unavailable"]));
      assert.equal(a.links.states()[0].breaker, "closed", "a closed link is no evidence of a hung peer");
      // Timeouts on a live link do open it; the next handshake (a restart) starts it over.
      b.handle = echo;
      // Both sides redial; wait until the duplicate is gone, so no request rides a link about to close.
      await waitFor(() => linked(a, b) && h.network.openConnections() === 1, "the link back, one connection");
      b.handle = () => new Promise(() => {});
      for (let i = 0; i < SETTINGS.breakerThreshold; i++) await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r", 20));
      assert.equal(a.links.states()[0].breaker, "open");
      b.handle = echo;
      h.network.cut("node-a", "node-b");
      await waitFor(() => linked(a, b) && h.network.openConnections() === 1, "a new link, one connection");
      assert.equal(a.links.states()[0].breaker, "closed", "reset by the new handshake, long before its 60 s cool-down");
      assert.deepEqual(await a.links.request("node-b", { op: "flush" }, "r"), { from: "node-a", op: "flush", key: undefined });
    }));

  test("a failed half-open probe opens the breaker again", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      b.handle = () => new Promise(() => {});
      for (let i = 0; i < SETTINGS.breakerThreshold; i++) await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r", 20));
      await waitFor(() => a.links.states()[0].breaker === "half_open", "half-open");
      assert.equal(await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r", 20)), "peer_unavailable");
      assert.equal(a.links.states()[0].breaker, "open");
    }));
});

describe("peer links: failures", () => {
  test("after a cut the link comes back by itself, and requests in flight fail with PeerUnavailable", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      b.handle = () => new Promise(() => {});
      const inFlight = codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r", 5000));
      h.network.cut("node-a", "node-b");
      assert.equal(await inFlight, "peer_unavailable");
      assert.equal(a.links.isUp("node-b"), false);
      b.handle = echo;
      await waitFor(() => linked(a, b), "the link to come back");
      // Both sides redial; the duplicate is closed and one link per pair remains.
      await waitFor(() => h.network.openConnections() === 1, "one connection for the pair");
      const seen = pings(a);
      await waitFor(() => pings(a) >= seen + 10, "ten more heartbeats");
      assert.equal(h.network.openConnections(), 1);
      assert.ok(linked(a, b));
      assert.deepEqual(await a.links.request("node-b", { op: "flush" }, "r"), { from: "node-a", op: "flush", key: undefined });
    }));

  test("while a peer is unreachable, redials back off exponentially up to the cap", SLOW, () =>
    withCluster(async (h) => {
      const attempts: number[] = [];
      const counting = (transport: Transport): Transport => ({
        listen: (address, onConnection) => transport.listen(address, onConnection),
        connect(address, timeoutMs) {
          if (address.host === "node-b") attempts.push(Date.now());
          return transport.connect(address, timeoutMs);
        },
      });
      const b = await h.start("node-b");
      // random() = 1: the full backoff every time (base * 2^attempt, capped).
      const a = await h.start("node-a", [b.address], { wrap: counting, random: () => 0.999999 });
      await waitFor(() => linked(a, b), "a and b linked");
      h.network.partition("node-a", "node-b");
      attempts.length = 0;
      await waitFor(() => attempts.length >= 7, "seven redials");
      const gaps = attempts.slice(1).map((at, i) => at - attempts[i]);
      // Attempt n waits min(cap, base * 2^n) after failing; dials happen on heartbeats, so never sooner.
      const expected = gaps.map((_, i) => Math.min(SETTINGS.reconnectCapMs, SETTINGS.reconnectBaseMs * 2 ** (i + 1)));
      for (let i = 0; i < gaps.length; i++) {
        assert.ok(gaps[i] >= expected[i] - 5, `gap ${i} was ${gaps[i]}ms, backoff ${expected[i]}ms (gaps ${gaps})`);
      }
      // Uncapped, the last gap would be 10ms * 2^6 = 640ms.
      assert.ok(gaps.at(-1)! < 500, `the cap holds: gaps ${gaps}`);
      h.network.heal("node-a", "node-b");
      await waitFor(() => linked(a, b), "the link after the partition heals");
    }));

  test("membership marks a partitioned peer suspect, then down, and alive again after heal", SLOW, () =>
    withCluster(async (h) => {
      const timing = { suspectAfterMs: 100, downAfterMs: 250 };
      const b = await h.start("node-b", [], timing);
      const a = await h.start("node-a", [b.address], timing);
      await waitFor(() => linked(a, b), "a and b linked");
      const seen: string[] = [];
      const watch = () => {
        const state = a.membership.get("node-b")?.state ?? "unknown";
        if (seen.at(-1) !== state) seen.push(state);
        return state;
      };
      watch();
      h.network.partition("node-a", "node-b");
      await waitFor(() => watch() === "down", "node-b down on node-a");
      await waitFor(() => b.membership.get("node-a")?.state === "down", "node-a down on node-b");
      assert.deepEqual(seen, ["alive", "suspect", "down"]);
      assert.deepEqual(a.membership.placed(), ["node-a"]);
      h.network.heal("node-a", "node-b");
      await waitFor(() => watch() === "alive" && b.membership.get("node-a")?.state === "alive", "both alive again");
      assert.deepEqual(a.membership.placed(), ["node-a", "node-b"]);
      assert.ok(linked(a, b));
    }));

  test("a peer sending garbage after its handshake gets its link closed", SLOW, () =>
    withCluster(async (h) => {
      const a = await h.start("node-a");
      const peer = rawPeer(await h.network.transport("node-x").connect({ host: "node-a", port: 7070 }, 1000));
      peer.send(hello("node-x"));
      await waitFor(() => a.links.isUp("node-x"), "node-x linked");
      peer.write(new Uint8Array([0, 0, 0, 3, 0xff, 0xfe, 0xfd]));
      await waitFor(() => peer.closed, "node-a to close the link");
      assert.equal(a.links.isUp("node-x"), false);
    }));

  const garbage: Array<[string, Uint8Array]> = [
    ["random bytes", new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])],
    ["a length prefix of 4 GiB", new Uint8Array([0xff, 0xff, 0xff, 0xff])],
    ["a zero length", new Uint8Array([0, 0, 0, 0])],
    ["a frame of the wrong shape", encodeFrame({ t: "hello", v: "one" })],
  ];
  for (const [name, bytes] of garbage) {
    test(`a connection opening with ${name} is closed without a handshake`, SLOW, () =>
      withCluster(async (h) => {
        const a = await h.start("node-a", [], { settings: { connectTimeoutMs: 5000 } });
        const peer = rawPeer(await h.network.transport("node-x").connect({ host: "node-a", port: 7070 }, 1000));
        peer.write(bytes);
        await waitFor(() => peer.closed, "node-a to close the connection", 1000);
        assert.equal(a.membership.get("node-x"), undefined);
      }));
  }

  test("a second handshake frame on an established link closes it", SLOW, () =>
    withCluster(async (h) => {
      const a = await h.start("node-a");
      const peer = rawPeer(await h.network.transport("node-x").connect({ host: "node-a", port: 7070 }, 1000));
      peer.send(hello("node-x"));
      await waitFor(() => a.links.isUp("node-x"), "node-x linked");
      peer.send({ t: "welcome", v: PROTOCOL_VERSION, node: "node-x", peer: "node-x:7070", http: "node-x:8080", members: [] });
      await waitFor(() => peer.closed, "node-a to close the link");
    }));

  test("announceLeave() makes peers mark this node as left", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      a.links.announceLeave();
      await waitFor(() => b.membership.get("node-a")?.state === "left", "node-a left on node-b");
      assert.deepEqual(b.membership.placed(), ["node-b"]);
    }));

  test("frames a leaving node sends after announcing its leave (its handoff) do not revive it", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      a.links.announceLeave();
      await waitFor(() => b.membership.get("node-a")?.state === "left", "node-a left on node-b");
      for (let i = 0; i < 5; i++) await a.links.request("node-b", { op: "apply", entries: [], deletes: [] }, "handoff");
      const seen = pings(b);
      await waitFor(() => pings(b) >= seen + 3, "more heartbeats from node-a");
      assert.equal(b.membership.get("node-a")?.state, "left");
      assert.deepEqual(b.membership.placed(), ["node-b"]);
    }));

  test("a node that left and comes back with a new handshake is alive again", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      a.links.announceLeave();
      await a.links.stop();
      await waitFor(() => b.membership.get("node-a")?.state === "left" && !b.links.isUp("node-a"), "node-a gone");
      const again = await h.start("node-a", [b.address]);
      await waitFor(() => linked(again, b) && b.membership.get("node-a")?.state === "alive", "node-a back");
    }));

  test("stop() closes every link and the peers see them go", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      await a.links.stop();
      await waitFor(() => !b.links.isUp("node-a"), "node-b to see the link close");
      assert.equal(h.network.openConnections(), 0);
    }));
});

describe("peer links: limits", () => {
  test("requests are refused with overloaded once too many bytes wait for a slow peer", SLOW, () =>
    withCluster(async (h) => {
      const b = await h.start("node-b");
      const a = await h.start("node-a", [b.address], { settings: { maxQueuedBytes: 64 * 1024 } });
      await waitFor(() => linked(a, b), "a and b linked");
      h.network.delay(200);
      const put = (i: number): Op => ({ op: "put", key: `k${i}`, v: new Uint8Array(20 * 1024), ct: "", tags: [], ttl: 0 });
      const codes = await Promise.all(
        Array.from({ length: 20 }, (_, i) => codeOfAsync(() => a.links.request("node-b", put(i), "r", 2000))),
      );
      assert.ok(codes.includes("overloaded"), `codes: ${codes}`);
      assert.ok(codes.includes(undefined), "the first requests went through");
      h.network.delay(0);
      // Once the backlog drains, requests flow again.
      await waitFor(
        async () => (await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r"))) === undefined,
        "requests to flow again",
      );
    }));

  test("a request frame larger than maxFrameBytes is refused before sending and the link stays up", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      b.handle = (from, op) => (op.op === "flush" ? new Promise((resolve) => setTimeout(() => resolve("slow"), 50)) : echo(from, op, ""));
      const other = a.links.request("node-b", { op: "flush" }, "r");
      const big: Op = { op: "put", key: "big", v: new Uint8Array(SETTINGS.maxFrameBytes + 1), ct: "", tags: [], ttl: 0 };
      assert.equal(await codeOfAsync(() => a.links.request("node-b", big, "r")), "value_too_large");
      assert.equal(await other, "slow", "other requests on the link are unaffected");
      assert.ok(linked(a, b));
      assert.equal(a.links.states()[0].breaker, "closed");
    }));

  test("an answer too large to send comes back as an error, without breaking the link or the node", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      b.handle = (_from, op) => Promise.resolve(op.op === "get" ? new Uint8Array(SETTINGS.maxFrameBytes + 1) : "small");
      const code = await codeOfAsync(() => a.links.request("node-b", { op: "get", key: "k" }, "r", 2000));
      assert.ok(code === "value_too_large", `code ${code}`);
      assert.equal(await a.links.request("node-b", { op: "flush" }, "r"), "small");
      assert.ok(linked(a, b));
    }));

  test("a node that has stopped does not complete handshakes that were under way", SLOW, () =>
    withCluster(async (h) => {
      let dials = 0;
      const counting = (transport: Transport): Transport => ({
        listen: (address, onConnection) => transport.listen(address, onConnection),
        connect: (address, timeoutMs) => (dials++, transport.connect(address, timeoutMs)),
      });
      const b = await h.start("node-b");
      h.network.delay(30);
      const a = await h.start("node-a", [b.address], { wrap: counting });
      // The connection is set up at 30ms and its hello arrives at 60ms: stop node-b in between.
      await waitFor(() => h.network.openConnections() === 1, "the connection to open");
      await b.links.stop();
      h.network.delay(0);
      const seen = a.framesIn.length;
      // Either node-a dials again (its first dial failed) or it got frames from node-b (it linked).
      await waitFor(() => dials >= 2 || a.framesIn.length > seen + 2, "node-a's dial to end one way or the other");
      assert.equal(b.links.isUp("node-a"), false, "node-b linked after it stopped");
      assert.equal(a.links.isUp("node-b"), false, "node-a linked to a stopped node");
    }));
});

describe("peer links: chaos", () => {
  test("requests over a delayed link each get their own answer", SLOW, () =>
    withCluster(async (h) => {
      const { a, b } = await linkedPair(h);
      h.network.delay(3);
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => a.links.request("node-b", { op: "get", key: `k${i}` }, "r")));
      results.forEach((result, i) => assert.deepEqual(result, { from: "node-a", op: "get", key: `k${i}` }));
    }));

  test(
    "with a lossy network, requests either succeed or fail with PeerUnavailable, and the nodes recover",
    SLOW,
    () =>
      withCluster(async (h) => {
        const { a, b } = await linkedPair(h);
        h.network.dropRate(0.3, seededRandom(3));
        const codes = await Promise.all(
          Array.from({ length: 50 }, (_, i) => codeOfAsync(() => a.links.request("node-b", { op: "get", key: `k${i}` }, "r", 100))),
        );
        for (const code of codes) assert.ok(code === undefined || code === "peer_unavailable", `code ${code}`);
        assert.ok(codes.includes("peer_unavailable"), "some requests were lost");
        h.network.dropRate(0);
        await waitFor(
          async () => (await codeOfAsync(() => a.links.request("node-b", { op: "flush" }, "r", 100))) === undefined,
          "requests to succeed again",
        );
      }),
  );
});
