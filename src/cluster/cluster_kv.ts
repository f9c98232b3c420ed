import { PeerUnavailable, EdgecacheError } from "../core/errors.ts";
import type { Preconditions, PutInput, Store } from "../core/store.ts";
import type { Version } from "../core/version.ts";
import { allowedBy, type InvalidationTarget, type KvService } from "../kv/kv_service.ts";
import type { ReadOutcome } from "../origin/read_through.ts";
import type { CatchUp } from "./catch_up.ts";
import type { ChangeCapture, Placement } from "./cluster_state.ts";
import { type Op, peekAnswerSchema } from "./frames.ts";
import { outcomeFromWire } from "./outcome_wire.ts";
import type { PeerLinks } from "./peer_links.ts";
import { deleteToWire, fromWire, toWire } from "./wire.ts";

/** What the cluster's key-value service is built from. */
export interface ClusterKvDeps {
  placement: Placement;
  store: Store;
  /** This node's own reads (store, then origin through its single flight). */
  local: KvService;
  links: PeerLinks;
  capture: ChangeCapture;
  /** Deadline of a forwarded read, which may include the owner's origin fetch. */
  readTimeoutMs: number;
  /** Deadline of a catch-up peek at another owner's copy. */
  peekTimeoutMs: number;
  /** Whether this node still awaits its peers' syncs (after a start or a link coming back). */
  catchUp: CatchUp;
  /** Observes forwarded operations and replication shortfalls for metrics. */
  onForward?: (op: string) => void;
  onReplicationShortfall?: () => void;
  /** Observes a catch-up repair (the other owners asked for their copies of a key). */
  onRepair?: () => void;
}

/** The coordinator's side of writes, also used when a peer forwards a write to this node. */
export interface Coordinator {
  /**
   * Reads as an owner: store, then origin through this node's single flight. A value this node
   * just loaded from the origin is copied to the key's other owners in the background.
   */
  readHere(key: string, requestId: string): Promise<ReadOutcome>;
  write(key: string, input: PutInput, preconditions: Preconditions | undefined, requestId: string): Promise<{ created: boolean; version: Version }>;
  remove(key: string, preconditions: Preconditions | undefined, requestId: string): Promise<boolean>;
  /** Invalidates here; counts only keys this node is primary for, so cluster sums count each key once. */
  invalidateHere(target: InvalidationTarget, allowPrefixes: readonly string[] | undefined): number;
  /** Flushes here; counts only keys this node is primary for. */
  flushHere(): number;
}

/**
 * Creates the coordinator. A write is applied here, then sent to the key's other owners; it is
 * acknowledged once `writeQuorum` copies (this one included) hold it, so with two or more
 * replicas an acknowledged write survives the loss of any one node. Preconditions (If-Match,
 * If-None-Match) are decided here, on the key's primary, so compare-and-set is ordered.
 */
