/**
 * Consistent hashing with virtual nodes: each node owns `vnodes` points on a 32-bit ring; a key
 * belongs to the first distinct nodes clockwise from its hash. A node joining or leaving moves
 * only the keys between its points and their predecessors: about 1/N of all keys.
 */
export interface Ring {
  /** Node ids on the ring, sorted. */
  readonly nodes: readonly string[];
  /** The first `count` distinct nodes for `key`, primary first (fewer if the ring is smaller). */
  owners(key: string, count: number): string[];
  /** Share of the hash space each node is primary for, 0..1. */
  ownership(): Record<string, number>;
}

/** Default virtual nodes per node: enough for a few percent of imbalance. */
export const DEFAULT_VNODES = 160;

/**
 * 32-bit hash of a string's UTF-16 code units: FNV-1a for speed, then murmur3's finaliser so
 * similar strings ("node-a#1", "node-a#2") land far apart.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Builds a ring over `nodeIds`. */
export function createRing(nodeIds: readonly string[], vnodes = DEFAULT_VNODES): Ring {
  const nodes = Array.from(new Set(nodeIds)).sort();
  const points: Array<[hash: number, node: number]> = [];
  nodes.forEach((node, index) => {
    for (let i = 0; i < vnodes; i++) points.push([hash32(`${node}#${i}`), index]);
  });
  // Ties between equal hashes are broken by node id, so every node builds the same ring.
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const hashes = Uint32Array.from(points, (point) => point[0]);
  const owners = Uint16Array.from(points, (point) => point[1]);

  function firstPointAtOrAfter(hash: number): number {
    let low = 0;
    let high = hashes.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (hashes[mid] < hash) low = mid + 1;
      else high = mid;
    }
    return low === hashes.length ? 0 : low;
  }

  return {
    nodes,
    owners(key, count) {
      const wanted = Math.min(count, nodes.length);
      const found: string[] = [];
      if (wanted === 0) return found;
      let index = firstPointAtOrAfter(hash32(key));
      for (let steps = 0; steps < hashes.length && found.length < wanted; steps++) {
        const node = nodes[owners[index]];
        if (!found.includes(node)) found.push(node);
        index = index + 1 === hashes.length ? 0 : index + 1;
      }
      return found;
    },
    ownership() {
      const share: Record<string, number> = Object.fromEntries(nodes.map((node) => [node, 0]));
      if (hashes.length === 0) return share;
      for (let i = 0; i < hashes.length; i++) {
        // Point i owns the arc from its predecessor (exclusive) up to itself.
        const previous = i === 0 ? hashes[hashes.length - 1] - 2 ** 32 : hashes[i - 1];
        share[nodes[owners[i]]] += (hashes[i] - previous) / 2 ** 32;
      }
      return share;
    },
  };
}
