import { Counter, Gauge, type Registry } from "prom-client";
import type { Member } from "../cluster/membership.ts";
import type { LinkState } from "../cluster/peer_links.ts";

/** Metrics of the cluster: membership, peer links, forwarding, replication and rebalancing. */
export interface ClusterMetrics {
  frame(direction: "in" | "out", type: string): void;
  forwarded(op: string): void;
  replicationShortfall(): void;
  moved(count: number): void;
  pending(count: number): void;
  /** A read or conditional write asked the key's other owners for their copies while catching up. */
  repaired(): void;
}

const FRAME_TYPES = new Set(["hello", "welcome", "refuse", "ping", "pong", "req", "res", "err", "leave"]);

/**
 * Registers the cluster metrics. Per-peer series are labelled by node id: bounded by the
 * cluster's size, never by keys.
 */
export function createClusterMetrics(
  registry: Registry,
  view: { members(): Member[]; links(): LinkState[]; catchingUp(): boolean },
): ClusterMetrics {
  new Gauge({
    name: "edgecache_cluster_catching_up",
    help: "1 while this node awaits its peers' syncs (after a start or a link coming back)",
    registers: [registry],
    collect(this: Gauge) {
      this.set(view.catchingUp() ? 1 : 0);
    },
  });
  new Gauge({
    name: "edgecache_cluster_members",
    help: "Members in this node's view, by state",
    labelNames: ["state"] as const,
    registers: [registry],
    collect(this: Gauge<"state">) {
      this.reset();
      for (const state of ["alive", "suspect", "down", "left"]) this.set({ state }, 0);
      for (const member of view.members()) this.inc({ state: member.state });
    },
  });
  new Gauge({
    name: "edgecache_peer_up",
    help: "1 when the link to the peer is up",
    labelNames: ["peer"] as const,
    registers: [registry],
    collect(this: Gauge<"peer">) {
      this.reset();
      for (const link of view.links()) this.set({ peer: link.node }, link.up ? 1 : 0);
    },
  });
  new Gauge({
    name: "edgecache_peer_rtt_seconds",
    help: "Round-trip time of the last heartbeat to the peer",
    labelNames: ["peer"] as const,
    registers: [registry],
    collect(this: Gauge<"peer">) {
      this.reset();
      for (const link of view.links()) if (link.up) this.set({ peer: link.node }, link.rttMs / 1000);
    },
  });
  const frames = new Counter({ name: "edgecache_peer_frames_total", help: "Peer frames by direction and type", labelNames: ["direction", "type"] as const, registers: [registry] });
  const forwarded = new Counter({ name: "edgecache_forwarded_requests_total", help: "Requests routed to another node", labelNames: ["op"] as const, registers: [registry] });
  const shortfalls = new Counter({
    name: "edgecache_replication_shortfalls_total",
    help: "Writes refused because fewer replicas than the write quorum acknowledged them",
    registers: [registry],
  });
  const moved = new Counter({ name: "edgecache_rebalance_moved_total", help: "Entries and deletes handed to other nodes by rebalancing", registers: [registry] });
  const pending = new Gauge({ name: "edgecache_rebalance_pending", help: "Entries and deletes waiting to be handed off", registers: [registry] });
  const repairs = new Counter({
    name: "edgecache_catch_up_repairs_total",
    help: "Reads and conditional writes that asked the key's other owners for their copies while catching up",
    registers: [registry],
  });
  return {
    frame: (direction, type) => frames.labels(direction, FRAME_TYPES.has(type) ? type : "other").inc(),
    forwarded: (op) => forwarded.labels(op).inc(),
    replicationShortfall: () => shortfalls.inc(),
    moved: (count) => moved.inc(count),
    pending: (count) => pending.set(count),
    repaired: () => repairs.inc(),
  };
}
