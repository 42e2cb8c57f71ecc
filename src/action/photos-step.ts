/**
 * The sync part of a run: hands the signed-in session to the photos engine. Its incremental state
 * lives with the photos (the engine's state file; in hand-off mode the action carries that file
 * through its own cache entry, state-step.ts), never in the session bundle.
 */
import { join } from 'node:path'
import type { Config } from '../config/index.js'
import type { AuthResult } from '../icloud/auth.js'
import { isS3, openDestination } from '../destinations/open.js'
import { createPhotosEngine } from '../photos/engine.js'
import { createProgress } from '../photos/progress.js'
import { emptyState, loadStateFile, parseState, pickNewer } from '../photos/state.js'
import type { SyncState } from '../photos/state.js'
import { githubConclusion, HANDOFF_KEY, pendingCommit, settlePending, tokensOf } from './handoff.js'
import { describeListing, type SyncResult } from '../photos/sync.js'
import type { PhotosSummary } from './report.js'
import type { Settings } from './inputs.js'
import type { Log } from './log.js'

/**
 * Key of the photos state inside the bundle's `state` in sessions saved by earlier releases: read
 * once (the engine then writes it beside the photos) and not saved again.
 */
export const PHOTOS_STATE_KEY = 'photos'
export const NEW_FILES_LIST = 'icloud-photos-new-files.txt'

export async function runPhotos(o: {
  auth: AuthResult
  config: Config
  settings: Settings
  bundleState: Record<string, unknown>
  /** Hand-off: the state from its own cache entry (state-step.ts). */
  cachedState?: SyncState
  log: Log
  now: () => number
  /** Aborted when the run is cancelled: the engine starts nothing new and saves its state. */
  signal?: AbortSignal
  /** The bundle state with the photos state of each checkpoint, for pending-state.json. */
  onCheckpoint?: (bundleState: Record<string, unknown>) => void | Promise<void>
}): Promise<{
  summary: PhotosSummary
  bundleState: Record<string, unknown>
  stopReason?: SyncResult['stopReason']
  /** A disk error stopped the run (or kept the state file from being saved); the summary lists what was left. */
  diskError?: SyncResult['diskError']
}> {
  const { auth, config, settings, log } = o
  // A bucket keeps its own state (under its prefix): the cache entry then holds only the session,
  // and a state cached for another destination is never taken for the bucket's.
  const s3 = isS3(config.photos)
  const destination = await openDestination(config.photos, { log, sessionKey: settings.sessionKey })
  const directory = s3 ? settings.runnerTemp : config.photos.directory!
  if (s3) log.info(`Photos go to ${destination.label} (the download state is kept there too).`)
  const engine = createPhotosEngine(auth, config.photos)
  const { [PHOTOS_STATE_KEY]: legacy, ...rest } = o.bundleState
  let bundleState: Record<string, unknown> = rest
  // A session saved by an earlier release may still carry the state; the newer of the two wins.
  // Never for a bucket: its state is the one under its prefix, not one cached for a directory.
  let cached = s3
    ? undefined
    : pickNewer(typeof legacy === 'string' ? parseState(legacy) : undefined, o.cachedState)
  // Hand-off: settle the previous run's files first; this run's files are pending until its job succeeds.
  const handOff = config.photos.handOff && !config.photos.dryRun
  let handOffBase: ReturnType<typeof tokensOf> | undefined
  if (handOff) {
    cached = pickNewer(cached, await loadStateFile(directory)) ?? emptyState()
    bundleState = await settlePending({ bundleState, state: cached, ask: githubConclusion(settings), log })
    handOffBase = tokensOf(cached)
  }
  const withPending = (files: string[] | null): Record<string, unknown> =>
    handOffBase && (files === null || files.length)
      ? { [HANDOFF_KEY]: pendingCommit(settings, handOffBase, files) }
      : {}
  const newFilesPath = join(settings.runnerTemp, NEW_FILES_LIST)
  // In CI a line every few seconds, never a bar (no TTY in the runner's log).
  const progress = createProgress({ log: (line) => log.info(line), tty: false })
  try {
    const result = await engine.sync({
      directory,
      destination,
      state: cached,
      log,
      progress: (p) => progress.update(p),
      newFilesPath,
      signal: o.signal,
      onCheckpoint: o.onCheckpoint
        ? // The state itself is in the directory's state file by now; this is the pending record.
          () => o.onCheckpoint!({ ...bundleState, ...withPending(null) })
        : undefined,
    })
    if (result.throttled)
      log.warning(
        result.throttleError?.describe() ?? 'Apple throttled the downloads; the next run continues.',
      )
    log.info(
      `Photos: ${result.downloaded} downloaded, ${result.skipped} skipped, ${result.failed} failed (listing: ${describeListing(result)}, ${result.requests} CloudKit requests).`,
    )
    return {
      summary: {
        downloaded: result.downloaded,
        skipped: result.skipped,
        failed: result.failed,
        bytes: result.bytes,
        throttled: result.throttled,
        failures: result.failures,
        remaining: result.remaining,
        listingComplete: result.listingComplete,
        newFilesList: newFilesPath,
        directory: s3 ? destination.label : directory,
        listing: describeListing(result),
        ...(result.deleted.length || result.deleteFailed
          ? { deleted: result.deleted, deleteFailed: result.deleteFailed }
          : {}),
        ...(result.autoDeleted.length ? { autoDeleted: result.autoDeleted } : {}),
      },
      bundleState: { ...bundleState, ...withPending(result.newFiles) },
      stopReason: result.stopReason,
      diskError: result.diskError,
    }
  } finally {
    progress.stop()
    await engine.close()
  }
}
