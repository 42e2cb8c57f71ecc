/**
 * One photos backup run: decide how little must be asked (docs/protocol.md §8.6), walk the
 * assets, plan their files (filenames.ts, folder-format.ts), skip what is already there, download
 * the rest, keep the state.
 *
 * Request budget: with stored tokens, `changes/database` alone answers "nothing changed" (one
 * request, whatever the library size); a change costs `changes/zone` pages; a first run (or a
 * refused token, or changed options) lists everything. Tokens only move forward when a run
 * finished without download failures, so nothing that failed is forgotten.
 *
 * The change feed is an optimisation: when it fails the run lists in full and earns no tokens. A
 * listing cut short (recent, until-found) earns none either, and a manifest file missing or
 * damaged on a persistent disk (verify.ts) drops them, so no run ever skips what one did not see.
 *
 * Honest results: every file that was planned but is not on disk at the end — failed after its
 * retries, or left behind because the run stopped (throttle budget, cancel, disk full) — is in
 * `failures`. Throttling slows the run (throttle.ts) and only stops it once `maxThrottleWait` of
 * stalled time is used up. The state is checkpointed every `checkpointFiles` downloads or
 * `checkpointMs`, whichever comes first, and handed to `onCheckpoint`.
 *
 * Run budgets (max-duration, max-bytes, max-files) are a planned stop: at the budget nothing new
 * starts, the files in flight finish, the listing stops like a throttle stop (no token moves) and
 * the files left are listed with reason `budget`; the next run continues.
 *
 * Everything that touches storage goes through the destination (destination.ts): the lock, the
 * state kept with the photos, folder listings, writes and the clean-up after a killed run.
 */
import path from 'node:path'
import type { HttpClient } from '../icloud/http.js'
import { AppError, isAppError } from '../core/errors.js'
import { writeFileAtomic } from '../util/atomic.js'
import { PHOTOS_DEFAULTS } from '../core/config.generated.js'
import type { Asset } from './asset.js'
import { CloudKitError, type CloudKitClient } from './cloudkit.js'
import type { Destination } from './destination.js'
import { DirectoryDestination } from './directory-destination.js'
import { Downloader, type DownloadOutcome } from './downloader.js'
import { DirCache } from './folder-cache.js'
import { optionsKey, resolveOptions, type PhotosOptions, type Resolved } from './options.js'
import {
  databaseChanges,
  isChangeFeedFailure,
  listAssets,
  listChanges,
  selectLibrary,
  SyncTokenExpired,
  type LibrarySelection,
} from './listing.js'
import { checkFolderStructure } from './folder-format.js'
import { plannedFiles, resolveExisting, safeJoin } from './filenames.js'
import type { PhotosLog, ProgressSnapshot } from './progress.js'
import { diskCheck } from './verify.js'
import { MetadataWriter } from './metadata-writer.js'
import { ThrottleGovernor } from './throttle.js'
import {
  afterDownloads,
  checkDeletionOptions,
  type AfterDownloadsInput,
  type DeletedAsset,
} from './deletions.js'
import { emptyState, pickNewer, stamp, type ManifestFile, type SyncState } from './state.js'

export type { PhotosOptions }

/** A file this run did not back up: failed after its retries, or left behind when the run stopped. */
export interface FileProblem {
  /** Relative to the photos directory (the destination root), '/'-separated ('' when the asset could not even be named). */
  relPath: string
  /** CloudKit recordName of the asset (CPLAsset). */
  assetId: string
  /** Expected bytes, when known. */
  size?: number
  /** `destination`: the destination failed the write (DESTINATION) or refused access (DESTINATION_AUTH). */
  reason: 'failed' | 'throttled' | 'cancelled' | 'budget' | 'disk' | 'destination'
  /** Short human text (HTTP status, errno); never a URL. */
  detail?: string
  /** Download requests made for this file (0 = never started). */
  attempts: number
}

export interface SyncOptions {
  client: CloudKitClient
  /** Download client: no cookies are sent on downloads; construct it with connections = threads. */
  http: HttpClient
  /** The photos directory: the destination when `destination` is not given. */
  directory: string
  /**
   * Where the files go (default: a DirectoryDestination over `directory`). Its lock, state, folder
   * listings, writes and clean-up are the run's.
   */
  destination?: Destination
  options: PhotosOptions
  /** State from the cache blob; the state kept with the photos is read too and the newer one wins. */
  state?: SyncState
  log: PhotosLog
  progress?: (p: ProgressSnapshot) => void
  signal?: AbortSignal
  /** Where to write the list of files written this run (absolute paths, one per line; a directory destination only). */
  newFilesPath?: string
  /** Download retries (default 3) and backoff base (default 1000 ms); tests shorten them. */
  retries?: number
  minRetryMs?: number
  /** Checkpoint the state after this long (default 30 s) or this many downloads (default 200), whichever first. */
  checkpointMs?: number
  checkpointFiles?: number
  /** Called after every checkpoint of the state (every N files / M seconds, and at the end). */
  onCheckpoint?: (state: SyncState) => void | Promise<void>
  /** The run's clock: run budgets (photos.max-duration), the age of assets (keep-icloud-recent-days). Default Date.now. */
  now?: () => number
  /** The deletion options' view of the storage (default: the destination); tests replace it. */
  files?: Pick<AfterDownloadsInput, 'stat' | 'remove'>
}

