import type { StoredEntry } from "../core/entry.ts";
import type { Store } from "../core/store.ts";
import type { Placement } from "./cluster_state.ts";
import { offerAnswerSchema, type Op, type WireEntry } from "./frames.ts";
import type { PeerLinks } from "./peer_links.ts";
import { planHandoff } from "./handoff_plan.ts";
import { createRing, type Ring } from "./ring.ts";
import { deleteToWire, toWire } from "./wire.ts";

/** Batch limits of a handoff: bounded frames, one batch in flight per peer (backpressure). */
const BATCH_ENTRIES = 512;
const BATCH_BYTES = 4 * 1024 * 1024;
/** Keys planned between two yields to the event loop, so heartbeats and requests keep flowing. */
const PLAN_SLICE = 2048;
/** Keys per sync offer, and the key text one offer may carry (the frame schema allows 10,000 keys). */
const OFFER_KEYS = 4096;
const OFFER_BYTES = 1024 * 1024;
/** Passes of a sync at most, while some of it could not be delivered. */
const SYNC_PASSES = 3;
/** Tries per batch; a batch is tried again only while the link to its peer is up. */
const BATCH_ATTEMPTS = 3;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Lets timers and I/O run between slices of a long plan. */
const yieldToLoop = () => pause(0);

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
  /** Pause before trying a failed batch again (doubles per try). @default 200 */
  retryBaseMs?: number;
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
   * yet declared down, which no placement change would repair. Versions decide on arrival. Entries
   * the rebalance just before it delivered to `node` are not sent twice. When everything arrived,
   * `node` is told `synced` (it stops catching up on this node's account) unless its link changed
   * meanwhile (the new link's sync will), and copies held here only as a stand-in are let go once
   * every owner confirmed the same version.
   */
  syncTo(node: string, requestId: string): Promise<{ moved: number; failed: number }>;
  /** A sync to `node` is queued (its link came up): the rebalance before it records what it delivers there. */
  expectSync(node: string): void;
  /** The link to `node` went down: what was delivered there may be lost (a restart); forget it. */
  forget(node: string): void;
}

type Batch = { entries: WireEntry[]; deletes: Array<[string, number, number]>; bytes: number };

/** Creates the rebalancer. */
export function createRebalancer(deps: RebalancerDeps): Rebalancer {
  const { placement, store, links } = deps;
  const retryBaseMs = deps.retryBaseMs ?? 200;
  /**
   * What the last rebalance delivered to nodes whose sync is queued, per node: key -> version, so
   * that sync skips them. Only for those nodes, and dropped when their link goes down.
   */
  let lastDelivered = new Map<string, Map<string, string>>();
  /** Nodes whose link came up and whose sync has not run yet. */
  const syncQueued = new Set<string>();

  /**
   * Sends `op` to `node`, up to BATCH_ATTEMPTS times while `mayRetry()` holds, pausing longer
   * after each failure (each logged as `failure`). True once the peer answered.
   */
  async function sendWithRetries(node: string, op: Op, requestId: string, failure: string, mayRetry: () => boolean): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await links.request(node, op, requestId);
        return true;
      } catch (error) {
        const again = attempt < BATCH_ATTEMPTS && mayRetry();
        deps.log.warn({ peer: node, err: (error as Error)?.message, attempt, retrying: again, requestId }, failure);
        if (!again) return false;
        await pause(retryBaseMs * 2 ** (attempt - 1));
      }
    }
  }

  /** Sends one batch, trying again while the peer's link is up. */
  const send = (node: string, batch: Batch, requestId: string) =>
    sendWithRetries(node, { op: "apply", entries: batch.entries, deletes: batch.deletes }, requestId, "handoff batch failed", () => links.isUp(node));

  /** Sends each peer its batches one after another, so no peer is flooded; peers run in parallel. */
  async function ship(plan: Map<string, Batch[]>, requestId: string): Promise<{ moved: number; failed: number; delivered: Map<string, Map<string, string>> }> {
    let moved = 0;
    let failed = 0;
    const delivered = new Map<string, Map<string, string>>();
    let pending = [...plan.values()].flat().reduce((sum, batch) => sum + batch.entries.length + batch.deletes.length, 0);
    deps.onPending?.(pending);
    await Promise.all([...plan].map(async ([node, batches]) => {
      const got = new Map<string, string>();
      delivered.set(node, got);
      for (const batch of batches) {
        const size = batch.entries.length + batch.deletes.length;
        if (await send(node, batch, requestId)) {
          moved += size;
          for (const entry of batch.entries) got.set(entry.k, versionTag(entry.hlc, entry.node));
        } else {
          failed += size;
        }
        pending -= size;
        deps.onPending?.(pending);
      }
    }));
    deps.onMoved?.(moved);
    return { moved, failed, delivered };
  }

  /**
   * Offers `candidates` to `node` in slices and sends what it lacks; records in `has` every
   * version `node` now holds (sent, or offered and not wanted).
   */
  async function offerAndShip(node: string, candidates: Array<[string, StoredEntry]>, has: Map<string, string>, requestId: string): Promise<{ moved: number; failed: number }> {
    let moved = 0;
    let failed = 0;
    for (const slice of offerSlices(candidates)) {
      let want: number[];
      try {
        const offer = slice.map(([key, entry]): [string, number, number] => [key, entry.version.hlc, entry.version.node]);
        want = offerAnswerSchema.parse(await links.request(node, { op: "offer", keys: offer } satisfies Op, requestId)).want;
      } catch (error) {
        failed += slice.length;
        deps.log.warn({ peer: node, err: (error as Error)?.message, requestId }, "sync offer failed");
        if (!links.isUp(node)) break;
        continue;
      }
      const wanted = new Set(want);
      const plan = new Map<string, Batch[]>();
      slice.forEach(([key, entry], index) => {
        if (wanted.has(index)) add(plan, node, { entry: toWire(key, entry) });
        else has.set(key, versionTag(entry.version.hlc, entry.version.node));
      });
      const result = await ship(plan, requestId);
      moved += result.moved;
      failed += result.failed;
      for (const [key, version] of result.delivered.get(node) ?? []) has.set(key, version);
    }
    return { moved, failed };
  }

  /**
   * A copy this node held only for owners it could not reach (a stand-in) goes once every owner
   * holds that version: `node` just confirmed its part, the other owners are offered the copies
   * now (and sent what they lack). A newer write that arrived meanwhile keeps the copy.
   */
  async function releaseStandIns(node: string, standIn: Array<[string, string]>, has: Map<string, string>, requestId: string): Promise<void> {
    const heldVersion = new Map(standIn);
    const confirmedBy = new Map<string, Set<string>>();
    const toOffer = new Map<string, Array<[string, StoredEntry]>>();
    for (const [key, version] of standIn) {
      if (placement.owners(key).includes(placement.self) || has.get(key) !== version) continue;
      const entry = store.inspect(key);
      if (entry === undefined || versionTag(entry.version.hlc, entry.version.node) !== version) continue;
      confirmedBy.set(key, new Set([node]));
      for (const owner of placement.owners(key)) {
        if (owner === node) continue;
        let list = toOffer.get(owner);
        if (list === undefined) toOffer.set(owner, (list = []));
        list.push([key, entry]);
      }
    }
    for (const [owner, candidates] of toOffer) {
      if (!links.isUp(owner)) continue;
      const held = new Map<string, string>();
      await offerAndShip(owner, candidates, held, requestId);
      for (const [key, version] of held) if (version === heldVersion.get(key)) confirmedBy.get(key)?.add(owner);
    }
    for (const [key, owners] of confirmedBy) {
      const entry = store.inspect(key);
      if (entry === undefined || !placement.owners(key).every((owner) => owners.has(owner))) continue;
      if (has.get(key) === versionTag(entry.version.hlc, entry.version.node)) store.discard(key);
    }
  }

  /** One pass of a sync: offers what `node` owns (less what `already` delivered), sends what it lacks, and every recent delete. */
  async function syncPass(node: string, already: Map<string, string> | undefined, requestId: string): Promise<{ moved: number; failed: number; offered: number }> {
    const candidates: Array<[string, StoredEntry]> = [];
    const standIn: Array<[string, string]> = [];
    let planned = 0;
    for (const [key, entry] of store.entries()) {
      if (++planned % PLAN_SLICE === 0) await yieldToLoop();
      const owners = placement.owners(key);
      if (!owners.includes(node)) continue;
      const version = versionTag(entry.version.hlc, entry.version.node);
      if (!owners.includes(placement.self)) standIn.push([key, version]);
      if (already?.get(key) === version) continue;
      candidates.push([key, entry]);
    }
    // Offer versions first and send only what the peer lacks: after a short absence, or when
    // another former holder already sent a key, most of it is there. Deletes are small: sent as is.
    /** Versions `node` is known to hold: delivered now or by the rebalance, or offered and not wanted. */
    const has = new Map<string, string>(already);
    let { moved, failed } = await offerAndShip(node, candidates, has, requestId);
    const deletes = new Map<string, Batch[]>();
    for (const [key, version] of store.recentDeletes()) if (placement.owners(key).includes(node)) add(deletes, node, { del: deleteToWire(key, version) });
    const result = await ship(deletes, requestId);
    moved += result.moved;
    failed += result.failed;
    await releaseStandIns(node, standIn, has, requestId);
    return { moved, failed, offered: candidates.length };
  }

  /** Tells `node` its sync is complete, unless its link was replaced meanwhile (that link's sync will). */
  async function tellSynced(node: string, serial: number | undefined, requestId: string): Promise<void> {
    const sameLink = () => serial !== undefined && links.serial(node) === serial;
    if (sameLink()) await sendWithRetries(node, { op: "synced" }, requestId, "could not tell the peer its sync is complete", sameLink);
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
      lastDelivered = new Map();
      const plan = new Map<string, Batch[]>();
      const leaving: string[] = [];
      let planned = 0;
      const placed = new Set(placement.ring().nodes);
      for (const [key, entry] of store.entries()) {
        if (++planned % PLAN_SLICE === 0) await yieldToLoop();
        const owners = placement.owners(key);
        const before = previous.owners(key, placement.replicas);
        if (owners.join() === before.join()) continue;
        // Newer copies at the targets win by version, so a key sent twice does no harm, only work.
        const { targets, release } = planHandoff(placement.self, before, owners, placed);
        for (const owner of targets) add(plan, owner, { entry: toWire(key, entry) });
        if (release) leaving.push(key);
      }
      for (const [key, version] of store.recentDeletes()) {
        const before = previous.owners(key, placement.replicas);
        for (const owner of placement.owners(key)) {
          if (owner !== placement.self && !before.includes(owner)) add(plan, owner, { del: deleteToWire(key, version) });
        }
      }
      const result = await ship(plan, requestId);
      lastDelivered = new Map([...result.delivered].filter(([node]) => syncQueued.has(node)));
      // A key leaves this node only once some owner confirmed it has it.
      for (const key of leaving) {
        if (placement.owners(key).some((owner) => result.delivered.get(owner)?.has(key) === true)) store.discard(key);
      }
      if (result.moved + result.failed > 0) deps.log.info({ moved: result.moved, failed: result.failed, requestId }, "rebalance finished");
      return { moved: result.moved, failed: result.failed };
    },
    expectSync(node) {
      syncQueued.add(node);
    },
    forget(node) {
      lastDelivered.delete(node);
    },
    async syncTo(node, requestId) {
      const serial = links.serial(node);
      syncQueued.delete(node);
      let already = lastDelivered.get(node);
      lastDelivered.delete(node);
      let moved = 0;
      let failed = 0;
      let offered = 0;
      // A pass that could not deliver everything is run again (offers make it cheap: only what is
      // still missing goes), while the link is the same one: the peer waits for `synced`.
      for (let pass = 1; ; pass++) {
        const round = await syncPass(node, already, requestId);
        already = undefined;
        moved += round.moved;
        offered += round.offered;
        failed = round.failed;
        if (failed === 0 || pass >= SYNC_PASSES || links.serial(node) !== serial) break;
        await pause(retryBaseMs * 2 ** pass);
      }
      if (failed === 0) await tellSynced(node, serial, requestId);
      if (moved + failed > 0) deps.log.info({ peer: node, moved, failed, offered, requestId }, "sync to peer finished");
      return { moved, failed };
    },
    async handOffAll(requestId) {
      const others = placement.ring().nodes.filter((node) => node !== placement.self);
      if (others.length === 0) return { moved: 0, failed: 0 };
      const without = createRing(others);
      const plan = new Map<string, Batch[]>();
      let planned = 0;
      for (const [key, entry] of store.entries()) {
        if (++planned % PLAN_SLICE === 0) await yieldToLoop();
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

/** Splits a sync's candidates into offers of at most OFFER_KEYS keys and OFFER_BYTES of key text. */
function* offerSlices(candidates: Array<[string, StoredEntry]>): Generator<Array<[string, StoredEntry]>> {
  let slice: Array<[string, StoredEntry]> = [];
  let bytes = 0;
  for (const candidate of candidates) {
    if (slice.length >= OFFER_KEYS || bytes >= OFFER_BYTES) {
      yield slice;
      slice = [];
      bytes = 0;
    }
    slice.push(candidate);
    bytes += candidate[0].length + 24;
  }
  if (slice.length > 0) yield slice;
}

/** A version as a compact comparable string. */
function versionTag(hlc: number, node: number): string {
  return `${hlc}.${node}`;
}
