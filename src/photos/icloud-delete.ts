/**
 * Deleting in iCloud once the backup holds an asset — icloudpd's "Move" mode:
 * `keep-icloud-recent-days N` moves to Recently Deleted every asset at least N days old (age as
 * icloudpd counts it: whole days between its capture time and now); `delete-after-download` is
 * icloudpd's deprecated spelling of N = 0. The request is icloudpd's own (`records/modify`,
 * docs/protocol.md §8.7, `CloudKitClient.markDeleted`).
 *
 * Safer than icloudpd in four ways, because a deleted photo may then exist only in the backup:
 * - an asset is touched only when EVERY file the options ask for (each size, the Live Photo movie)
 *   is in the manifest with the size iCloud reports for it AND is in the storage at that size now
 *   (`stat`); storage that does not outlive the run (hand-off mode) is refused outright;
 * - at most `max-icloud-deletions` per run (the rest next run, with a warning);
 * - the listing's `recordChangeTag` guards each delete: an asset edited since it was listed (a new
 *   version not backed up yet) is refused by Apple (CONFLICT) and kept;
 * - a failed or throttled delete is a warning: the photo stays in iCloud, nothing is lost.
 *
 * Candidates are collected over a listing of their own before anything is deleted (deleting while
 * paging would shift the ranks of the pages still to come), so the pass is independent of whether
 * the sync itself listed in full or from the change feed: an asset that only became old enough
 * since the last run is still found. That listing is skipped when nothing could be deleted.
 */
import { PHOTOS_DEFAULTS } from '../core/config.generated.js'
import type { Asset } from './asset.js'
import type { CloudKitClient } from './cloudkit.js'
import { plannedFiles, resolveExisting } from './filenames.js'
import { listAssets, type LibrarySelection } from './listing.js'
import type { Resolved } from './options.js'
import type { PhotosLog } from './progress.js'
import type { Manifest } from './state.js'
import { isDeleted } from './records.js'

const DAY_MS = 86_400_000

/** One asset moved to Recently Deleted (or that would be, in a dry run), for the report. */
export interface DeletedAsset {
  /** CPLAsset record name. */
  assetId: string
  /** The asset's file name in iCloud (as decoded, before local clean-up). */
  filename: string
  /** Capture time, ISO 8601. */
  createdAt: string
  /** The backed-up files that made it safe to delete (paths relative to the backup root). */
  files: string[]
}

export interface ICloudDeleteOptions {
  keepIcloudRecentDays?: number
  deleteAfterDownload?: boolean
  maxIcloudDeletions?: number
}

export interface ICloudDeleteInput {
  client: CloudKitClient
  sel: LibrarySelection
  r: Resolved
  options: ICloudDeleteOptions
  manifest: Manifest
  /** Size of a backed-up file in the storage now, or undefined when it is missing. */
  stat(relPath: string): Promise<number | undefined>
  /** The storage outlives the run (a persistent directory, a bucket); false in hand-off mode. */
  durable: boolean
  dryRun: boolean
  /** Dry run: files the run would have downloaded; they count as backed up for the listing of what would go. */
  wouldDownload?: ReadonlySet<string>
  log: PhotosLog
  signal?: AbortSignal
  /** Epoch ms; tests pin it. */
  now?: number
}

export interface ICloudDeleteResult {
  deleted: DeletedAsset[]
  /** Deletes refused or failed (the photos stay in iCloud). */
  failed: number
  /** The per-run cap stopped the pass: more assets qualify. */
  capped: boolean
  /** Why nothing was even tried (hand-off mode), for the report. */
  refused?: string
}

/** `keep-icloud-recent-days`, with `delete-after-download` as icloudpd's older name for 0. */
export function keepDaysOf(o: ICloudDeleteOptions): number | undefined {
  return o.keepIcloudRecentDays ?? (o.deleteAfterDownload ? 0 : undefined)
}

