import type { StoreChange } from "../core/store.ts";
import { createRing, type Ring } from "./ring.ts";

/** The placement view shared by the cluster's parts: the ring over placed members. */
export interface Placement {
  readonly self: string;
  /** Replication factor as configured; capped by the ring's size when placing. */
  readonly replicas: number;
  ring(): Ring;
  /** Rebuilds the ring over `placed` node ids; returns the previous ring. */
  update(placed: readonly string[]): Ring;
  /** Owners of `key`, primary first. */
  owners(key: string): string[];
  /** True when this node is `key`'s primary. */
  isPrimary(key: string): boolean;
  /**
   * Acknowledgements a write needs so it survives the loss of any one node: min(2, replicas). Not
   * capped by the ring's size: a node cut off from the others (a ring of one) must not acknowledge
   * alone a write whose only copy that node's loss would take.
   */
  writeQuorum(owners: readonly string[]): number;
}

/** Creates the placement of a node that initially knows only itself. */
export function createPlacement(self: string, replicas: number): Placement {
  let ring = createRing([self]);
  return {
    self,
    replicas,
    ring: () => ring,
    update(placed) {
      const previous = ring;
      ring = createRing(placed);
      return previous;
    },
    owners: (key) => ring.owners(key, replicas),
    isPrimary: (key) => ring.owners(key, 1)[0] === self,
    writeQuorum: () => Math.min(2, replicas),
  };
}

/**
 * Collects the store changes a synchronous block makes, so the coordinator can replicate exactly
 * what its own write did (including the version a delete got).
 */
export interface ChangeCapture {
  /** Feed every store change here (the node's store.onChange). */
  observe(change: StoreChange): void;
  /** Runs `work` and returns its result with the changes it made. */
  capture<T>(work: () => T): [T, StoreChange[]];
}

/** Creates a change capture. */
export function createChangeCapture(): ChangeCapture {
  let current: StoreChange[] | undefined;
  return {
    observe(change) {
      current?.push(change);
    },
    capture(work) {
      const outer = current;
      const changes: StoreChange[] = [];
      current = changes;
      try {
        return [work(), changes];
      } finally {
        current = outer;
      }
    },
  };
}
