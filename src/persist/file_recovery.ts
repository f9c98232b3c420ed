import { compareVersions, type Version } from "../core/version.ts";
import { type DataFile, listDataFiles } from "./data_files.ts";
import type { FileSystem } from "./file_system.ts";
import { emptyRecoveryReport, type RecoveryApply, type RecoveryReport } from "./persistence.ts";
import { type ScanResult, scanSource } from "./frame_scanner.ts";
import { LOG_MAGIC, type PersistRecord, SNAPSHOT_MAGIC } from "./record_codec.ts";

/** What recovery leaves for the writer that follows it. */
export interface DirectoryRecovery {
  report: RecoveryReport;
  /** The highest generation of any file in the directory (-1 when empty): the new log takes the next one. */
  maxGen: number;
  /** Log files read (gen >= the base snapshot): many of them call for a snapshot soon. */
  logsRead: number;
}

/** Whether a scanned snapshot is whole: right magic, no damage, and its `end` record counts every record before it. */
function wholeSnapshot(scan: ScanResult, endCount: number | undefined, last: PersistRecord["type"] | undefined): boolean {
  return scan.status === "ok" && scan.corrupt === 0 && !scan.tornTail && last === "end" && endCount === scan.records - 1;
}

/**
 * Recovers the directory `dir` into `apply`: the newest whole snapshot, then every log of its
 * generation or later, in order. Records are applied as they are read: the store keeps the
 * newer version of each key and tombstones deletes, so duplicates, a partial older snapshot or
 * records it already has change nothing, and a flush removes what it removed the first time.
 * Damaged snapshots are skipped (the previous generation is used) and renamed `*.corrupt`;
 * damaged frames in logs are skipped and counted; empty and foreign files are skipped.
 * Leftover `*.tmp` files are deleted.
 */
export async function recoverDirectory(fs: FileSystem, dir: string, apply: RecoveryApply, now: () => number): Promise<DirectoryRecovery> {
  const started = now();
  const report = emptyRecoveryReport();
  const files = await listDataFiles(fs, dir);
  const maxGen = files.length === 0 ? -1 : Math.max(...files.map((file) => file.gen));
  for (const file of files.filter((f) => f.kind === "tmp")) await fs.unlink(`${dir}/${file.name}`);

  let maxVersion: Version = { hlc: 0, node: 0 };
  const applyRecord = (record: PersistRecord) => {
    const version = record.type === "put" ? record.entry.version : record.type === "end" ? undefined : record.version;
    if (version === undefined) return;
    // Observed before applying, so an entry's own version never looks newer than the clock.
    if (compareVersions(version, maxVersion) > 0) {
      maxVersion = version;
      apply.observe?.(version);
    }
    if (record.type === "put") {
      if (apply.entry(record.key, record.entry) === false) report.entriesRefused++;
      else report.entriesRecovered++;
    } else if (record.type === "delete") {
      apply.delete(record.key, record.version);
      report.deletesRecovered++;
    } else if (record.type === "flush") apply.flush(record.version);
  };
  const read = async (file: DataFile, magic: Uint8Array, onRecord: (record: PersistRecord) => void): Promise<ScanResult | undefined> => {
    let scan: ScanResult;
    try {
      const handle = await fs.openRead(`${dir}/${file.name}`);
      try {
        scan = await scanSource(handle, magic, onRecord);
      } finally {
        await handle.close();
      }
    } catch {
      report.filesSkipped.push({ name: file.name, reason: "unreadable" });
      return undefined;
    }
    report.filesRead++;
    report.recordsRead += scan.records;
    report.recordsSkipped += scan.corrupt;
    if (scan.tornTail) report.tornTails++;
    if (scan.status !== "ok") report.filesSkipped.push({ name: file.name, reason: scan.status });
    return scan;
  };

  const unusable: DataFile[] = [];
  const snapshots = files.filter((file) => file.kind === "snapshot").reverse();
  for (const file of snapshots) {
    let endCount: number | undefined;
    let last: PersistRecord["type"] | undefined;
    // Every record of a damaged snapshot is still individually verified, so applying it is safe
    // and, when no snapshot is whole, it is the best state left.
    const scan = await read(file, SNAPSHOT_MAGIC, (record) => {
      last = record.type;
      if (record.type === "end") endCount = record.count;
      else applyRecord(record);
    });
    if (scan !== undefined && wholeSnapshot(scan, endCount, last)) {
      report.snapshot = file.gen;
      break;
    }
    if (scan !== undefined && scan.status === "ok") report.filesSkipped.push({ name: file.name, reason: "incomplete_snapshot" });
    unusable.push(file);
  }

  const foreign: DataFile[] = [];
  let logsRead = 0;
  for (const file of files.filter((f) => f.kind === "log" && f.gen >= (report.snapshot ?? -1))) {
    const scan = await read(file, LOG_MAGIC, applyRecord);
    if (scan !== undefined && scan.status === "foreign") foreign.push(file);
    logsRead++;
  }

  // Set aside only once a whole snapshot made them unnecessary; otherwise their intact records
  // are the best state left and the next recovery needs them again.
  const setAside = report.snapshot === undefined ? foreign : [...unusable, ...foreign];
  for (const file of setAside) await fs.rename(`${dir}/${file.name}`, `${dir}/${file.name}.corrupt`).catch(() => {});
  report.durationMs = now() - started;
  return { report, maxGen, logsRead };
}