export function createCoordinator(deps: ClusterKvDeps): Coordinator {
  const { placement, store, links, capture, catchUp } = deps;

  async function replicate(key: string, op: Extract<Op, { op: "apply" }>, requestId: string): Promise<void> {
    const owners = placement.owners(key);
    const send = (target: string) => links.request(target, op, requestId).then(() => true, () => false);
    const results = await Promise.all(owners.filter((owner) => owner !== placement.self).map(send));
    let acks = 1 + results.filter(Boolean).length;
    const needed = placement.writeQuorum(owners);
    // Sloppy quorum: while a failed owner is not yet declared down, the next nodes on the ring
    // hold the write instead; once placement changes they are its owners, or hand it over.
    if (acks < needed) {
      const ring = placement.ring();
      for (const standIn of ring.owners(key, ring.nodes.length).filter((node) => !owners.includes(node))) {
        if (acks >= needed) break;
        if (await send(standIn)) acks++;
      }
    }
    if (acks < needed) {
      deps.onReplicationShortfall?.();
      throw new PeerUnavailable(`Cannot acknowledge the write as it must reach ${needed} replicas: current count is ${acks}`, { attempted: true });
    }
  }

  /**
   * Refuses, before touching the store, a write that cannot reach `writeQuorum` nodes because too
   * few are placed (this node is cut off): a refused write must not surface later through handoff.
   */
  function ensureQuorumReachable(key: string): void {
    const needed = placement.writeQuorum(placement.owners(key));
    const placed = placement.ring().nodes.length;
    if (placed < needed) {
      deps.onReplicationShortfall?.();
      throw new PeerUnavailable(`Cannot accept the write as it must reach ${needed} replicas: current count of live nodes is ${placed}`);
    }
  }

  /**
   * While this node catches up, its store may lack writes the cluster acknowledged, or hold older
   * copies: the key's other owners are asked for their copies (store only, never the origin) and
   * the newest version is applied here before the read or the conditional write goes on.
   */
  async function repair(key: string, requestId: string): Promise<void> {
    const others = placement.owners(key).filter((owner) => owner !== placement.self);
    await Promise.all(others.map(async (owner) => {
      let answer;
      try {
        answer = peekAnswerSchema.parse(await links.request(owner, { op: "peek", key }, requestId, deps.peekTimeoutMs));
      } catch {
        return; // An owner that cannot answer now has nothing to add; the sync still comes.
      }
      if (answer.entry !== undefined && answer.entry.k === key) store.applyEntry(key, fromWire(answer.entry));
      if (answer.deleted !== undefined) store.applyDelete(key, { hlc: answer.deleted[0], node: answer.deleted[1] });
    }));
    deps.onRepair?.();
  }

  /** Repairs `key` first while catching up; during start-up a miss here is not an answer at all. */
  async function caughtUpOn(key: string, requestId: string): Promise<void> {
    if (!catchUp.active()) return;
    await repair(key, requestId);
    // A delete remembered here (or just learned from an owner) is an answer; only nothing at all is not.
    if (catchUp.startingUp() && store.peek(key) === undefined && store.deletedAt(key) === undefined) {
      throw new PeerUnavailable(
        `Cannot answer for ${key} here as this node must have caught up with its peers: current state is starting up, awaiting ${catchUp.awaiting().join(", ") || "its first peer"}`,
      );
    }
  }

  const primaryCounter = (allowPrefixes: readonly string[] | undefined) => {
    const allowed = allowedBy(allowPrefixes);
    let primaries = 0;
    const allow = (key: string) => {
      if (allowed !== undefined && !allowed(key)) return false;
      if (placement.isPrimary(key)) primaries++;
      return true;
    };
    return { allow, count: () => primaries };
  };

  return {
    async readHere(key, requestId) {
      await caughtUpOn(key, requestId);
      const outcome = await deps.local.read(key, requestId);
      // Only the request that ran the origin fetch replicates what it stored; its waiters do not.
      if ((outcome.kind === "fetched" && outcome.stored && !outcome.collapsed) || (outcome.kind === "absent" && outcome.stored && !outcome.collapsed)) {
        const entry = store.inspect(key);
        if (entry !== undefined) {
          replicate(key, { op: "apply", entries: [toWire(key, entry)], deletes: [] }, requestId).catch(() => deps.onReplicationShortfall?.());
        }
      }
      return outcome;
    },
    async write(key, input, preconditions, requestId) {
      ensureQuorumReachable(key);
      // A precondition is decided against the newest copy, not one this node may have missed.
      if (preconditions !== undefined && catchUp.active()) await repair(key, requestId);
      const [{ created, entry }] = capture.capture(() => store.put(key, input, preconditions));
      await replicate(key, { op: "apply", entries: [toWire(key, entry)], deletes: [] }, requestId);
      return { created, version: entry.version };
    },
    async remove(key, preconditions, requestId) {
      ensureQuorumReachable(key);
      if (preconditions !== undefined && catchUp.active()) await repair(key, requestId);
      const [removed, changes] = capture.capture(() => store.delete(key, preconditions));
      const deletes = changes.flatMap((change) => (change.kind === "delete" ? [deleteToWire(change.key, change.version)] : []));
      await replicate(key, { op: "apply", entries: [], deletes }, requestId);
      return removed;
    },
    invalidateHere(target, allowPrefixes) {
      const counter = primaryCounter(allowPrefixes);
      if ("prefix" in target) store.invalidatePrefix(target.prefix, counter.allow);
      else store.invalidateTags(target.tags, counter.allow);
      return counter.count();
    },
    flushHere() {
      const primaries = store.entries().filter(([key]) => placement.isPrimary(key)).length;
      store.flush();
      return primaries;
    },
  };
}

/**
 * The cluster's key-value service: any node accepts any request and routes it. Reads are served
 * here when this node holds a fresh copy as an owner, else by the first reachable owner, whose
 * single flight makes a herd spread over the cluster cost one origin fetch. Writes go to the first
 * reachable owner, which coordinates them. Invalidations and flushes reach every placed node.
 */
