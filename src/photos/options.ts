/**
 * The engine's options: what the config hands over, completed with the schema's defaults, and
 * the key of the options a sync token was earned under.
 */
import { createHash } from 'node:crypto'
import { PHOTOS_DEFAULTS, type PhotosConfig } from '../core/config.generated.js'
import { parseDuration } from '../util/duration.js'
import type { AssetSize } from './asset.js'
import type { NamingOptions } from './filenames.js'

/**
 * `config.photos` as the config layer hands it over. Every option left out takes the schema's
 * default (PHOTOS_DEFAULTS), so tests and the bench name only what they vary.
 */
export type PhotosOptions = Partial<Omit<PhotosConfig, 'maxThrottleWait'>> & {
  /** Throttle budget: stalled time waiting on Apple's throttling before the run stops (`30m`; ms as a number). */
  maxThrottleWait?: string | number
  /** icloudpd naming switches the config does not offer (yet); tests use them. */
  keepUnicode?: boolean
  forceSize?: boolean
  /** IANA zone for folder dates; default: the process's zone. */
  timeZone?: string
}

/** The options with every default filled in, as the run uses them. */
export interface Resolved {
  sizes: AssetSize[]
  library: string
  albums: string[]
  threads: number
  dryRun: boolean
  recent?: number
  untilFound?: number
  skipVideos: boolean
  maxThrottleWaitMs: number
  naming: NamingOptions
  /** `xmp-sidecar`, `set-exif-datetime` (metadata-writer.ts). */
  xmpSidecar: boolean
  setExifDatetime: boolean
}

export function resolveOptions(p: PhotosOptions): Resolved {
  const d = PHOTOS_DEFAULTS
  const naming: NamingOptions = {
    sizes: p.size?.length ? p.size : [...d.size],
    livePhotoSize: p.livePhotoSize ?? d.livePhotoSize,
    livePhotoMovFilenamePolicy: p.livePhotoMovFilenamePolicy ?? d.livePhotoMovFilenamePolicy,
    alignRaw: p.alignRaw ?? d.alignRaw,
    fileMatchPolicy: p.fileMatchPolicy ?? d.fileMatchPolicy,
    skipLivePhotos: p.skipLivePhotos ?? d.skipLivePhotos,
    forceSize: p.forceSize,
    keepUnicode: p.keepUnicode,
    folderStructure: p.folderStructure ?? d.folderStructure,
    timeZone: p.timeZone,
  }
  return {
    sizes: naming.sizes,
    library: p.library ?? d.library,
    albums: p.albums ?? [...d.albums],
    threads: Math.max(1, Math.floor(p.threads ?? d.threads)),
    dryRun: p.dryRun ?? d.dryRun,
    recent: p.recent,
    untilFound: p.untilFound,
    skipVideos: p.skipVideos ?? d.skipVideos,
    maxThrottleWaitMs: parseDuration(p.maxThrottleWait ?? d.maxThrottleWait, 'photos.max-throttle-wait'),
    naming,
    xmpSidecar: p.xmpSidecar ?? d.xmpSidecar,
    setExifDatetime: p.setExifDatetime ?? d.setExifDatetime,
  }
}

/** The options a token was earned under: if any of these change, a delta would miss files. */
export function optionsKey(r: Resolved): string {
  const { naming: n } = r
  const key = JSON.stringify([
    r.library,
    [...r.albums].sort(),
    [...n.sizes].sort(),
    n.livePhotoSize,
    n.livePhotoMovFilenamePolicy,
    n.alignRaw,
    n.fileMatchPolicy,
    n.skipLivePhotos,
    r.skipVideos,
    n.folderStructure,
    n.keepUnicode ?? false,
    n.forceSize ?? false,
    n.timeZone ?? '',
    // Turning sidecars on must list every asset once, so the ones already here get theirs too.
    ...(r.xmpSidecar ? ['xmp'] : []),
  ])
  return createHash('sha256').update(key).digest('base64url').slice(0, 16)
}
