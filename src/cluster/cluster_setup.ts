import type { Registry } from "prom-client";
import type { ClusterView, ReadinessCheck } from "../api/context.ts";
import type { Config } from "../config/load_config.ts";
import { formatAddress } from "../config/units.ts";
import type { Store, StoreChange } from "../core/store.ts";
import type { KvService } from "../kv/kv_service.ts";
import { createClusterMetrics } from "../obs/cluster_metrics.ts";
import type { Logger } from "../obs/logger.ts";
import { createClusterKv, createCoordinator } from "./cluster_kv.ts";
import { createChangeCapture, createPlacement } from "./cluster_state.ts";
import { describeCopy } from "../api/explain.ts";
import { createCatchUp } from "./catch_up.ts";
import { createMembership } from "./membership.ts";
import { createPeerLinks } from "./peer_links.ts";
import { createRebalancer } from "./rebalancer.ts";
import { createReplicaHandler } from "./replica_handler.ts";
import type { Transport } from "./transport.ts";

/** Frames carry a value plus its metadata, or a handoff batch of a few MiB: at least 16 MiB. */
const MIN_FRAME_BYTES = 16 * 1024 * 1024;
/** Bytes that may wait for a slow peer before requests to it are refused. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** A node's membership in a cluster. */
export interface ClusterNode {
  /** The cluster's key-value service (routing, replication). */
  kv: KvService;
  /** What the admin routes show. */
  view: ClusterView;
  /** Feed of the store's changes (for capturing a coordinator's own writes). */
  observe(change: StoreChange): void;
  /** Readiness of the cluster part: peers and replica quorum. */
  readiness(): ReadinessCheck;
  /**
   * True until this node has caught up with its peers after starting (or the catch-up cap
   * passed): it is not ready, and a miss here is no answer.
   */
  startingUp(): boolean;
  /** Starts listening and dialling peers; resolves with the bound peer port. */
  start(): Promise<number>;
  /**
   * Tells every peer this node is leaving, so they stop placing keys on it and re-place its keys
   * among themselves. Called first thing on shutdown.
   */
  announceLeave(): void;
  /** Graceful leave: hand every key to its next owners (within `timeoutMs`), close the links. @default timeoutMs 30000 */
  leave(requestId: string, timeoutMs?: number): Promise<void>;
}

/** What joining a cluster needs from the node. */
export interface ClusterSetupDeps {
  store: Store;
  /** This node's own reads: its store, read through its origin. */
  local: KvService;
  transport: Transport;
  registry: Registry;
  log: Logger;
  now: () => number;
  random: () => number;
  /** This node's HTTP address, as peers should see it. */
  httpAddress: string;
}