export function createClusterKv(deps: ClusterKvDeps, coordinator: Coordinator): KvService {
  const { placement, store, links } = deps;

  /**
   * Tries each owner in order until one answers; a refused peer (link down, breaker open) is
   * skipped. A write that may already have been applied (`attempted`) is not tried again on the
   * next owner: that would apply it twice, or answer 412 to a create that in fact succeeded.
   */
  async function firstOwner<T>(owners: readonly string[], idempotent: boolean, here: () => Promise<T>, there: (owner: string) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (const owner of owners) {
      try {
        if (owner === placement.self) return await here();
        deps.onForward?.("route");
        return await there(owner);
      } catch (error) {
        if (!(error instanceof PeerUnavailable) || (!idempotent && error.attempted)) throw error;
        lastError = error;
      }
    }
    throw lastError ?? new PeerUnavailable("Cannot route the request as some owner must be reachable: current owners are all down");
  }

  async function everywhere(op: Extract<Op, { op: "invalidate" | "flush" }>, here: () => number, requestId: string): Promise<number> {
    const nodes = placement.ring().nodes;
    const results = await Promise.allSettled(nodes.map((node) => (node === placement.self ? Promise.resolve(here()) : links.request(node, op, requestId))));
    const failed = results.filter((result) => result.status === "rejected");
    if (failed.length > 0) {
      throw new PeerUnavailable(`Cannot confirm the ${op.op} as every node must apply it: current count of nodes that did not is ${failed.length}`);
    }
    return results.reduce((sum, result) => sum + Number((result as PromiseFulfilledResult<unknown>).value), 0);
  }

  return {
    async read(key, requestId): Promise<ReadOutcome> {
      // A copy here is only trusted once this node has caught up; until then readHere repairs it first.
      const owners = placement.owners(key);
      if (owners.includes(placement.self) && !deps.catchUp.active()) {
        const entry = store.peek(key);
        if (entry !== undefined && entry.negative !== true) return await deps.local.read(key, requestId);
      }
      return await firstOwner(owners, true, () => coordinator.readHere(key, requestId), async (owner) => outcomeFromWire(await links.request(owner, { op: "get", key }, requestId, deps.readTimeoutMs)));
    },
    write(key, input, preconditions, requestId) {
      return firstOwner(
        placement.owners(key),
        false,
        () => coordinator.write(key, input, preconditions, requestId),
        async (owner) => {
          const body = await links.request(owner, { op: "put", key, v: input.value as Uint8Array<ArrayBuffer>, ct: input.contentType, tags: [...input.tags], ttl: input.ttlMs, pre: wirePreconditions(preconditions) }, requestId);
          return parseWriteResult(body);
        },
      );
    },
    remove(key, preconditions, requestId) {
      return firstOwner(
        placement.owners(key),
        false,
        () => coordinator.remove(key, preconditions, requestId),
        async (owner) => (await links.request(owner, { op: "delete", key, pre: wirePreconditions(preconditions) }, requestId)) === true,
      );
    },
    invalidate(target, allowPrefixes, requestId) {
      const op: Extract<Op, { op: "invalidate" }> = "prefix" in target
        ? { op: "invalidate", prefix: target.prefix, allow: allowPrefixes === undefined ? undefined : [...allowPrefixes] }
        : { op: "invalidate", tags: [...target.tags], allow: allowPrefixes === undefined ? undefined : [...allowPrefixes] };
      return everywhere(op, () => coordinator.invalidateHere(target, allowPrefixes), requestId);
    },
    flush(requestId) {
      return everywhere({ op: "flush" }, () => coordinator.flushHere(), requestId);
    },
  };
}

function wirePreconditions(preconditions: Preconditions | undefined): Extract<Op, { op: "put" }>["pre"] {
  if (preconditions === undefined) return undefined;
  const copy = (tags: readonly string[] | "*" | undefined) => (tags === undefined || tags === "*" ? tags : [...tags]);
  return { ifMatch: copy(preconditions.ifMatch), ifNoneMatch: copy(preconditions.ifNoneMatch) };
}

function parseWriteResult(body: unknown): { created: boolean; version: Version } {
  const result = body as { created?: unknown; hlc?: unknown; node?: unknown };
  if (typeof result?.created !== "boolean" || typeof result.hlc !== "number" || typeof result.node !== "number") {
    throw new EdgecacheError("internal", "Cannot use the coordinator's answer as it must carry created and a version: current answer does not");
  }
  return { created: result.created, version: { hlc: result.hlc, node: result.node } };
}
