/**
 * The asset model the rest of the photos engine works with, independent of CloudKit's field names
 * (those stay in records.ts, the module that speaks CloudKit).
 */

import type { LivePhotoSize, PhotoSize } from '../core/config.generated.js'

/** Which rendition of an asset; the names are icloudpd's `--size` values (`photos.size`). */
export type AssetSize = PhotoSize
export type { LivePhotoSize }

export interface AssetVersion {
  /** Signed download URL (contains `${f}`; used verbatim). */
  url: string
  size: number
  /** Apple's fileChecksum (an MMCS signature, not a content hash): an identity, not a verifier. */
  checksum: string
  /** UTI, e.g. `public.heic`, `com.apple.quicktime-movie`. */
  type: string
}

export interface Asset {
  /** CPLAsset recordName (a UUID): the stable id for the manifest. */
  id: string
  /** CPLAsset `recordChangeTag` as listed: the optimistic lock of `records/modify` (deletion). */
  changeTag?: string
  /** CPLMaster recordName: used by the `name-id7` policy and the fallback name. */
  masterId: string
  /** Decoded, not yet sanitised file name from `filenameEnc` (or the fallback name). */
  filename: string
  /** `image` or `movie`, from itemType (or the file name when itemType is missing). */
  kind: 'image' | 'movie'
  /** Capture time, epoch ms (assetDate). */
  createdAt: number
  /** When it was added to the library, epoch ms. */
  addedAt: number
  /** Seconds east of UTC at capture, when known. */
  timeZoneOffset?: number
  isFavorite: boolean
  isHidden: boolean
  isDeleted: boolean
  /** What an XMP sidecar carries (`xmp-sidecar`); absent fields were not in the record or unreadable. */
  meta?: AssetMetadata
  /** Image renditions by size, plus the live-photo movie renditions. */
  versions: Partial<Record<AssetSize, AssetVersion>>
  liveVersions: Partial<Record<LivePhotoSize, AssetVersion>>
}

/**
 * The descriptive fields of a CPLAsset as icloudpd's xmp_sidecar.py reads them (captionEnc,
 * extendedDescEnc, keywordsEnc, locationEnc, adjustmentSimpleDataEnc, assetSubtypeV2). Decoded
 * leniently: a field that cannot be read is left out, it never fails the asset.
 */
export interface AssetMetadata {
  /** captionEnc (the title in Photos). */
  title?: string
  /** extendedDescEnc (the caption / description). */
  description?: string
  /** keywordsEnc: a plist array of strings. */
  keywords?: string[]
  /** locationEnc: a plist dictionary; `timestamp` as epoch ms. */
  location?: { lat?: number; lon?: number; alt?: number; speed?: number; timestamp?: number }
  /** `metadata.orientation` of the zlib-compressed JSON in adjustmentSimpleDataEnc (EXIF 1–8). */
  orientation?: number
  /** assetSubtypeV2 == 3. */
  screenshot?: boolean
}
