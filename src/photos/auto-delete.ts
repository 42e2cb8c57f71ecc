/**
 * icloudpd's `--auto-delete` ("Sync" mode): files of assets the user moved to Recently Deleted in
 * iCloud are deleted from the backup too, with every companion icloudpd would delete — each size
 * (original, medium, thumb, adjusted, alternative), the Live Photo movie in each size, and `.xmp`
 * sidecars beside them — and dropped from the manifest. Restoring the photo in iCloud brings it
 * back on the next full listing.
 *
 * Stricter than icloudpd, which deletes whatever exists at the computed paths: a file is deleted
 * only when it is this asset's — recorded for it in the manifest, or (a file from an icloudpd
 * backup the manifest never saw) at icloudpd's path with the exact size iCloud gives that
 * version, and not recorded for any other asset. A file of an asset that is not in Recently
 * Deleted is never touched. Deletions go through `remove`, so a destination (directory or
 * bucket) decides how.
 */
import type { Asset, LivePhotoSize } from './asset.js'
import type { CloudKitClient } from './cloudkit.js'
import { plannedFiles, type NamingOptions } from './filenames.js'
import { listAssets, type LibrarySelection } from './listing.js'
import type { PhotosLog } from './progress.js'
import type { Manifest } from './state.js'

export interface AutoDeleteInput {
  client: CloudKitClient
  sel: LibrarySelection
  naming: NamingOptions
  manifest: Manifest
  stat(relPath: string): Promise<number | undefined>
  /** Delete one file of the backup; a missing file is not an error (Destination.remove). */
  remove(relPath: string): Promise<void>
  dryRun: boolean
  log: PhotosLog
  signal?: AbortSignal
  pageSize?: number
}

export interface AutoDeleteResult {
  /** Files deleted (or that would be, in a dry run), relative to the backup root. */
  removed: string[]
  /** Assets of Recently Deleted whose files were found in the backup. */
  assets: number
  /** The manifest changed (entries dropped): the state must be saved. */
  changed: boolean
}

const LIVE_SIZES: LivePhotoSize[] = ['original', 'medium', 'thumb']

export async function autoDelete(o: AutoDeleteInput): Promise<AutoDeleteResult> {
  const out: AutoDeleteResult = { removed: [], assets: 0, changed: false }
  o.log.info("photos: deleting the backup's files of assets found in Recently Deleted (auto-delete)…")
  // path → the Recently Deleted asset it would belong to, and the size that proves it.
  const computed = new Map<string, { assetId: string; size: number }>()
  const inRecentlyDeleted = new Map<string, Asset>()
  for await (const assets of listRecentlyDeleted(o)) {
    for (const asset of assets) {
      inRecentlyDeleted.set(asset.id, asset)
      for (const [relPath, size] of icloudpdPaths(asset, o.naming)) {
        if (!computed.has(relPath)) computed.set(relPath, { assetId: asset.id, size })
      }
    }
    if (o.signal?.aborted) return out
  }
  if (inRecentlyDeleted.size === 0) return out

  // One pass over the manifest: what each Recently Deleted asset recorded, and which computed paths
  // another (live) asset owns — those are never touched.
  const recorded = new Map<string, string[]>()
  for (const [assetId, files] of o.manifest.entries()) {
    if (inRecentlyDeleted.has(assetId)) {
      recorded.set(
        assetId,
        files.map((f) => f.relPath),
      )
      continue
    }
    for (const f of files) computed.delete(f.relPath)
  }

  const byAsset = new Map<string, Set<string>>()
  const add = (assetId: string, relPath: string) => {
    let set = byAsset.get(assetId)
    if (!set) byAsset.set(assetId, (set = new Set()))
    set.add(relPath)
  }
  for (const [assetId, files] of recorded) for (const f of files) add(assetId, f)
  for (const [relPath, c] of computed) {
    if (byAsset.get(c.assetId)?.has(relPath)) continue
    if ((await o.stat(relPath)) === c.size) add(c.assetId, relPath)
  }
  // Sidecars beside any file of the asset.
  for (const set of byAsset.values()) for (const f of [...set]) set.add(`${f}.xmp`)

  for (const [assetId, files] of byAsset) {
    if (o.signal?.aborted) break
    const asset = inRecentlyDeleted.get(assetId)!
    let any = false
    for (const relPath of [...files].sort()) {
      if ((await o.stat(relPath)) === undefined) continue
      any = true
      if (o.dryRun) {
        o.log.info(`photos: [dry run] would delete ${relPath} (${asset.filename} is in Recently Deleted).`)
      } else {
        await o.remove(relPath)
        o.log.info(`photos: deleted ${relPath} (${asset.filename} is in Recently Deleted).`)
      }
      out.removed.push(relPath)
    }
    if (any) out.assets++
    if (!o.dryRun && recorded.has(assetId)) {
      o.manifest.set(assetId, [])
      out.changed = true
    }
  }
  if (out.removed.length) {
    o.log.info(
      `photos: auto-delete ${o.dryRun ? 'would delete' : 'deleted'} ${out.removed.length} file(s) of ${out.assets} asset(s) in Recently Deleted.`,
    )
  }
  return out
}

/**
 * Every path icloudpd's autodelete computes for an asset, with the size of the version it stands
 * for: the requested sizes as named (adjusted/alternative disambiguated against them), plus the
 * original, medium and thumb and each size of the Live Photo movie.
 */
function icloudpdPaths(asset: Asset, naming: NamingOptions): Map<string, number> {
  const out = new Map<string, number>()
  const variants: NamingOptions[] = []
  for (const livePhotoSize of LIVE_SIZES) {
    variants.push({ ...naming, livePhotoSize, skipLivePhotos: false })
    variants.push({
      ...naming,
      sizes: ['original', 'medium', 'thumb'],
      forceSize: true,
      livePhotoSize,
      skipLivePhotos: false,
    })
  }
  for (const v of variants) {
    for (const f of plannedFiles(asset, v)) if (!out.has(f.relPath)) out.set(f.relPath, f.version.size)
  }
  return out
}

/** Recently Deleted, page by page (the smart folder of smart-albums.ts, docs/protocol.md §8.9). */
async function* listRecentlyDeleted(o: AutoDeleteInput): AsyncGenerator<Asset[]> {
  for await (const page of listAssets(o.client, o.sel, {
    collections: [{ kind: 'deleted' }],
    checkIndexing: false,
    pageSize: o.pageSize,
    log: o.log,
  })) {
    for (const err of page.errors) {
      o.log.warning(
        `photos: a Recently Deleted record could not be read (${err.message}); its files are kept.`,
      )
    }
    yield page.assets
    if (o.signal?.aborted) return
  }
}