export async function deleteInICloud(o: ICloudDeleteInput): Promise<ICloudDeleteResult> {
  const out: ICloudDeleteResult = { deleted: [], failed: 0, capped: false }
  const keepDays = keepDaysOf(o.options)
  if (keepDays === undefined) return out
  if (o.options.deleteAfterDownload && o.options.keepIcloudRecentDays !== undefined && keepDays > 0) {
    o.log.warning(
      `photos: delete-after-download and keep-icloud-recent-days are both set; keeping the last ${keepDays} day(s) in iCloud.`,
    )
  }
  if (!o.durable) {
    out.refused =
      'hand-off mode: the downloaded files leave with a later step, so nothing here proves they were kept'
    o.log.warning(
      `photos: not deleting anything in iCloud (${out.refused}). Use a persistent directory or a destination to move photos out of iCloud.`,
    )
    return out
  }
  // icloudpd deletes whatever it was asked to download; here an asset leaves iCloud only when its
  // full-quality files are in the backup, or a photo would survive nowhere but as a thumbnail.
  const partial = partialBackup(o.r)
  if (partial) {
    out.refused = `${partial}, so iCloud holds originals the backup does not`
    o.log.warning(`photos: not deleting anything in iCloud: ${out.refused}.`)
    return out
  }
  const cap = o.options.maxIcloudDeletions ?? PHOTOS_DEFAULTS.maxIcloudDeletions
  const now = o.now ?? Date.now()
  const verb = o.dryRun ? '[dry run] would delete' : 'deleting'

  // Phase 1: list and collect (at most cap + 1: one more than allowed proves the cap was reached).
  const picked: Array<{ asset: Asset; files: string[] }> = []
  let unverified = 0
  if (cap > 0) {
    listing: for await (const page of listAssets(o.client, o.sel, {
      albums: o.r.albums,
      recent: o.r.recent,
      skipVideos: o.r.skipVideos,
      checkIndexing: false,
      log: o.log,
    })) {
      for (const asset of page.assets) {
        if (o.signal?.aborted) break listing
        // icloudpd: (now - created).days < N keeps it; timedelta.days floors.
        if (Math.floor((now - asset.createdAt) / DAY_MS) < keepDays) continue
        const files = await verifiedFiles(o, asset)
        if (!files) {
          unverified++
          continue
        }
        if (picked.length === cap) {
          out.capped = true
          break listing
        }
        picked.push({ asset, files })
      }
    }
  }
  if (unverified) {
    o.log.info(
      `photos: ${unverified} asset(s) old enough to delete in iCloud are kept: not every requested version is verified in the backup yet.`,
    )
  }

  // Phase 2: delete, one asset per request (as icloudpd), each under the tag the listing saw.
  for (const { asset, files } of picked) {
    if (o.signal?.aborted) break
    const item: DeletedAsset = {
      assetId: asset.id,
      filename: asset.filename,
      createdAt: new Date(asset.createdAt).toISOString(),
      files,
    }
    o.log.info(`photos: ${verb} ${asset.filename} in iCloud (library ${o.sel.zone.zoneName}).`)
    if (o.dryRun) {
      out.deleted.push(item)
      continue
    }
    if (!asset.changeTag) {
      out.failed++
      o.log.warning(`photos: ${asset.filename} was listed without a recordChangeTag; not deleted in iCloud.`)
      continue
    }
    try {
      const res = await o.client.markDeleted(o.sel.scope, o.sel.zone, {
        recordName: asset.id,
        recordChangeTag: asset.changeTag,
      })
      if (res.status === 'deleted' || (await alreadyDeleted(o, res.serverErrorCode, asset.id))) {
        out.deleted.push(item)
        continue
      }
      out.failed++
      o.log.warning(
        res.serverErrorCode === 'CONFLICT'
          ? `photos: ${asset.filename} changed in iCloud since it was listed; kept there (the next run backs up the change first).`
          : `photos: iCloud refused to delete ${asset.filename} (${res.serverErrorCode}); it stays in iCloud.`,
      )
    } catch (err) {
      // Throttling, the session, the network: the photo stays; do not push on with the rest.
      out.failed++
      const left = picked.length - out.deleted.length - out.failed
      o.log.warning(
        `photos: deleting ${asset.filename} in iCloud failed (${messageOf(err)}); it stays in iCloud` +
          (left > 0 ? `, and ${left} more are left for the next run.` : '.'),
      )
      break
    }
  }
  if (out.capped) {
    o.log.warning(
      `photos: reached photos.max-icloud-deletions (${cap}) for this run; the remaining assets are deleted in iCloud by the next runs.`,
    )
  }
  if (out.deleted.length) {
    o.log.info(
      `photos: ${o.dryRun ? 'would move' : 'moved'} ${out.deleted.length} asset(s) to Recently Deleted in iCloud.`,
    )
  }
  return out
}

/** Why the options leave full-quality versions out of the backup, if they do. */
function partialBackup(r: Resolved): string | undefined {
  const why: string[] = []
  if (!r.naming.sizes.includes('original')) why.push('photos.size does not include `original`')
  if (r.naming.skipLivePhotos) why.push('photos.skip-live-photos is on')
  else if (r.naming.livePhotoSize !== 'original') why.push('photos.live-photo-size is not `original`')
  return why.length ? why.join(' and ') : undefined
}

/**
 * The backed-up files of every version the options ask for, or undefined when one of them is not
 * verified: in the manifest under the name the sync resolves, at the size iCloud reports, and in
 * the storage at that size now. (Files found on disk from icloudpd carry no hash; the size match
 * against iCloud's own size is then the check, as icloudpd's own.)
 */
async function verifiedFiles(o: ICloudDeleteInput, asset: Asset): Promise<string[] | undefined> {
  const known = o.manifest.get(asset.id) ?? []
  const sizes = new Map(known.map((k) => [k.relPath, k.size]))
  const files: string[] = []
  const planned = plannedFiles(asset, o.r.naming)
  if (planned.length === 0) return undefined
  for (const f of planned) {
    const hit = resolveExisting(
      f.relPath,
      f.version.size,
      o.r.naming.fileMatchPolicy,
      (rel) => sizes.get(rel),
      f.size,
      f.legacyRelPath,
    )
    if (!hit.exists || sizes.get(hit.relPath) !== f.version.size) {
      if (o.dryRun && o.wouldDownload?.has(hit.relPath)) {
        files.push(hit.relPath)
        continue
      }
      return undefined
    }
    if ((await o.stat(hit.relPath)) !== f.version.size) return undefined
    files.push(hit.relPath)
  }
  return files
}

/** A CONFLICT can mean our own delete went through and was sent again (a retried request): look. */
async function alreadyDeleted(o: ICloudDeleteInput, code: string, assetId: string): Promise<boolean> {
  if (code !== 'CONFLICT') return false
  try {
    const found = await o.client.lookup(o.sel.scope, o.sel.zone, [assetId])
    const rec = found.records.find((r) => r.recordName === assetId)
    return rec !== undefined && isDeleted(rec)
  } catch {
    return false
  }
}

/** An error's message for a log line, any URL in it (they carry dsid and client id) cut out. */
export function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)'"]+/gi, '<url>')
}
