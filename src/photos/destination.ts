/**
 * Where a backup goes. The engine plans files by their relative path (exactly what icloudpd would
 * write under its directory) and hands the bytes to a destination: a local directory (persistent
 * on a self-hosted runner or a NAS) or an S3-compatible bucket (the durable choice on a hosted
 * runner). The destination is the truth: a file counts as backed up only once `commit` returned.
 *
 * Paths are POSIX, relative, already made safe by naming (filenames.ts). The download state lives
 * with the photos (a file beside them, an object under the prefix), so losing the Actions cache
 * never causes a re-download.
 */
import type { Log } from '../core/log.js'
import type { SyncState } from './state.js'

export type DestinationKind = 'directory' | 's3'

/** The one-run lock; `release` is idempotent. */
export interface DestinationLock {
  release(): Promise<void>
}

/** One file on its way in. */
export interface WriteTask {
  assetId: string
  /** POSIX path relative to the destination root. */
  relPath: string
  /** Expected bytes (from the iCloud record). */
  size: number
  /** Asset date (epoch ms): mtime on disk, `x-amz-meta-created` in a bucket. */
  mtime: number
  /** MIME type for `Content-Type` (from the file's extension). */
  contentType?: string
  /** Naming saw no leftover partial file for this path: the writer need not look for one. */
  noPartial?: boolean
}

/**
 * One attempt at writing one file. Created per attempt; exactly one of `commit` / `abort` ends it.
 * A writer that can resume (a `.part` on disk) reports the bytes it already holds in `offset` and
 * yields them from `existing()` so the whole file is hashed; the caller then asks Apple for
 * `Range: bytes=<offset>-`. Writers that cannot resume (S3) always report 0.
 */
export interface FileWriter {
  readonly offset: number
  /** The first `offset` bytes already held, for hashing. */
  existing(): AsyncIterable<Buffer>
  /** Append bytes (respects backpressure: memory stays bounded by the part size). */
  write(chunk: Buffer): Promise<void>
  /**
   * Every byte is in and matched `size`: make the file durable and visible under its final name,
   * verified (fsync + rename; upload checksum or HEAD size/checksum). Returns when it is the truth.
   */
  commit(done: { size: number; sha256: string }): Promise<void>
  /**
   * This attempt failed. `keepPartial`: keep what was written for a resume (a `.part`); false
   * throws it away. An S3 writer always aborts its multipart upload (no orphans).
   */
  abort(keepPartial: boolean): Promise<void>
}

/**
 * Errors a destination throws carry an AppError code. DISK: a local file-system error (a full
 * disk stops the run). DESTINATION_AUTH: credentials or access refused — the run stops (nothing
 * new starts, the state is kept). DESTINATION (or any other error from a writer): the write
 * failed — the file is downloaded from Apple again and retried like a network failure. An error
 * named `AbortError` from a writer means the run was cancelled.
 */
export interface Destination {
  readonly kind: DestinationKind
  /** For logs and reports: the directory path, or `s3://bucket/prefix` (never credentials). */
  readonly label: string
  /**
   * Storage that outlives the run, so an asset verified here may be deleted in iCloud (never true
   * in hand-off mode, where a later step of the user's moves the files).
   */
  readonly durable: boolean
  /** Exclusive for one run (a directory lock file; a bucket may return a no-op lock). */
  lock(o: { waitMs: number; log: Pick<Log, 'info' | 'warning'> }): Promise<DestinationLock>
  /** The state kept with the photos, or undefined when there is none (or it cannot be read). */
  loadState(): Promise<SyncState | undefined>
  /** Save the state atomically (a reader sees the old or the new state, never a mix). */
  saveState(state: SyncState): Promise<void>
  /**
   * Names and sizes in one folder ('' = the root), for "already there?" checks before any state
   * exists (a bucket holding an icloudpd backup). A size may be undefined when it costs a request
   * of its own (a directory's readdir): `stat` is then asked for the names that matter. Normally
   * called once per folder per run (the engine keeps the last 256 folders; an evicted one may be
   * listed again).
   */
  listFolder(relDir: string): Promise<Map<string, number | undefined>>
  /** Size of one file, or undefined when it is missing. */
  stat(relPath: string): Promise<number | undefined>
  /** Start one write attempt. */
  openWriter(task: WriteTask): Promise<FileWriter>
  /** Delete one file (icloudpd's auto-delete); a missing file is not an error. */
  remove(relPath: string): Promise<void>
  /**
   * Clean up what a killed run left: `.part` files except those of `keep` (relative paths of the
   * files whose partial data is kept for a retry), stale multipart uploads under the prefix.
   * Never touches a finished file.
   */
  sweep(keep: ReadonlySet<string>): Promise<void>
}
