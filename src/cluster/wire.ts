import type { StoredEntry } from "../core/entry.ts";
import type { Version } from "../core/version.ts";
import type { WireEntry } from "./frames.ts";

/** An entry as sent to a replica; the replica measures its own size. */
export function toWire(key: string, entry: StoredEntry): WireEntry {
  const wire: WireEntry = {
    k: key,
    v: entry.value as Uint8Array<ArrayBuffer>,
    ct: entry.contentType,
    tags: [...entry.tags],
    hlc: entry.version.hlc,
    node: entry.version.node,
    sa: entry.storedAt,
    ea: entry.expiresAt,
  };
  if (entry.negative === true) wire.neg = true;
  return wire;
}

/** An entry received from a peer, ready for `store.applyEntry`. */
export function fromWire(wire: WireEntry): StoredEntry {
  const entry: StoredEntry = {
    // cbor-x may hand back a Buffer view into the frame; copy so the frame can be collected.
    value: new Uint8Array(wire.v),
    contentType: wire.ct,
    version: { hlc: wire.hlc, node: wire.node },
    tags: wire.tags,
    storedAt: wire.sa,
    expiresAt: wire.ea,
    size: 0,
  };
  return wire.neg === true ? { ...entry, negative: true } : entry;
}

/** A delete as sent to a replica. */
export function deleteToWire(key: string, version: Version): [string, number, number] {
  return [key, version.hlc, version.node];
}