export type SyncMode = 'no-change' | 'delta' | 'full'

export interface SyncResult {
  mode: SyncMode
  downloaded: number
  skipped: number
  failed: number
  bytes: number
  /** Paths relative to `directory` of the files written this run (would be written, in a dry run). */
  newFiles: string[]
  state: SyncState
  throttled: boolean
  /** The THROTTLED error when `throttled`. */
  throttleError?: AppError
  /** CloudKit requests this run made (downloads not counted). */
  requests: number
  /** Assets listed (full) or changed (delta). */
  listed: number
  /** Every file not backed up this run, failed or left behind (only problems: bounded by them). */
  failures: FileProblem[]
  /**
   * Files planned but not backed up. Equals `failures.length`; when `listingComplete` is false the
   * run stopped before listing everything, so more may remain (the true count is unknown).
   */
  remaining: number
  /** The listing (full or delta) ran to its end. */
  listingComplete: boolean
  /** Why the run stopped early, if it did (`destination`: DESTINATION_AUTH). */
  stopReason?: 'throttled' | 'cancelled' | 'budget' | 'disk' | 'destination'
  /**
   * The error that stopped the run: DISK (a download or the state could not be written: disk
   * full, quota, read-only) or DESTINATION_AUTH (the destination refused the credentials). The run
   * still returns: what it left behind is in `failures`.
   */
  diskError?: AppError
  /** Why the listing was not the cheapest one, e.g. `change feed unavailable: …`; see describeListing. */
  listingNote?: string
  /** Assets moved to Recently Deleted in iCloud this run (would be, in a dry run): deletions.ts. */
  deleted: DeletedAsset[]
  /** Deletes in iCloud refused or failed this run (those photos stay in iCloud). */
  deleteFailed: number
  /** Backup files deleted by auto-delete (would be, in a dry run). */
  autoDeleted: string[]
}

/** One run per destination: the lock is held for the whole run (a dry run writes nothing and takes none). */
export async function syncPhotos(o: SyncOptions): Promise<SyncResult> {
  // The run's budget clock starts here: waiting for the lock counts, as it does for the job.
  const startedAt = (o.now ?? Date.now)()
  const dryRun = o.options.dryRun ?? PHOTOS_DEFAULTS.dryRun
  const destination = o.destination ?? new DirectoryDestination(o.directory, { log: o.log })
  const lock = dryRun
    ? undefined
    : await destination.lock({
        waitMs: (o.options.lockWait ?? PHOTOS_DEFAULTS.lockWait) * 1000,
        log: o.log,
      })
  try {
    return await syncLocked(o, destination, startedAt)
  } finally {
    await lock?.release()
  }
}

