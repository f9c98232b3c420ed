import type { StoredEntry } from "../core/entry.ts";
import type { StoreChange } from "../core/store.ts";
import type { Version } from "../core/version.ts";

/**
 * Where recovered state goes: the node passes the store's `applyEntry` / `applyDelete`, which keep
 * the newer version, refuse expired entries and leave tombstones, so recovery can never resurrect
 * what a newer write or delete replaced.
 */
export interface RecoveryApply {
  /** Installs a recovered entry; returns false when refused (expired, older, too large). */
  entry(key: string, entry: StoredEntry): boolean | void;
  /** Replays a recovered delete (leaves a tombstone). */
  delete(key: string, version: Version): boolean | void;
  /** Replays a recovered flush: removes every entry at or below `version`. */
  flush(version: Version): void;
  /** Advances the write clock past every version seen, so new writes order after recovered ones. */
  observe?(version: Version): void;
}

/** A damaged or unreadable file recovery skipped. */
export interface SkippedFile {
  name: string;
  reason: "empty" | "foreign" | "incomplete_snapshot" | "unreadable";
}

/** What a recovery found and did. Damage is counted here, logged once, and never served. */
export interface RecoveryReport {
  /** Generation of the snapshot recovery started from; undefined when none was whole. */
  snapshot?: number;
  /** Files read (snapshots and logs). */
  filesRead: number;
  /** Intact records read from all files. */
  recordsRead: number;
  /** Put records the store accepted (a key written twice in the log counts twice). */
  entriesRecovered: number;
  /** Put records the store refused: expired meanwhile, older than what it already held, or larger than the memory cap. */
  entriesRefused: number;
  /** Deletes replayed (tombstones). */
  deletesRecovered: number;
  /** Damaged frames skipped: bad checksum, impossible length, or not a record of this format. */
  recordsSkipped: number;
  /** Files that ended inside a frame (a write cut short by a crash). */
  tornTails: number;
  /** Files skipped whole. */
  filesSkipped: SkippedFile[];
  /** Wall time of the recovery. */
  durationMs: number;
}

/** A report of a recovery that found nothing (a fresh directory, or an adapter with nothing to recover). */
export function emptyRecoveryReport(): RecoveryReport {
  return { filesRead: 0, recordsRead: 0, entriesRecovered: 0, entriesRefused: 0, deletesRecovered: 0, recordsSkipped: 0, tornTails: 0, filesSkipped: [], durationMs: 0 };
}

/** An adapter's health as `/readyz` shows it under `persistence`. */
export interface PersistenceHealth {
  /** `degraded`: writes are not reaching their destination, the node still serves from memory. `down`: recovering. */
  status: "ok" | "degraded" | "down";
  detail: string;
}

/**
 * Follows the store's changes to somewhere that outlives the process, and brings them back at
 * start-up. One job, two implementations: the file log (`file_log.ts`) and the HTTP write-behind
 * forwarder (`http_write_behind.ts`).
 */
export interface PersistenceAdapter {
  /** Short name for logs, metrics labels and `/readyz`: "file" or "http". */
  readonly name: string;
  /** Loads what was persisted into `apply`; call once, before the first `record`. */
  recover(apply: RecoveryApply): Promise<RecoveryReport>;
  /**
   * Takes one change. Never blocks and never throws: the change goes into a bounded queue that a
   * background writer drains; when the queue is full the adapter's overflow policy drops records
   * and counts them.
   */
  record(change: StoreChange): void;
  /** Resolves once everything recorded before the call is written (and fsynced, for files). */
  flush(): Promise<void>;
  /** Current health; changes of it are logged once each. */
  health(): PersistenceHealth;
  /** Stops the background work and releases files and connections; what is still queued is counted as dropped. */
  close(): Promise<void>;
}
