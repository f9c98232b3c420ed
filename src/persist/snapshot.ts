import type { StoredEntry } from "../core/entry.ts";
import { snapshotName } from "./data_files.ts";
import type { FileSystem } from "./file_system.ts";
import { encodeFrames, type PersistRecord, SNAPSHOT_MAGIC } from "./record_codec.ts";

/** How a snapshot is written. */
export interface SnapshotOptions {
  /** Bytes encoded per write; each write yields to the event loop, so serving goes on. @default 4 MiB */
  chunkBytes?: number;
  /** Checked between chunks: true abandons the snapshot (shutdown). @default never */
  shouldStop?: () => boolean;
}

/** What a written snapshot holds. */
export interface SnapshotResult {
  gen: number;
  records: number;
  bytes: number;
}

/**
 * Writes the state `entries` as snapshot `gen`, atomically: to `<name>.tmp`, fsync, rename to
 * `<name>`, fsync the directory. A crash at any point leaves either no snapshot of this
 * generation or a whole one; the `.tmp` left behind is deleted at the next start-up. Entries are
 * written in reverse of `entries` order (the store lists most recently used first), so
 * recovery re-inserts them least recently used first and recency survives a restart.
 * On failure the `.tmp` is removed (best effort) and the error is rethrown.
 */
export async function writeSnapshot(
  fs: FileSystem,
  dir: string,
  gen: number,
  entries: ReadonlyArray<readonly [string, StoredEntry]>,
  options: SnapshotOptions = {},
): Promise<SnapshotResult> {
  const chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  const final = `${dir}/${snapshotName(gen)}`;
  const temp = `${final}.tmp`;
  await fs.unlink(temp);
  const handle = await fs.openAppend(temp);
  let bytes = 0;
  let closed = false;
  try {
    await handle.append(SNAPSHOT_MAGIC);
    bytes += SNAPSHOT_MAGIC.byteLength;
    let chunk: PersistRecord[] = [];
    let chunkSize = 0;
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, entry] = entries[i];
      chunk.push({ type: "put", key, entry });
      chunkSize += key.length + entry.value.byteLength + 64;
      if (chunkSize >= chunkBytes) {
        if (options.shouldStop?.() === true) throw Object.assign(new Error("Cannot finish the snapshot as the log must be open: current state is closed"), { code: "ECANCELED" });
        const frames = encodeFrames(chunk);
        await handle.append(frames);
        bytes += frames.byteLength;
        chunk = [];
        chunkSize = 0;
      }
    }
    chunk.push({ type: "end", count: entries.length });
    const frames = encodeFrames(chunk);
    await handle.append(frames);
    bytes += frames.byteLength;
    await handle.sync();
    closed = true;
    await handle.close();
    await fs.rename(temp, final);
    await fs.syncDir(dir);
    return { gen, records: entries.length, bytes };
  } catch (error) {
    if (!closed) await handle.close().catch(() => {});
    await fs.unlink(temp).catch(() => {});
    throw error;
  }
}
