/**
 * The file operations persistence needs, injected so `src/persist/` imports no `node:` module
 * and tests can hand it a file system that fails (ENOSPC, EACCES) on demand. The real one is
 * `src/runtime/node_fs.ts`. Failures reject with an Error whose `code` is the errno name.
 */

/** An open file that is only ever appended to. */
export interface AppendHandle {
  /** Appends all of `bytes` (looping over short writes). On failure some prefix may have been written. */
  append(bytes: Uint8Array): Promise<void>;
  /** fsync(2): the appended bytes survive power loss once this resolves. */
  sync(): Promise<void>;
  /** Cuts the file back to `size` bytes (to drop a half-written batch after a failed append). */
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

/** An open file read from start to end. */
export interface ReadHandle {
  /** Reads the next bytes into `into[offset, offset+length)`; returns how many, 0 at the end. */
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  /** The file's size when it was opened. */
  readonly size: number;
  close(): Promise<void>;
}

/** The directory-level operations of persistence. Paths are absolute. */
export interface FileSystem {
  /** Creates `path` and its parents; succeeds when it exists. */
  mkdir(path: string): Promise<void>;
  /** Names (not paths) of the entries of a directory. */
  readdir(path: string): Promise<string[]>;
  /** Opens a file for sequential reading (recovery reads through a window, never the whole file at once). */
  openRead(path: string): Promise<ReadHandle>;
  /** Opens `path` for appending, creating it (empty) if absent. */
  openAppend(path: string): Promise<AppendHandle>;
  /** Atomically replaces `to` with `from` (rename(2)). */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; succeeds when it is already gone. */
  unlink(path: string): Promise<void>;
  /** fsync(2) of a directory, so renames, creations and removals in it survive power loss. */
  syncDir(path: string): Promise<void>;
}

/** The errno name of a file-system failure (`ENOSPC`, `EACCES`, ...), or `EIO` when it has none. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "EIO";
}