async function syncLocked(o: SyncOptions, destination: Destination, startedAt: number): Promise<SyncResult> {
  const r = resolveOptions(o.options)
  checkFolderStructure(r.naming.folderStructure, r.naming.timeZone)
  checkDeletionOptions(o.options)
  const directory = path.resolve(o.directory)
  const isDirectory = destination.kind === 'directory'
  if (!isDirectory && (r.xmpSidecar || r.setExifDatetime)) {
    throw new AppError(
      'CONFIG_INVALID',
      `photos.xmp-sidecar and photos.set-exif-datetime edit files beside the photos, which a ${destination.kind} destination does not offer yet.`,
      'Turn them off for this destination, or back up to photos.directory.',
    )
  }
  const fileState = await destination.loadState()
  const state = pickNewer(o.state, fileState) ?? emptyState()
  const interrupted = state.running === true
  const tokensAtStart = tokenFingerprint(state)
  const key = optionsKey(r)
  const requestsAtStart = o.client.requests
  const run = new Run(o, r, destination, state, startedAt)
  // Listing calls wait out throttling under the same budget as the downloads.
  const clientThrottle = o.client.throttle
  o.client.throttle = run.governor

  let mode: SyncMode = 'full'
  let tokens: { library: LibrarySelection; zone?: string; db: string } | undefined
  /** The library this run listed (or found unchanged): the deletion passes work in it too. */
  let library: LibrarySelection | undefined
  let listingNote: string | undefined
  let error: unknown
  // A file of the manifest missing or damaged on disk: its download URL only comes from a listing.
  // Only for a directory: checking a bucket would cost a HEAD per object every run; there the
  // write is verified when it happens (destination.ts) and the bucket is the truth.
  const disk = isDirectory
    ? await diskCheck(directory, state, fileState !== undefined, r.dryRun, o.log)
    : undefined
  if (disk) listingNote = disk
  /** The change feed failed: note it once; a full listing stands in and no token comes of it. */
  let feedDown = false
  const feedFailed = (err: unknown): boolean => {
    if (o.signal?.aborted || !isChangeFeedFailure(err)) return false
    const why = (err as Error).message.replace(/\.$/, '')
    if (!feedDown)
      o.log.warning(`photos: the change feed is unavailable (${why}); listing the whole library.`)
    feedDown = true
    listingNote = `change feed unavailable: ${why}`
    return true
  }
  try {
    const prev = state.library
    if (!disk && prev && state.dbSyncToken && state.zoneSyncToken && state.optionsKey === key) {
      let db: Awaited<ReturnType<typeof databaseChanges>> | undefined
      try {
        db = await databaseChanges(o.client, prev.scope, state.dbSyncToken)
      } catch (err) {
        if (err instanceof CloudKitError && err.serverErrorCode === 'BAD_REQUEST') {
          o.log.info('photos: the stored sync token was refused; listing the whole library.')
        } else if (!feedFailed(err)) throw err
      }
      if (db) library = prev
      if (db && !db.zones.some((z) => z.zone.zoneName === prev.zone.zoneName)) {
        mode = 'no-change'
        tokens = { library: prev, zone: state.zoneSyncToken, db: db.syncToken }
        o.log.info('photos: no changes in iCloud since the last run.')
      } else if (db && r.albums.length === 0) {
        // Deltas carry no album membership, so album runs list in full (kei).
        try {
          mode = 'delta'
          const zone = await run.deltas(prev, state.zoneSyncToken)
          tokens = { library: prev, zone, db: db.syncToken }
        } catch (err) {
          if (err instanceof SyncTokenExpired) {
            o.log.info('photos: the stored sync token was refused; listing the whole library.')
          } else if (!feedFailed(err)) throw err
          mode = 'full'
        }
      }
    }
    if (mode === 'full') {
      const sel = await selectLibrary(o.client, r.library)
      library = sel
      // The database token is taken before the listing: changes made while listing are re-delivered.
      // Without it (feed down) the listing still runs; it just earns no tokens.
      let boot: Awaited<ReturnType<typeof databaseChanges>> | undefined
      if (!feedDown) {
        try {
          boot = await databaseChanges(o.client, sel.scope)
        } catch (err) {
          if (!feedFailed(err)) throw err
        }
      }
      const zoneEntry = boot?.zones.find((z) => z.zone.zoneName === sel.zone.zoneName)
      // Keep the full zoneID (owner, type) for the change feeds of later runs.
      if (zoneEntry) sel.zone = zoneEntry.zone
      const first = await run.full(sel)
      tokens = boot && { library: sel, zone: first ?? zoneEntry?.syncToken, db: boot.syncToken }
    }
  } catch (err) {
    error = err
  } finally {
    o.client.throttle = clientThrottle
  }

  await run.finish()
  const cancelled = o.signal?.aborted === true
  // A cancel ends waits and requests early: what they throw is the cancel, not a failure.
  if (cancelled && isCancelEcho(error)) {
    error = undefined
    run.listingCut = true
  }

  // ---- Deletion options (deletions.ts: auto-delete, keep-icloud-recent-days) --------------------
  // After the downloads, before the final save (auto-delete drops manifest entries). Files are
  // checked and removed where the backup is; a destination that does not outlive the run (hand-off)
  // never lets anything be deleted in iCloud.
  const deletion = await afterDownloads({
    client: o.client,
    library,
    options: o.options,
    r,
    state,
    ...(o.files ?? {
      stat: (rel: string) => destination.stat(rel),
      remove: (rel: string) => destination.remove(rel),
    }),
    durable: destination.durable && !(o.options.handOff ?? PHOTOS_DEFAULTS.handOff),
    saveState: async () => {
      await run.save()
      return !run.fatal
    },
    notClean: cancelled
      ? 'the run was cancelled'
      : error !== undefined
        ? 'the run stopped with an error'
        : run.fatal
          ? 'the disk is full or read-only'
          : run.governor.exhausted
            ? 'Apple kept throttling'
            : undefined,
    wouldDownload: new Set(r.dryRun ? run.newFiles : []),
    governor: run.governor,
    log: o.log,
    signal: o.signal,
    now: (o.now ?? Date.now)(),
  })
  if (deletion.changed) run.changed = true
  // ------------------------------------------------------------------------------------------------
  const listingComplete = error === undefined && !run.listingCut && !run.incompleteListing
  const throttleError = cancelled ? undefined : run.throttleError(error, listingComplete)
  // A listing cut short by recent/until-found earns no tokens (the old ones, if any, stay): tokens
  // say "everything up to here is on disk", and a delta from them would never re-offer what the
  // cut left out. Tokens covering only what was listed do not exist in CloudKit (a zone token is
  // one point in the change log), so "no tokens" is the only honest answer; the next run without
  // the option lists in full (or deltas from the older tokens) and fetches the rest.
  if (run.cutShort && tokens && mode !== 'no-change') {
    o.log.info(
      'photos: the listing was cut short (recent / until-found / a relative skip-created-after); no sync tokens saved.',
    )
    tokens = undefined
  }
  const complete =
    error === undefined &&
    !throttleError &&
    run.counts.blocking === 0 &&
    !run.incompleteListing &&
    !run.listingCut &&
    !cancelled
  if (complete && tokens && !r.dryRun) {
    state.library = tokens.library
    state.zoneSyncToken = tokens.zone
    state.dbSyncToken = tokens.db
    state.optionsKey = key
  }
  if (!r.dryRun) {
    if (interrupted) await run.sweepParts()
    state.running = false
    // A no-change run leaves the (possibly large) state file alone unless it is behind the cache.
    const fileBehind =
      !fileState || fileState.generation !== state.generation || fileState.savedAt !== state.savedAt
    if (run.changed || interrupted || fileBehind || tokenFingerprint(state) !== tokensAtStart)
      await run.save()
    else await run.notifyCheckpoint()
  }
  // Absolute paths for a later step only exist for a directory.
  if (o.newFilesPath && isDirectory) {
    // A dry run wrote nothing, so the list a following upload step reads is empty.
    try {
      await writeFileAtomic(o.newFilesPath, r.dryRun ? '' : absoluteLines(directory, run.newFiles))
    } catch (err) {
      // On a full disk the run already fails with DISK and its report; the list is secondary.
      if (!run.fatal) throw err
      o.log.warning(
        `photos: could not write the list of new files (${(err as { code?: string }).code ?? err}).`,
      )
    }
  }
  if (error !== undefined && !isAppError(error, 'THROTTLED')) throw error
  run.logThrottling()
  run.logBudget(listingComplete)
  if (throttleError) o.log.warning(`photos: ${throttleError.describe()}`)
  return {
    mode,
    downloaded: run.counts.downloaded,
    skipped: run.counts.skipped,
    failed: run.counts.failed,
    bytes: run.counts.bytes,
    newFiles: run.newFiles,
    state,
    throttled: throttleError !== undefined,
    throttleError,
    requests: o.client.requests - requestsAtStart,
    listed: run.counts.listed,
    failures: run.problems,
    remaining: run.problems.length,
    listingComplete,
    stopReason: cancelled
      ? 'cancelled'
      : run.fatal
        ? run.fatal.code === 'DISK'
          ? 'disk'
          : 'destination'
        : throttleError
          ? 'throttled'
          : run.budgetHit
            ? 'budget'
            : undefined,
    diskError: run.fatal,
    listingNote,
    deleted: deletion.deleted,
    deleteFailed: deletion.deleteFailed,
    autoDeleted: deletion.autoDeleted,
  }
}

