import type { FileSystem } from "./file_system.ts";

/**
 * The layout of the data directory. Every file carries a generation number, zero-padded to 16
 * digits so names sort like numbers:
 *
 * - `log-<gen>.ecl`: changes recorded after snapshot `<gen>` was started (append-only).
 * - `snapshot-<gen>.ecs`: the whole state as of the moment `log-<gen>.ecl` was started, i.e.
 *   everything in the logs before `<gen>`. Written as `snapshot-<gen>.ecs.tmp`, fsynced, renamed
 *   and the directory fsynced, so a snapshot under its final name is always complete.
 * - `*.tmp`: a snapshot cut short by a crash; deleted at start-up.
 * - `*.corrupt`: a snapshot or log recovery found unusable, kept for inspection until compaction.
 *
 * Recovery = the newest whole snapshot + every log of its generation or later. Compaction keeps
 * the two newest snapshots and the logs since the older one, so a damaged newest snapshot still
 * leaves a complete older generation to recover from.
 */

/** Kinds of files in the data directory. */
export type DataFileKind = "log" | "snapshot" | "tmp" | "corrupt";

/** One file of the data directory, recognised by its name. */
export interface DataFile {
  name: string;
  kind: DataFileKind;
  gen: number;
}

const PATTERN = /^(log|snapshot)-(\d{16})\.(ecl|ecs)(\.tmp|\.corrupt)?$/;

/** `<gen>` zero-padded to 16 digits. */
function pad(gen: number): string {
  return String(gen).padStart(16, "0");
}

/** Name of the log of generation `gen`. */
export function logName(gen: number): string {
  return `log-${pad(gen)}.ecl`;
}

/** Name of the snapshot of generation `gen`. */
export function snapshotName(gen: number): string {
  return `snapshot-${pad(gen)}.ecs`;
}

/** Classifies a directory entry; undefined for names that are not ours (left alone). */
export function parseDataFile(name: string): DataFile | undefined {
  const match = PATTERN.exec(name);
  if (match === null) return undefined;
  const [, base, digits, ext, suffix] = match;
  if ((base === "log") !== (ext === "ecl")) return undefined;
  const kind: DataFileKind = suffix === ".tmp" ? "tmp" : suffix === ".corrupt" ? "corrupt" : base === "log" ? "log" : "snapshot";
  return { name, kind, gen: Number(digits) };
}

/** Our files in `dir`, by generation ascending; creates the directory when absent. */
export async function listDataFiles(fs: FileSystem, dir: string): Promise<DataFile[]> {
  await fs.mkdir(dir);
  const files: DataFile[] = [];
  for (const name of await fs.readdir(dir)) {
    const file = parseDataFile(name);
    if (file !== undefined) files.push(file);
  }
  return files.sort((a, b) => a.gen - b.gen || a.name.localeCompare(b.name));
}

/**
 * Deletes what snapshot `newest` made unnecessary: every file older than the snapshot before it
 * (which stays as a fallback, with the logs after it). Returns the names deleted.
 */
export async function compact(fs: FileSystem, dir: string, newest: number): Promise<string[]> {
  const files = await listDataFiles(fs, dir);
  const older = files.filter((file) => file.kind === "snapshot" && file.gen < newest).map((file) => file.gen);
  const keepFrom = older.length === 0 ? newest : Math.max(...older);
  const doomed = files.filter((file) => file.gen < keepFrom);
  for (const file of doomed) await fs.unlink(`${dir}/${file.name}`);
  if (doomed.length > 0) await fs.syncDir(dir);
  return doomed.map((file) => file.name);
}