/** Wires membership, peer links, placement, routing, replication and rebalancing. */
export function setupCluster(config: Config, deps: ClusterSetupDeps): ClusterNode {
  const { store, log } = deps;
  const self = { id: config.cluster.nodeId, peer: config.cluster.peerAdvertise, http: deps.httpAddress };
  const placement = createPlacement(self.id, config.cluster.replicas);
  const capture = createChangeCapture();
  let rebalancing: Promise<unknown> = Promise.resolve();
  let rebalanceSeq = 0;

  // A placement change re-shapes the ring at once (routing follows it), then moves data in the
  // background, one rebalance after another so they never interleave.
  const membership = createMembership({
    self,
    suspectAfterMs: Math.floor(config.cluster.failureTimeoutMs / 2),
    downAfterMs: config.cluster.failureTimeoutMs,
    now: deps.now,
    onStateChange(member, from) {
      if (member.id !== self.id) log.info({ peer: member.id, from, to: member.state }, "member state changed");
    },
    onPlacementChange(placed) {
      const previous = placement.update(placed);
      const requestId = `rebalance-${self.id}-${++rebalanceSeq}`;
      log.info({ placed, requestId }, "placement changed");
      rebalancing = rebalancing.then(() => rebalancer.rebalance(previous, requestId)).catch((error) => log.warn({ err: error, requestId }, "rebalance failed"));
    },
  });
  // Start-up ends once every peer known alive has synced; each later link waits for its sync.
  // Both waits are capped: a peer that never finishes its sync must not keep this node cautious.
  const catchUpCapMs = Math.max(10_000, 4 * config.cluster.failureTimeoutMs);
  const catchUp = createCatchUp({
    self: self.id,
    now: deps.now,
    startupCapMs: catchUpCapMs,
    syncCapMs: catchUpCapMs,
    onStartupEnd: (complete) => log.info({ complete, awaiting: complete ? [] : catchUp.awaiting() }, "caught up with peers after start"),
  });
  const metrics = createClusterMetrics(deps.registry, { members: () => membership.members(), links: () => links.states(), catchingUp: () => catchUp.active() });
  let handle: (from: string, op: import("./frames.ts").Op, requestId: string) => Promise<unknown> = async () => undefined;
  const links = createPeerLinks(
    {
      cluster: config.cluster.name,
      heartbeatMs: config.cluster.heartbeatMs,
      requestTimeoutMs: config.cluster.peerTimeoutMs,
      connectTimeoutMs: Math.max(1000, config.cluster.peerTimeoutMs),
      // The largest value must fit in one frame with room for its key and metadata.
      maxFrameBytes: Math.max(MIN_FRAME_BYTES, config.limits.maxValueBytes + config.limits.maxKeyBytes + 64 * 1024),
      maxQueuedBytes: MAX_QUEUED_BYTES,
      reconnectBaseMs: 100,
      reconnectCapMs: Math.max(1000, config.cluster.failureTimeoutMs),
      breakerThreshold: 5,
      breakerCoolDownMs: Math.max(1000, config.cluster.failureTimeoutMs),
    },
    {
      self,
      transport: deps.transport,
      membership,
      log,
      now: deps.now,
      random: deps.random,
      onRequest: (from, op, requestId) => handle(from, op, requestId),
      onFrame: metrics.frame,
      onLinkUp(node) {
        catchUp.linked(node);
        rebalancer.expectSync(node);
        const requestId = `sync-${self.id}-${++rebalanceSeq}`;
        rebalancing = rebalancing.then(() => rebalancer.syncTo(node, requestId)).catch((error) => log.warn({ err: error, requestId }, "sync to peer failed"));
      },
      onLinkDown(node) {
        catchUp.unlinked(node);
        // What the last rebalance delivered there may be lost with a restart: the next sync sends it again.
        rebalancer.forget(node);
      },
      // Gossip tells who the others see alive: during start-up this node waits for those too.
      onGossip(from, members) {
        for (const member of members) catchUp.reported(from, member.id, member.state);
      },
    },
  );
  const rebalancer = createRebalancer({ placement, store, links, log, onMoved: metrics.moved, onPending: metrics.pending });
  const kvDeps = {
    placement,
    store,
    local: deps.local,
    links,
    capture,
    readTimeoutMs: config.origin.timeoutMs + config.cluster.peerTimeoutMs,
    // A catch-up peek must leave a forwarded read time to answer: half the peer timeout.
    peekTimeoutMs: Math.max(100, Math.floor(config.cluster.peerTimeoutMs / 2)),
    catchUp,
    onForward: metrics.forwarded,
    onReplicationShortfall: metrics.replicationShortfall,
    onRepair: metrics.repaired,
  };
  const coordinator = createCoordinator(kvDeps);
  handle = createReplicaHandler({ self: self.id, store, local: deps.local, coordinator, now: deps.now, onSynced: (from) => catchUp.synced(from) });
  const kv = createClusterKv(kvDeps, coordinator);

  const view: ClusterView = {
    describe() {
      const ownership = placement.ring().ownership();
      return {
        mode: "cluster",
        cluster: config.cluster.name,
        node_id: self.id,
        replicas: config.cluster.replicas,
        effective_replicas: Math.min(config.cluster.replicas, placement.ring().nodes.length),
        catching_up: { active: catchUp.active(), starting_up: catchUp.startingUp(), awaiting: catchUp.awaiting() },
        members: membership.members().map((member) => ({
          id: member.id,
          state: member.id === self.id ? "self" : member.state,
          peer_address: member.peer,
          http_address: member.http,
          last_seen: member.lastSeen === 0 ? null : new Date(member.lastSeen).toISOString(),
          ownership: ownership[member.id] ?? 0,
        })),
      };
    },
    peers: () => links.states().map((link) => ({ ...link, state: membership.get(link.node)?.state ?? "unknown" })),
    async explain(key, requestId) {
      const owners = placement.owners(key);
      const copies = await Promise.all(owners.map(async (owner) => {
        if (owner === self.id) return describeCopy(store, key, self.id, deps.now());
        try {
          return await links.request(owner, { op: "explain", key }, requestId);
        } catch (error) {
          return { node: owner, present: false, error: (error as Error).message };
        }
      }));
      return { key, mode: "cluster", owner: owners[0], replicas: owners, copies };
    },
  };

  return {
    kv,
    view,
    observe: capture.observe,
    startingUp: () => catchUp.startingUp(),
    readiness() {
      if (catchUp.startingUp()) return { status: "down", detail: `catching up after start: awaiting ${catchUp.awaiting().join(", ") || "a first peer"}` };
      const members = membership.members().filter((member) => member.id !== self.id && member.state !== "left");
      const down = members.filter((member) => member.state !== "alive").map((member) => member.id);
      const placed = placement.ring().nodes.length;
      const quorum = Math.min(2, config.cluster.replicas);
      if (placed < quorum) return { status: "degraded", detail: `${placed} live node(s): writes cannot reach ${quorum} replicas` };
      if (down.length > 0) return { status: "degraded", detail: `not alive: ${down.join(", ")}` };
      return { status: "ok", detail: `${members.length} peer(s) alive` };
    },
    async start() {
      catchUp.begin();
      const port = await links.start(config.cluster.peerListen, config.cluster.peers);
      log.info({ peerAddress: formatAddress({ host: config.cluster.peerListen.host, port }), cluster: config.cluster.name }, "peer link listening");
      return port;
    },
    announceLeave: () => links.announceLeave(),
    async leave(requestId, timeoutMs = 30_000) {
      links.announceLeave();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
      const handoff = (async () => {
        await rebalancing;
        await rebalancer.handOffAll(requestId);
      })();
      // The handoff is bounded like every other shutdown step; what it could not send lives on
      // at the other replicas, which re-place this node's keys once they see it leave.
      if ((await Promise.race([handoff, deadline])) === "timeout") log.warn({ requestId, timeoutMs }, "handoff before leaving timed out");
      clearTimeout(timer);
      await links.stop();
    },
  };
}
