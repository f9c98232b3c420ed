import type { MemberInfo } from "./frames.ts";

/** How this node sees a member. */
export type MemberState = "alive" | "suspect" | "down" | "left";

/** One member in this node's view. */
export interface Member {
  id: string;
  /** Peer-link address (host:port). */
  peer: string;
  /** HTTP API address (host:port). */
  http: string;
  state: MemberState;
  /** When this node last heard from it (ms); self is always current. */
  lastSeen: number;
}

/** Failure-detection timing. */
export interface MembershipOptions {
  self: { id: string; peer: string; http: string };
  /** Silence after which a member is suspect (still placed, but watched). */
  suspectAfterMs: number;
  /** Silence after which a member is down (routed around, its keys re-placed). */
  downAfterMs: number;
  now: () => number;
  /** Called after any change of the set of placed members (alive or suspect). */
  onPlacementChange?: (placed: string[]) => void;
  /** Called on every state change of a member, for logs and metrics. */
  onStateChange?: (member: Member, from: MemberState | "unknown") => void;
}

/** This node's view of the cluster: who exists, who is up, who is placed on the ring. */
export interface Membership {
  /** Every known member, self included. */
  members(): Member[];
  get(id: string): Member | undefined;
  /** Members that own keys: alive and suspect ones (a suspect is not re-placed yet). */
  placed(): string[];
  /** Records a sign of life from `id`, learning or reviving it. */
  heard(id: string, peer: string, http: string): void;
  /** Learns members gossiped by a peer; their liveness is for this node to find out. */
  learn(infos: readonly MemberInfo[]): void;
  /** Marks a member as having left gracefully. */
  left(id: string): void;
  /** Applies timeouts: alive -> suspect -> down. Call periodically. */
  tick(): void;
  /** The view as gossip. */
  gossip(): MemberInfo[];
}

/** Creates a membership view holding only this node. */
export function createMembership(options: MembershipOptions): Membership {
  const members = new Map<string, Member>();
  const self: Member = { ...options.self, state: "alive", lastSeen: options.now() };
  members.set(self.id, self);
  let lastPlacement = [self.id];

  function placedIds(): string[] {
    return [...members.values()].filter((member) => member.state === "alive" || member.state === "suspect").map((member) => member.id).sort();
  }

  function changed(member: Member, from: MemberState | "unknown"): void {
    options.onStateChange?.(member, from);
    const placement = placedIds();
    if (placement.join(",") !== lastPlacement.join(",")) {
      lastPlacement = placement;
      options.onPlacementChange?.(placement);
    }
  }

  function setState(member: Member, state: MemberState): void {
    if (member.state === state) return;
    const from = member.state;
    member.state = state;
    changed(member, from);
  }

  return {
    members: () => [...members.values()].map((member) => (member === self ? { ...member, lastSeen: options.now() } : { ...member })),
    get: (id) => members.get(id),
    placed: placedIds,
    heard(id, peer, http) {
      if (id === self.id) return;
      const member = members.get(id);
      if (member === undefined) {
        const added: Member = { id, peer, http, state: "alive", lastSeen: options.now() };
        members.set(id, added);
        changed(added, "unknown");
        return;
      }
      member.lastSeen = options.now();
      member.peer = peer;
      member.http = http;
      setState(member, "alive");
    },
    learn(infos) {
      for (const info of infos) {
        if (info.id === self.id || members.has(info.id)) continue;
        // A member only others have seen is placed once this node hears from it itself;
        // until then it is known (so it gets dialled) but down.
        // A member the cluster saw leave stays left; it is not something to dial or wait for.
        const learned: Member = { id: info.id, peer: info.peer, http: info.http, state: info.state === "left" ? "left" : "down", lastSeen: 0 };
        members.set(info.id, learned);
        options.onStateChange?.(learned, "unknown");
      }
    },
    left(id) {
      const member = members.get(id);
      if (member !== undefined && member !== self) setState(member, "left");
    },
    tick() {
      const now = options.now();
      for (const member of members.values()) {
        if (member === self || member.state === "left" || member.state === "down") continue;
        const silent = now - member.lastSeen;
        if (silent >= options.downAfterMs) setState(member, "down");
        else if (silent >= options.suspectAfterMs) setState(member, "suspect");
      }
    },
    gossip: () => [...members.values()].map((member) => ({ id: member.id, peer: member.peer, http: member.http, state: member.state })),
  };
}