/** `full (change feed unavailable: …)`, `delta`, … — the listing line of logs and reports. */
export function describeListing(r: Pick<SyncResult, 'mode' | 'listingNote'>): string {
  return r.listingNote ? `${r.mode} (${r.listingNote})` : r.mode
}

/** Download URLs are signed credentials: a detail that echoes one (a network library's message) loses it. */
function withoutUrls(text: string | undefined): string | undefined {
  return text?.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)'"]+/gi, '<url>')
}

/** An error that only says the run was cancelled: an ended throttle wait or an aborted request. */
function isCancelEcho(err: unknown): boolean {
  if (err === undefined) return false
  if (isAppError(err, 'THROTTLED')) return true
  const e = err as { name?: string; cause?: { name?: string } }
  return e.name === 'AbortError' || e.cause?.name === 'AbortError'
}

/** One absolute path per line, generated as the file is written (the list can be 100,000+ long). */
function* absoluteLines(directory: string, relPaths: string[]): Generator<string> {
  for (const rel of relPaths) yield path.join(directory, ...rel.split('/')) + '\n'
}

/** `Content-Type` for a destination that stores one, from the extension (Apple's file types). */
const CONTENT_TYPES: Record<string, string> = {
  heic: 'image/heic',
  heif: 'image/heif',
  hif: 'image/heif',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  webp: 'image/webp',
  dng: 'image/x-adobe-dng',
  cr2: 'image/x-canon-cr2',
  cr3: 'image/x-canon-cr3',
  arw: 'image/x-sony-arw',
  nef: 'image/x-nikon-nef',
  orf: 'image/x-olympus-orf',
  raf: 'image/x-fuji-raf',
  rw2: 'image/x-panasonic-rw2',
  mov: 'video/quicktime',
  mp4: 'video/mp4',
  m4v: 'video/x-m4v',
  avi: 'video/x-msvideo',
}

