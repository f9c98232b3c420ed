import type { Store } from "../core/store.ts";
import type { Placement } from "./cluster_state.ts";
import type { Op, WireEntry } from "./frames.ts";
import type { PeerLinks } from "./peer_links.ts";
import { createRing, type Ring } from "./ring.ts";
import { deleteToWire, toWire } from "./wire.ts";

/** Batch limits of a handoff: bounded frames, one batch in flight per peer (backpressure). */
const BATCH_ENTRIES = 512;
const BATCH_BYTES = 4 * 1024 * 1024;

/** What rebalancing needs. */
export interface RebalancerDeps {
  placement: Placement;
  store: Store;
  links: PeerLinks;
  log: { info(object: object, message: string): void; warn(object: object, message: string): void };
  /** Counts entries and deletes handed to peers, for metrics. */
  onMoved?: (count: number) => void;
  /** Reports entries waiting to be handed off, for metrics. */
  onPending?: (count: number) => void;
}

/** Moves keys to their owners when placement changes, and hands everything off on leave. */
export interface Rebalancer {
  /** Moves what the change from `previous` to the current ring requires; resolves when done. */
  rebalance(previous: Ring, requestId: string): Promise<{ moved: number; failed: number }>;
  /** Hands every entry to its owners on a ring without this node (graceful leave). */
  handOffAll(requestId: string): Promise<{ moved: number; failed: number }>;
  /**
   * Sends `node` every entry and recent delete held here that it owns: a peer whose link comes up
   * may have restarted empty or missed writes (taken by stand-ins) while it was unreachable but not
   * yet declared down, which no placement change would repair. Versions decide on arrival.
   */
  syncTo(node: string, requestId: string): Promise<{ moved: number; failed: number }>;
}

type Batch = { entries: WireEntry[]; deletes: Array<[string, number, number]>; bytes: number };

/** Creates the rebalancer. */
export function createRebalancer(deps: RebalancerDeps): Rebalancer {
  const { placement, store, links } = deps;

  /** Sends each peer its batches one after another, so no peer is flooded; peers run in parallel. */
  async function ship(plan: Map<string, Batch[]>, requestId: string): Promise<{ moved: number; failed: number; delivered: Set<string> }> {
    let moved = 0;
    let failed = 0;
    const delivered = new Set<string>();
    let pending = [...plan.values()].flat().reduce((sum, batch) => sum + batch.entries.length + batch.deletes.length, 0);
    deps.onPending?.(pending);
    await Promise.all([...plan].map(async ([node, batches]) => {
      for (const batch of batches) {
        const size = batch.entries.length + batch.deletes.length;
        try {
          await links.request(node, { op: "apply", entries: batch.entries, deletes: batch.deletes } satisfies Op, requestId);
          moved += size;
          for (const entry of batch.entries) delivered.add(`${node}\u0000${entry.k}`);
        } catch (error) {
          failed += size;
          deps.log.warn({ peer: node, err: (error as Error)?.message, requestId }, "handoff batch failed");
        }
        pending -= size;
        deps.onPending?.(pending);
      }
    }));
    deps.onMoved?.(moved);
    return { moved, failed, delivered };
  }

  function add(plan: Map<string, Batch[]>, node: string, item: { entry?: WireEntry; del?: [string, number, number] }): void {
    let batches = plan.get(node);
    if (batches === undefined) plan.set(node, (batches = []));
    let batch = batches[batches.length - 1];
    if (batch === undefined || batch.entries.length + batch.deletes.length >= BATCH_ENTRIES || batch.bytes >= BATCH_BYTES) {
      batch = { entries: [], deletes: [], bytes: 0 };
      batches.push(batch);
    }
    if (item.entry !== undefined) {
      batch.entries.push(item.entry);
      batch.bytes += item.entry.v.byteLength + item.entry.k.length + 64;
    }
    if (item.del !== undefined) {
      batch.deletes.push(item.del);
      batch.bytes += item.del[0].length + 24;
    }
  }

  return {
    async rebalance(previous, requestId) {
      const plan = new Map<string, Batch[]>();
      const leaving: string[] = [];
      for (const [key, entry] of store.entries()) {
        const owners = placement.owners(key);
        const before = previous.owners(key, placement.replicas);
        if (owners.join() === before.join()) continue;
        // An owner that stays sends the key to the new owners; a node that is no longer an owner
        // sends it to all of them and lets it go. Newer copies there win by version.
        const staying = owners.includes(placement.self);
        const targets = staying ? owners.filter((owner) => owner !== placement.self && !before.includes(owner)) : owners;
        for (const owner of targets) add(plan, owner, { entry: toWire(key, entry) });
        if (!staying) leaving.push(key);
      }
      for (const [key, version] of store.recentDeletes()) {
        const before = previous.owners(key, placement.replicas);
        for (const owner of placement.owners(key)) {
          if (owner !== placement.self && !before.includes(owner)) add(plan, owner, { del: deleteToWire(key, version) });
        }
      }
      const result = await ship(plan, requestId);
      // A key leaves this node only once some owner confirmed it has it.
      for (const key of leaving) {
        if (placement.owners(key).some((owner) => result.delivered.has(`${owner}\u0000${key}`))) store.discard(key);
      }
      if (result.moved + result.failed > 0) deps.log.info({ moved: result.moved, failed: result.failed, requestId }, "rebalance finished");
      return { moved: result.moved, failed: result.failed };
    },
    async syncTo(node, requestId) {
      const plan = new Map<string, Batch[]>();
      for (const [key, entry] of store.entries()) if (placement.owners(key).includes(node)) add(plan, node, { entry: toWire(key, entry) });
      for (const [key, version] of store.recentDeletes()) if (placement.owners(key).includes(node)) add(plan, node, { del: deleteToWire(key, version) });
      if (plan.size === 0) return { moved: 0, failed: 0 };
      const { moved, failed } = await ship(plan, requestId);
      deps.log.info({ peer: node, moved, failed, requestId }, "sync to peer finished");
      return { moved, failed };
    },
    async handOffAll(requestId) {
      const others = placement.ring().nodes.filter((node) => node !== placement.self);
      if (others.length === 0) return { moved: 0, failed: 0 };
      const without = createRing(others);
      const plan = new Map<string, Batch[]>();
      for (const [key, entry] of store.entries()) {
        for (const owner of without.owners(key, placement.replicas)) add(plan, owner, { entry: toWire(key, entry) });
      }
      for (const [key, version] of store.recentDeletes()) {
        for (const owner of without.owners(key, placement.replicas)) add(plan, owner, { del: deleteToWire(key, version) });
      }
      const { moved, failed } = await ship(plan, requestId);
      deps.log.info({ moved, failed, requestId }, "handoff before leaving finished");
      return { moved, failed };
    },
  };
}
