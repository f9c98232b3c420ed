import type { Store } from "../core/store.ts";
import type { KvService } from "../kv/kv_service.ts";
import { describeCopy } from "../api/explain.ts";
import type { Coordinator } from "./cluster_kv.ts";
import type { OfferAnswer, Op, PeekAnswer } from "./frames.ts";
import { outcomeToWire } from "./outcome_wire.ts";
import { fromWire, toWire } from "./wire.ts";

/** What answering peers needs. */
export interface ReplicaHandlerDeps {
  self: string;
  store: Store;
  /** This node's own reads: store, then origin through its single flight. */
  local: KvService;
  coordinator: Coordinator;
  now: () => number;
  /** A peer finished its sync to this node. */
  onSynced: (from: string) => void;
}

/** Serves the operations peers send to this node; the result is the response body. */
export function createReplicaHandler(deps: ReplicaHandlerDeps): (from: string, op: Op, requestId: string) => Promise<unknown> {
  const { store } = deps;
  return async (from, op, requestId) => {
    switch (op.op) {
      case "get":
        return outcomeToWire(op.key, await deps.coordinator.readHere(op.key, requestId));
      case "put": {
        const { created, version } = await deps.coordinator.write(op.key, { value: new Uint8Array(op.v), contentType: op.ct, tags: op.tags, ttlMs: op.ttl }, op.pre, requestId);
        return { created, hlc: version.hlc, node: version.node };
      }
      case "delete":
        return await deps.coordinator.remove(op.key, op.pre, requestId);
      case "apply": {
        let applied = 0;
        for (const wire of op.entries) if (store.applyEntry(wire.k, fromWire(wire))) applied++;
        for (const [key, hlc, node] of op.deletes) if (store.applyDelete(key, { hlc, node })) applied++;
        return { applied };
      }
      case "invalidate":
        return deps.coordinator.invalidateHere(op.prefix !== undefined ? { prefix: op.prefix } : { tags: op.tags ?? [] }, op.allow);
      case "flush":
        return deps.coordinator.flushHere();
      case "explain":
        return describeCopy(store, op.key, deps.self, deps.now());
      case "peek": {
        const answer: PeekAnswer = {};
        const entry = store.inspect(op.key);
        if (entry !== undefined) answer.entry = toWire(op.key, entry);
        const deleted = store.deletedAt(op.key);
        if (deleted !== undefined) answer.deleted = [deleted.hlc, deleted.node];
        return answer;
      }
      case "offer": {
        const answer: OfferAnswer = { want: [] };
        op.keys.forEach(([key, hlc, node], index) => {
          if (store.wants(key, { hlc, node })) answer.want.push(index);
        });
        return answer;
      }
      case "synced":
        deps.onSynced(from);
        return true;
    }
  };
}