export function contentTypeOf(relPath: string): string {
  const ext = /\.([^./]+)$/.exec(relPath)?.[1]?.toLowerCase() ?? ''
  return CONTENT_TYPES[ext] ?? 'application/octet-stream'
}

function tokenFingerprint(s: SyncState): string {
  return JSON.stringify([s.library, s.zoneSyncToken, s.dbSyncToken, s.optionsKey])
}

/** The mutable part of one run: counters, the downloader, the folder cache, checkpoints. */
class Run {
  readonly counts = {
    listed: 0,
    downloaded: 0,
    skipped: 0,
    failed: 0,
    bytes: 0,
    blocking: 0,
    total: undefined as number | undefined,
  }
  readonly newFiles: string[] = []
  /** Files not backed up (failed or left behind), for the report. */
  readonly problems: FileProblem[] = []
  readonly governor: ThrottleGovernor
  /** A full listing stopped short of the count: keep the old tokens so the next run lists again. */
  incompleteListing = false
  /** The run stopped (throttle budget, cancel, disk full) before the listing's end. */
  listingCut = false
  /** recent / until-found left assets unlisted: this run earns no tokens. */
  cutShort = false
  /** The manifest or the state file changed during the run. */
  changed = false
  /** A run budget (max-duration, max-bytes, max-files) was reached: nothing new starts. */
  budgetHit?: string
  /** max-duration is up: not even queued files start. */
  private timeUp = false
  /** Files and bytes handed to the downloader (what the budgets count). */
  private startedFiles = 0
  private startedBytes = 0
  private readonly downloader: Downloader
  private readonly dirs: DirCache
  /** set-exif-datetime / xmp-sidecar, and the post-download edits still running. */
  private readonly metadata: MetadataWriter
  private readonly editing = new Set<Promise<void>>()
  /** Files whose partial data is kept for a retry (not swept). */
  private readonly failedParts = new Set<string>()
  private runningSaved = false
  private lastSave = Date.now()
  private filesSinceSave = 0
  private saving: Promise<void> = Promise.resolve()

  constructor(
    private readonly o: SyncOptions,
    private readonly r: Resolved,
    private readonly destination: Destination,
    private readonly state: SyncState,
    private readonly startedAt: number,
  ) {
    this.dirs = new DirCache(destination)
    // Edits and sidecars are written beside the photos: a directory only (checked at the start).
    this.metadata = new MetadataWriter({
      directory: path.resolve(o.directory),
      setExifDatetime: r.setExifDatetime,
      xmpSidecar: r.xmpSidecar,
      timeZone: r.naming.timeZone,
      log: o.log,
    })
    this.governor = new ThrottleGovernor({
      maxWaitMs: r.maxThrottleWaitMs,
      baseMs: o.minRetryMs,
      signal: o.signal,
    })
    this.downloader = new Downloader({
      http: o.http,
      destination,
      threads: r.threads,
      retries: o.retries,
      minRetryMs: o.minRetryMs,
      signal: o.signal,
      governor: this.governor,
      log: o.log,
      mayStart: () => {
        this.checkBudget()
        return !this.timeUp
      },
    })
  }

  get stopped(): boolean {
    return this.downloader.stopped || this.o.signal?.aborted === true || this.budgetHit !== undefined
  }

  private leftBehindReason(): FileProblem['reason'] {
    return this.downloader.stopReason ?? (this.budgetHit ? 'budget' : 'cancelled')
  }

  /**
   * Stop at a run budget before starting a file of `size` bytes (none: only the clock). A file
   * starts while the bytes fit; the first one always does, so a budget smaller than one file
   * still moves the backup on.
   */
  private checkBudget(size?: number): void {
    if (this.budgetHit !== undefined || this.r.dryRun) return
    const b = this.r.budget
    if (b.durationMs !== undefined && (this.o.now ?? Date.now)() - this.startedAt >= b.durationMs) {
      this.budgetHit = `photos.max-duration ${formatMs(b.durationMs)}`
      // Time is up for the queue too (files handed over under max-files/max-bytes were within those).
      this.timeUp = true
      this.downloader.halt()
    } else if (size === undefined) return
    else if (b.files !== undefined && this.startedFiles >= b.files)
      this.budgetHit = `photos.max-files ${b.files}`
    else if (b.bytes !== undefined && this.startedBytes > 0 && this.startedBytes + size > b.bytes)
      this.budgetHit = `photos.max-bytes ${b.bytes} bytes`
  }

