/**
 * The deletion options, run once the downloads of a sync are finished (sync.ts calls
 * `afterDownloads`): `auto-delete` (auto-delete.ts) first, since it changes the manifest the
 * state save then writes; then the state is saved, and only then `keep-icloud-recent-days` /
 * `delete-after-download` (icloud-delete.ts) — an asset is deleted in iCloud only after the
 * record proving its backup is on disk. Nothing is deleted after a run that did not end cleanly
 * (an error, a cancel, a full disk, an exhausted throttle budget).
 */
import { AppError } from '../core/errors.js'
import { PHOTOS_DEFAULTS } from '../core/config.generated.js'
import type { CloudKitClient } from './cloudkit.js'
import { autoDelete } from './auto-delete.js'
import { deleteInICloud, keepDaysOf, messageOf, type DeletedAsset } from './icloud-delete.js'
import { selectLibrary, type LibrarySelection } from './listing.js'
import type { PhotosOptions, Resolved } from './options.js'
import type { PhotosLog } from './progress.js'
import type { SyncState } from './state.js'
import type { ThrottleGovernor } from './throttle.js'

export type { DeletedAsset }

export interface AfterDownloadsInput {
  client: CloudKitClient
  /** The library the sync listed; looked up again only when the sync did not get that far. */
  library?: LibrarySelection
  options: PhotosOptions
  r: Resolved
  state: SyncState
  /** Size of a backed-up file now (undefined: missing): the destination's `stat`. */
  stat(relPath: string): Promise<number | undefined>
  /** Delete a backed-up file (auto-delete): the destination's `remove`. */
  remove(relPath: string): Promise<void>
  /** Storage outlives the run: false in hand-off mode (Destination.durable). */
  durable: boolean
  /** Save the state (manifest) durably; false when that failed. */
  saveState(): Promise<boolean>
  /** Why the run did not end cleanly, if it did not: then nothing is deleted. */
  notClean?: string
  /** Dry run: the files the run would have downloaded. */
  wouldDownload: ReadonlySet<string>
  governor?: ThrottleGovernor
  log: PhotosLog
  signal?: AbortSignal
  now?: number
}

export interface AfterDownloadsResult {
  /** Assets moved to Recently Deleted in iCloud (would be, in a dry run). */
  deleted: DeletedAsset[]
  /** Deletes in iCloud refused or failed (the photos stay in iCloud). */
  deleteFailed: number
  /** Files of the backup deleted by auto-delete (would be, in a dry run). */
  autoDeleted: string[]
  /** The manifest changed. */
  changed: boolean
}

export function wantsDeletions(o: PhotosOptions): boolean {
  return (o.autoDelete ?? PHOTOS_DEFAULTS.autoDelete) || keepDaysOf(o) !== undefined
}

/**
 * Refuse `auto-delete` with `keep-icloud-recent-days` / `delete-after-download` before anything
 * runs: what one run moves to Recently Deleted, the next run's auto-delete would delete from the
 * backup — the photo would then be gone everywhere once Apple empties Recently Deleted (icloudpd
 * warns against the pair; here it is an error).
 */
export function checkDeletionOptions(o: PhotosOptions): void {
  if ((o.autoDelete ?? PHOTOS_DEFAULTS.autoDelete) && keepDaysOf(o) !== undefined) {
    throw new AppError(
      'CONFIG_INVALID',
      'photos.auto-delete cannot be combined with photos.keep-icloud-recent-days or photos.delete-after-download: ' +
        'the photos moved to Recently Deleted in iCloud would then be deleted from the backup too.',
      'Choose one: auto-delete (the backup follows deletions in iCloud) or keep-icloud-recent-days (free iCloud space, the backup keeps everything).',
    )
  }
}

export async function afterDownloads(o: AfterDownloadsInput): Promise<AfterDownloadsResult> {
  const out: AfterDownloadsResult = { deleted: [], deleteFailed: 0, autoDeleted: [], changed: false }
  if (!wantsDeletions(o.options)) return out
  if (o.notClean) {
    o.log.warning(
      `photos: nothing deleted this run (${o.notClean}); the deletion options wait for a clean run.`,
    )
    return out
  }
  const clientThrottle = o.client.throttle
  if (o.governor) o.client.throttle = o.governor
  try {
    return await run(o, out)
  } catch (err) {
    // A deletion pass that fails (throttled listing, session, network) loses nothing: what is
    // not deleted stays where it is, and the next run tries again.
    o.log.warning(`photos: the deletion pass stopped: ${messageOf(err)}`)
    return out
  } finally {
    o.client.throttle = clientThrottle
  }
}

async function run(o: AfterDownloadsInput, out: AfterDownloadsResult): Promise<AfterDownloadsResult> {
  const sel = o.library ?? (await selectLibrary(o.client, o.r.library))
  const dryRun = o.r.dryRun
  if ((o.options.autoDelete ?? PHOTOS_DEFAULTS.autoDelete) && !o.durable) {
    o.log.warning(
      'photos: auto-delete in hand-off mode only cleans this runner and the download state; files a later step already moved elsewhere are not deleted there.',
    )
  }
  if (o.options.autoDelete ?? PHOTOS_DEFAULTS.autoDelete) {
    // Set first: a pass cut short may already have dropped manifest entries.
    out.changed = !dryRun
    const a = await autoDelete({
      client: o.client,
      sel,
      naming: o.r.naming,
      manifest: o.state.manifest,
      stat: o.stat,
      remove: o.remove,
      dryRun,
      log: o.log,
      signal: o.signal,
    })
    out.autoDeleted = a.removed
  }
  if (keepDaysOf(o.options) === undefined || o.signal?.aborted) return out
  if (!dryRun && o.durable && !(await o.saveState())) {
    o.log.warning('photos: the state could not be saved; nothing is deleted in iCloud this run.')
    return out
  }
  const d = await deleteInICloud({
    client: o.client,
    sel,
    r: o.r,
    options: o.options,
    manifest: o.state.manifest,
    stat: o.stat,
    durable: o.durable,
    dryRun,
    wouldDownload: o.wouldDownload,
    log: o.log,
    signal: o.signal,
    now: o.now,
  })
  out.deleted = d.deleted
  out.deleteFailed = d.failed
  return out
}
