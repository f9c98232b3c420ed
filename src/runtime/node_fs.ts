import { mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import type { AppendHandle, FileSystem, ReadHandle } from "../persist/file_system.ts";

/**
 * The real `FileSystem` of persistence over `node:fs/promises`, which Bun and Deno both implement
 * (fsync of files and directories included), so one edge serves both runtimes.
 */
export const nodeFileSystem: FileSystem = {
  async mkdir(path) {
    await mkdir(path, { recursive: true });
  },
  readdir: (path) => readdir(path),
  async openRead(path): Promise<ReadHandle> {
    const handle = await open(path, "r");
    const { size } = await handle.stat();
    return {
      size,
      // position null: read on from where the last read stopped.
      read: async (into, offset, length) => (await handle.read(into, offset, length, null)).bytesRead,
      close: () => handle.close(),
    };
  },
  async openAppend(path): Promise<AppendHandle> {
    const handle = await open(path, "a");
    return {
      async append(bytes) {
        let offset = 0;
        while (offset < bytes.byteLength) {
          const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset);
          offset += bytesWritten;
        }
      },
      sync: () => handle.sync(),
      truncate: (size) => handle.truncate(size),
      close: () => handle.close(),
    };
  },
  rename: (from, to) => rename(from, to),
  async unlink(path) {
    try {
      await unlink(path);
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw error;
    }
  },
  async syncDir(path) {
    const handle = await open(path, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
