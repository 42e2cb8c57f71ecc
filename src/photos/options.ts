/**
 * The engine's options: what the config hands over, completed with the schema's defaults, and
 * the key of the options a sync token was earned under.
 */
import { createHash } from 'node:crypto'
import { AppError } from '../core/errors.js'
import { PHOTOS_DEFAULTS, type PhotosConfig } from '../core/config.generated.js'
import { parseDuration } from '../util/duration.js'
import { parseSize } from '../util/size.js'
import type { AssetSize } from './asset.js'
import type { NamingOptions } from './filenames.js'

/**
 * `config.photos` as the config layer hands it over. Every option left out takes the schema's
 * default (PHOTOS_DEFAULTS), so tests and the bench name only what they vary.
 */
export type PhotosOptions = Partial<Omit<PhotosConfig, 'maxThrottleWait' | 'maxDuration' | 'maxBytes'>> & {
  /** Throttle budget: stalled time waiting on Apple's throttling before the run stops (`30m`; ms as a number). */
  maxThrottleWait?: string | number
  /** Run budgets (`5h`, ms as a number; `50GB`, bytes as a number): see RunBudget. */
  maxDuration?: string | number
  maxBytes?: string | number
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
  budget: RunBudget
  naming: NamingOptions
}

/**
 * A run's budgets (photos.max-duration, max-bytes, max-files); undefined = no limit. When one is
 * reached the run starts nothing new, finishes what is in flight and ends `incomplete`.
 */
export interface RunBudget {
  durationMs?: number
  bytes?: number
  files?: number
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
    budget: {
      durationMs:
        p.maxDuration === undefined ? undefined : parseDuration(p.maxDuration, 'photos.max-duration'),
      bytes: p.maxBytes === undefined ? undefined : parseSize(p.maxBytes, 'photos.max-bytes'),
      files: p.maxFiles === undefined ? undefined : positiveInteger(p.maxFiles, 'photos.max-files'),
    },
    naming,
  }
}

function positiveInteger(n: number, key: string): number {
  if (Number.isSafeInteger(n) && n >= 1) return n
  throw new AppError(
    'CONFIG_INVALID',
    `${key}: ${String(n)} is not a whole number of at least 1.`,
    `Set ${key} to 1 or more, or leave it out for no limit.`,
  )
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
  ])
  return createHash('sha256').update(key).digest('base64url').slice(0, 16)
}
