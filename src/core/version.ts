/**
 * Write versions. A version is a hybrid-logical-clock timestamp plus a 32-bit hash of the node id
 * that made the write, so versions from different nodes are totally ordered: first by clock, then
 * by node. Replication (the cluster issue) compares versions so that a replica never replaces a
 * newer value with an older one; the API surfaces a version as the entry's ETag.
 */

/** A totally ordered write version. */
export interface Version {
  /** Hybrid logical clock: wall milliseconds * 1024 + logical counter (fits in 2^53). */
  readonly hlc: number;
  /** 32-bit FNV-1a hash of the writing node's id; breaks ties between equal clocks. */
  readonly node: number;
}

/** Returns <0, 0 or >0 as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: Version, b: Version): number {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return 0;
}

/** Formats a version as a strong HTTP entity tag, quotes included: `"<hlc36>-<node36>"`. */
export function formatEtag(version: Version): string {
  return `"${version.hlc.toString(36)}-${version.node.toString(36)}"`;
}

/** 32-bit FNV-1a hash of a string's UTF-16 code units: cheap, stable across runtimes. */
export function nodeHash(nodeId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < nodeId.length; i++) {
    hash ^= nodeId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
