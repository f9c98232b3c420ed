/**
 * Whether this node may trust its own store yet. A node that (re)starts, or whose link to a peer
 * comes back, may lack writes the cluster acknowledged meanwhile: they arrive by the peer's sync
 * (`rebalancer.syncTo`), which ends with a `synced` message. Until then reads must consult the
 * key's other owners, or a miss here would answer 404, or worse, load an origin value whose newer
 * version would replace the acknowledged write once the sync arrives.
 *
 * Two phases:
 * - start-up: from start until every peer this node knows to be alive (linked, or reported alive
 *   by gossip) has sent its sync, or `startupCapMs` passes. The ring may still lack members the
 *   others see, so a miss here is not authoritative at all.
 * - after start-up, each link that comes up awaits that peer's sync, for at most `syncCapMs`.
 */
export interface CatchUp {
  /** Starts the start-up phase's clock: called when the node starts linking (after its own recovery). */
  begin(): void;
  /** A link to `node` came up: its sync is awaited. */
  linked(node: string): void;
  /** `node` finished sending every entry it holds that this node owns. */
  synced(node: string): void;
  /** The link to `node` went down: nothing more will come from it on that link. */
  unlinked(node: string): void;
  /** `reporter`'s gossip says `node` is `state`; during start-up a node any peer reports alive is waited for. */
  reported(reporter: string, node: string, state: string): void;
  /** True while some awaited sync has not arrived: reads consult the other owners first. */
  active(): boolean;
  /** True during start-up: a miss here is not authoritative (no origin fetch, no 404 from here). */
  startingUp(): boolean;
  /** Peers whose sync is still awaited, for readiness and logs. */
  awaiting(): string[];
}

/** Timing of the catch-up. */
export interface CatchUpOptions {
  self: string;
  now: () => number;
  /** Longest start-up phase (from `begin()`), even if some peer never syncs. */
  startupCapMs: number;
  /** Longest wait for one peer's sync after its link comes up. */
  syncCapMs: number;
  /** Called once when start-up ends, with whether every awaited peer synced. */
  onStartupEnd?: (complete: boolean) => void;
}

/** Creates the catch-up state of a node that is starting; its start-up clock runs from `begin()`. */
export function createCatchUp(options: CatchUpOptions): CatchUp {
  let startupEnds = Infinity;
  /** Links up whose sync has not arrived, with the time the wait gives up. */
  const awaited = new Map<string, number>();
  /** Peers that completed a sync since start. */
  const syncedOnce = new Set<string>();
  /** What each peer's gossip last said of each member: start-up waits for every member any peer sees alive. */
  const reports = new Map<string, Map<string, string>>();
  let started = false;

  const expire = () => {
    const now = options.now();
    for (const [node, until] of awaited) if (until <= now) awaited.delete(node);
  };

  /** Members some peer reports alive or suspect (this node excluded). */
  function reportedAlive(): Set<string> {
    const alive = new Set<string>();
    for (const view of reports.values()) {
      for (const [node, state] of view) if (node !== options.self && (state === "alive" || state === "suspect")) alive.add(node);
    }
    return alive;
  }

  function startingUp(): boolean {
    if (started) return false;
    if (startupEnds === Infinity) return true;
    expire();
    const capped = options.now() >= startupEnds;
    // Complete once this node heard from the cluster (some peer synced), every peer that synced
    // also told who it sees (a peer that dialled here sends its gossip only with its first
    // heartbeat, possibly after a small sync), and every member seen alive has synced.
    const complete = syncedOnce.size > 0 && awaited.size === 0 && [...syncedOnce].every((node) => reports.has(node)) &&
      [...reportedAlive()].every((node) => syncedOnce.has(node));
    if (!capped && !complete) return true;
    started = true;
    options.onStartupEnd?.(complete);
    return false;
  }

  return {
    begin() {
      if (startupEnds === Infinity) startupEnds = options.now() + options.startupCapMs;
    },
    linked(node) {
      awaited.set(node, options.now() + options.syncCapMs);
    },
    // Each change that can complete start-up checks it at once: start-up ends when its condition
    // is first met, not when someone next asks (a later link-up must not extend it).
    synced(node) {
      awaited.delete(node);
      syncedOnce.add(node);
      startingUp();
    },
    unlinked(node) {
      awaited.delete(node);
      startingUp();
    },
    reported(reporter, node, state) {
      let view = reports.get(reporter);
      if (view === undefined) reports.set(reporter, (view = new Map()));
      view.set(node, state);
      startingUp();
    },
    active() {
      if (startingUp()) return true;
      expire();
      return awaited.size > 0;
    },
    startingUp,
    awaiting() {
      expire();
      const waiting = new Set(awaited.keys());
      if (startingUp()) for (const node of reportedAlive()) if (!syncedOnce.has(node)) waiting.add(node);
      return [...waiting].sort();
    },
  };
}
