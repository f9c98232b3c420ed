/** What one node does with one key when the key's owners change. */
export interface Handoff {
  /** Nodes to send the key to. */
  targets: string[];
  /** True when this node lets its copy go once some owner confirmed it has it. */
  release: boolean;
}

/**
 * Decides, for a key this node holds whose owners changed from `before` to `owners`, where this
 * node sends it:
 * - a former owner that is no longer one sends it to the new owners (it needs their confirmation
 *   to let its copy go), and the owners that stay leave the job to it while it is still placed
 *   (a join: each new owner gets the key once, not from every former holder);
 * - otherwise (the former owner is down or gone) every former owner that stays sends it: no link
 *   comes up then, so no sync would repair a copy one sender lacked or failed to deliver;
 * - a node that holds a copy without having been an owner (a stand-in) sends it to every owner,
 *   none of which may have it, and lets it go.
 * Every node decides from its own ring; on a join, the syncs on link-up cover views that differ.
 */
export function planHandoff(self: string, before: readonly string[], owners: readonly string[], placed: ReadonlySet<string>): Handoff {
  const fresh = owners.filter((owner) => !before.includes(owner) && owner !== self);
  if (!owners.includes(self)) {
    const targets = before.includes(self) && fresh.length > 0 ? fresh : owners.filter((owner) => owner !== self);
    return { targets, release: true };
  }
  if (fresh.length === 0) return { targets: [], release: false };
  const leaverSends = before.some((owner) => !owners.includes(owner) && placed.has(owner));
  return { targets: leaverSends ? [] : fresh, release: false };
}