  /** One line when a budget ended the run. */
  logBudget(listingComplete: boolean): void {
    if (this.budgetHit === undefined || this.downloader.stopReason || this.o.signal?.aborted) return
    const n = this.problems.filter((p) => p.reason === 'budget').length
    this.o.log.info(
      `photos: the run budget was reached (${this.budgetHit}); ${listingComplete ? '' : 'at least '}${n} file${n === 1 ? '' : 's'} left; the next run continues.`,
    )
  }

  /** The error that stopped the run (disk full, DESTINATION_AUTH). */
  get fatal(): AppError | undefined {
    return this.downloader.fatal
  }

  /** Full listing; returns the zone sync token seen on the first page. */
  async full(sel: LibrarySelection): Promise<string | undefined> {
    let token: string | undefined
    let consecutive = 0
    for await (const page of listAssets(this.o.client, sel, {
      albums: this.r.albums,
      recent: this.r.recent,
      skipVideos: this.r.skipVideos,
      filter: this.r.filter,
      log: this.o.log,
    })) {
      token ??= page.syncToken
      // A page that arrives after max-duration is still planned: its missing files go on the list.
      this.checkBudget()
      if (page.incomplete) this.incompleteListing = true
      if (page.cutShort) this.cutShort = true
      if (page.total !== undefined) this.counts.total = (this.counts.total ?? 0) + page.total
      this.parseErrors(page.errors)
      // Once stopped, the rest of the page is still planned: its missing files go on the list.
      for (const asset of page.assets) {
        const present = await this.handleSafely(asset)
        if (this.stopped) continue
        consecutive = present ? consecutive + 1 : 0
        if (this.r.untilFound !== undefined && consecutive >= this.r.untilFound) {
          this.cutShort = true
          this.o.log.info(
            `photos: found ${consecutive} assets in a row that are already here; stopping (until-found).`,
          )
          return token
        }
      }
      this.report()
      if (this.stopped) {
        this.listingCut = true
        return token
      }
    }
    return token
  }

  /** Delta run; returns the zone token after the last page. */
  async deltas(sel: LibrarySelection, token: string): Promise<string | undefined> {
    let last: string | undefined = token
    for await (const page of listChanges(this.o.client, sel, token, {
      skipVideos: this.r.skipVideos,
      filter: this.r.filter,
      log: this.o.log,
    })) {
      this.checkBudget()
      this.parseErrors(page.errors)
      const assets =
        this.r.recent === undefined ? page.assets : [...page.assets].sort((a, b) => b.createdAt - a.createdAt)
      for (const asset of assets) {
        if (this.r.recent !== undefined && this.counts.listed >= this.r.recent) {
          this.cutShort = true
          break
        }
        await this.handleSafely(asset)
      }
      if (page.removed.length) {
        this.o.log.debug?.(
          `photos: ${page.removed.length} asset(s) hidden or deleted in iCloud; local files are kept.`,
        )
      }
      this.report()
      if (this.stopped) {
        this.listingCut = true
        return last
      }
      last = page.syncToken ?? last
    }
    return last
  }

  private parseErrors(errors: Array<Error & { assetId?: string }>): void {
    for (const e of errors) {
      this.counts.failed++
      this.problems.push({
        relPath: '',
        assetId: e.assetId ?? '',
        reason: 'failed',
        detail: 'the iCloud record could not be read',
        attempts: 0,
      })
      // A master records/lookup could not fetch: the next run must see this asset again.
      if ((e as { blocksTokens?: boolean }).blocksTokens) this.counts.blocking++
      this.o.log.warning(`photos: ${e.message}`)
    }
  }

  /** A naming refusal (a path that would escape the directory) fails that asset, not the run. */
  private async handleSafely(asset: Asset): Promise<boolean> {
    try {
      return await this.handle(asset)
    } catch (err) {
      if (!isAppError(err, 'INTERNAL')) throw err
      this.counts.failed++
      this.problems.push({
        relPath: '',
        assetId: asset.id,
        reason: 'failed',
        detail: err.message,
        attempts: 0,
      })
      this.o.log.warning(`photos: asset ${asset.id}: ${err.message}`)
      return false
    }
  }

  /** Plan one asset's files; skip present ones, schedule the rest. True when all were present. */
  private async handle(asset: Asset): Promise<boolean> {
    this.counts.listed++
    const known = this.state.manifest.get(asset.id)
    let present = true
    for (const f of plannedFiles(asset, this.r.naming)) {
      const slash = f.relPath.lastIndexOf('/')
      await this.dirs.load(f.relPath.slice(0, Math.max(0, slash)))
      const stat = (rel: string) => this.dirs.size(rel, known)
      const hit = await this.dirs.resolve(known, (size) =>
        resolveExisting(
          f.relPath,
          f.version.size,
          this.r.naming.fileMatchPolicy,
          size,
          f.size,
          f.legacyRelPath,
        ),
      )
      if (hit.exists) {
        this.counts.skipped++
        if (!known?.some((k) => k.relPath === hit.relPath) && !this.r.dryRun) {
          this.state.manifest.record(asset.id, [
            { relPath: hit.relPath, size: stat(hit.relPath) ?? f.version.size, sha256: '' },
          ])
          this.changed = true
        }
        await this.presentMetadata(asset, f.size, hit.relPath)
        continue
      }
      present = false
      this.dirs.reserve(hit.relPath, f.version.size)
      if (this.r.dryRun) {
        this.o.log.info(`photos: [dry run] would download ${hit.relPath}`)
        this.counts.downloaded++
        this.counts.bytes += f.version.size
        this.newFiles.push(hit.relPath)
        continue
      }
      // Refuses a path that would escape the root (an INTERNAL error fails this asset only).
      safeJoin(this.o.directory, hit.relPath)
      const noPart = this.dirs.noPart(hit.relPath)
      this.checkBudget(f.version.size)
      if (!this.stopped) await this.downloader.waitForCapacity()
      // Waiting for a free slot may have taken the run past max-duration.
      this.checkBudget(f.version.size)
      if (this.stopped) {
        // Not started: left for the next run, on the list.
        this.dirs.settle(hit.relPath, false)
        this.counts.blocking++
        this.problems.push({
          relPath: hit.relPath,
          assetId: asset.id,
          size: f.version.size,
          reason: this.leftBehindReason(),
          attempts: 0,
        })
        continue
      }
      await this.markRunning()
      this.startedFiles++
      this.startedBytes += f.version.size
      void this.downloader
        .add({
          assetId: asset.id,
          url: f.version.url,
          relPath: hit.relPath,
          size: f.version.size,
          contentType: contentTypeOf(hit.relPath),
          mtime: asset.createdAt,
          noPart,
        })
        .then((out) => this.afterDownload(out, asset, f.size))
    }
    return present
  }

  // -- metadata (set-exif-datetime, xmp-sidecar): metadata-writer.ts does the work -------------

  /** A downloaded file gets its EXIF dates and sidecar before it is recorded (finish() waits). */
  private afterDownload(out: DownloadOutcome, asset: Asset, size: string): void {
    const downloaded = { relPath: out.task.relPath, size: out.bytes, sha256: out.sha256 ?? '' }
    if (out.status !== 'downloaded' || !this.metadata.active) return this.settled(out, [downloaded])
    const photo = { relPath: out.task.relPath, photo: !size.startsWith('live-') }
    const p = this.metadata
      .afterDownload(asset, photo, downloaded)
      .then(
        (files) => this.settled(out, files),
        () => this.settled(out, [downloaded]),
      )
      .finally(() => this.editing.delete(p))
    this.editing.add(p)
  }

  /** A file already here: its sidecar is written (or rewritten, when the asset's metadata changed). */
  private async presentMetadata(asset: Asset, size: string, relPath: string): Promise<void> {
    if (this.r.dryRun || !this.r.xmpSidecar || this.stopped) return
    const photo = { relPath, photo: !size.startsWith('live-') }
    const side = await this.metadata.present(asset, photo, this.state.manifest.get(asset.id))
    if (!side) return
    this.state.manifest.record(asset.id, [side.entry])
    if (side.written) this.newFiles.push(side.entry.relPath)
    this.changed = true
  }

  /** `files`: the manifest entries of the download (the file, then what metadata added). */
  private settled(out: DownloadOutcome, files: ManifestFile[]): void {
    const { task } = out
    this.dirs.settle(task.relPath, out.status === 'downloaded', out.bytes)
    if (out.status === 'downloaded') {
      this.counts.downloaded++
      this.counts.bytes += out.bytes
      for (const f of files) this.newFiles.push(f.relPath)
      this.state.manifest.record(task.assetId, files)
      this.changed = true
      this.filesSinceSave++
      void this.checkpoint()
    } else {
      // Stopped or failed: the tokens must not move past this asset.
      this.counts.blocking++
      const problem: FileProblem = {
        relPath: task.relPath,
        assetId: task.assetId,
        size: task.size,
        reason: 'cancelled',
        attempts: out.attempts,
      }
      if (out.status === 'failed') {
        this.counts.failed++
        this.failedParts.add(task.relPath)
        const code = out.error?.code
        problem.reason =
          code === 'DISK'
            ? 'disk'
            : code === 'DESTINATION' || code === 'DESTINATION_AUTH'
              ? 'destination'
              : 'failed'
        problem.detail = withoutUrls(out.detail)
      } else problem.reason = out.stopReason ?? 'cancelled'
      this.problems.push(problem)
    }
    this.report()
    // The clock is looked at as each file ends too, so the queue stops starting files on time.
    if (!this.stopped) this.checkBudget()
  }

  private report(): void {
    const c = this.counts
    this.o.progress?.({
      listed: c.listed,
      total: c.total,
      downloaded: c.downloaded,
      skipped: c.skipped,
      failed: c.failed,
      bytes: c.bytes,
    })
  }

  /** Note in the state file that downloads are under way, so a killed run is recognised. */
  private async markRunning(): Promise<void> {
    if (this.runningSaved) return
    this.runningSaved = true
    this.changed = true
    this.state.running = true
    await this.save()
  }

  /** Every `checkpointFiles` downloads or `checkpointMs`, whichever first. */
  private async checkpoint(): Promise<void> {
    if (
      this.filesSinceSave < (this.o.checkpointFiles ?? 200) &&
      Date.now() - this.lastSave < (this.o.checkpointMs ?? 30_000)
    )
      return
    await this.save()
  }

  /**
   * Serialised atomic saves of the state file, each followed by `onCheckpoint`. A save that fails
   * (DISK: disk full, read-only) stops the run like a disk-full download: nothing new starts, the
   * file on disk stays the last good one (atomic writes), and the state still goes to
   * `onCheckpoint` (the action's cache), so what this run downloaded is not forgotten.
   */
  save(): Promise<void> {
    this.lastSave = Date.now()
    this.filesSinceSave = 0
    this.saving = this.saving
      .catch(() => undefined)
      .then(() => this.destination.saveState(stamp(this.state)))
      .catch((err: unknown) => {
        if (
          !isAppError(err, 'DISK') &&
          !isAppError(err, 'DESTINATION_AUTH') &&
          !isAppError(err, 'DESTINATION')
        )
          throw err
        if (!this.downloader.fatal) this.o.log.warning(`photos: ${err.message}`)
        this.downloader.fatal ??= err
      })
      .then(() => this.notifyCheckpoint())
    return this.saving
  }

  /** Hand the state to the caller (the action keeps it in its bundle); a failure there is a warning. */
  async notifyCheckpoint(): Promise<void> {
    if (!this.o.onCheckpoint) return
    try {
      await this.o.onCheckpoint(this.state)
    } catch (err) {
      this.o.log.warning(`photos: could not keep a checkpoint of the state: ${(err as Error).message}`)
    }
  }

  async finish(): Promise<void> {
    await this.downloader.drain()
    while (this.editing.size) await Promise.all(this.editing)
    await this.saving.catch(() => undefined)
    this.report()
  }

  /** THROTTLED when the throttle budget ran out (downloads or listing). */
  throttleError(error: unknown, listingComplete: boolean): AppError | undefined {
    const listing = isAppError(error, 'THROTTLED') ? error : undefined
    const n = this.problems.filter((p) => p.reason === 'throttled').length
    // The budget ran out just as the last file came in: nothing was left, nothing to report.
    if (!listing && (!this.governor.exhausted || (n === 0 && listingComplete))) return undefined
    const left = `${n} file${n === 1 ? '' : 's'} left${listingComplete ? '' : ' and the rest of the library not yet listed'}`
    return new AppError(
      'THROTTLED',
      `Apple iCloud kept throttling requests (HTTP 503/429) for longer than photos.max-throttle-wait ` +
        `(${formatMs(this.governor.maxWaitMs)} of waiting); the run stopped cleanly with ${left}.`,
      'The next scheduled run continues where this one stopped; raise photos.max-throttle-wait to wait longer in one run. Do not rerun in a loop.',
      { retryAfter: listing?.retryAfter, cause: listing },
    )
  }

  /** One line on how much throttling the run absorbed. */
  logThrottling(): void {
    const g = this.governor
    if (g.events === 0) return
    const { lowest, max } = this.downloader.limit
    const how = [`${formatMs(g.spentMs)} stalled of ${formatMs(g.maxWaitMs)} allowed`]
    if (lowest < max) how.unshift(`down to ${lowest} download stream${lowest === 1 ? '' : 's'}`)
    this.o.log.info(
      `photos: Apple throttled ${g.events} request${g.events === 1 ? '' : 's'}; ` +
        `the run slowed down (${how.join(', ')}).`,
    )
  }

  /** After a killed run: partial data this run neither resumed nor is keeping for a retry. */
  async sweepParts(): Promise<void> {
    await this.destination.sweep(this.failedParts)
  }
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`
  return `${Math.round(ms / 60_000)} min`
}
