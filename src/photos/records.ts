/**
 * The one module that speaks CloudKit for photo assets: record shapes, field names, item-type
 * tables, and the mapping of a CPLMaster + CPLAsset pair onto the `Asset` model
 * (docs/protocol.md §8.3, §8.5). Everything else works with `Asset` and never names a field.
 */
import { AppError } from '../core/errors.js'
import type { Asset, AssetSize, AssetVersion, LivePhotoSize } from './asset.js'
import { readAssetMetadata } from './record-metadata.js'

/** A CloudKit field: `{"value": …, "type": "STRING" | "INT64" | "TIMESTAMP" | …}`. */
export interface CkField {
  value?: unknown
  type?: string
}

/** A record as CloudKit returns it. Parsed from untrusted JSON, so every part is checked before use. */
export interface CkRecord {
  recordName: string
  /** `null` on hard-deleted records in `changes/zone` deltas. */
  recordType: string | null
  recordChangeTag?: string
  fields?: Record<string, CkField | undefined>
  /** `true` on hard-deleted records in deltas (§8.6). */
  deleted?: boolean
}

export const MASTER_RECORD_TYPE = 'CPLMaster'
export const ASSET_RECORD_TYPE = 'CPLAsset'

/** A malformed pair: a failure for that asset only, never for the listing. */
export class AssetParseError extends AppError {
  readonly assetId?: string
  readonly masterId?: string
  /** The CloudKit field at fault, when there is one. */
  readonly field?: string

  constructor(problem: string, ids: { assetId?: string; masterId?: string; field?: string }) {
    // Only record names and field names go into the message: field values can carry signed URLs.
    const who = `asset ${ids.assetId ?? '?'} (master ${ids.masterId ?? '?'})`
    super(
      'PROTOCOL_ERROR',
      `Could not read iCloud ${who}: ${problem}.`,
      'This asset is skipped; the rest of the library is unaffected. If it persists, report it with the record names.',
    )
    this.name = 'AssetParseError'
    this.assetId = ids.assetId
    this.masterId = ids.masterId
    this.field = ids.field
  }
}

/**
 * A changed asset whose master could not be fetched (`records/lookup` refused or failed): it is not
 * backed up this run, and the sync tokens must not move past it so the next run tries again.
 */
export class MasterLookupError extends AppError {
  readonly blocksTokens = true
  constructor(
    readonly assetId: string,
    readonly masterId: string,
    reason: string,
  ) {
    super(
      'PROTOCOL_ERROR',
      `Could not fetch the master record of iCloud asset ${assetId} (master ${masterId}): ${reason}. It was not backed up.`,
      'The next run tries again (the sync position is kept before this asset).',
    )
    this.name = 'MasterLookupError'
  }
}

// ---------------------------------------------------------------------------------------------
// Item types (UTIs)

export const MOVIE_TYPE = 'com.apple.quicktime-movie'
/** HEIF from cameras (Canon `.HIF`) and apps; icloudpd names it `.HEIF` since May 2025 (PR #1132). */
export const HEIF_TYPE = 'public.heif'

/** RAW image UTIs (§8.5). icloudpd also treats any type containing "raw" as RAW. */
export const RAW_TYPES: ReadonlySet<string> = new Set([
  'com.adobe.raw-image',
  'com.canon.cr2-raw-image',
  'com.canon.crw-raw-image',
  'com.canon.cr3-raw-image',
  'com.sony.arw-raw-image',
  'com.fuji.raw-image',
  'com.panasonic.rw2-raw-image',
  'com.nikon.raw-image',
  'com.nikon.nrw-raw-image',
  'com.pentax.raw-image',
  'com.olympus.raw-image',
  'com.olympus.or-raw-image',
])

const IMAGE_TYPES: ReadonlySet<string> = new Set([
  'public.heic',
  HEIF_TYPE,
  'public.jpeg',
  'public.png',
  'org.webmproject.webp',
  ...RAW_TYPES,
])

/**
 * UTI → file extension: icloudpd's `ITEM_TYPE_EXTENSIONS` (pyicloud_ipd/asset_version.py). A version
 * whose type is listed gets this extension; any other type keeps the file name's own extension.
 * WebP is deliberately absent: icloudpd has no entry for it. `public.heif` → HEIF since May 2025
 * (icloudpd PR #1132); older icloudpd kept the name's extension, see PlannedFile.legacyRelPath.
 */
const TYPE_EXTENSIONS: Readonly<Record<string, string>> = {
  'public.heic': 'HEIC',
  [HEIF_TYPE]: 'HEIF',
  'public.jpeg': 'JPG',
  'public.png': 'PNG',
  [MOVIE_TYPE]: 'MOV',
  'com.adobe.raw-image': 'DNG',
  'com.canon.cr2-raw-image': 'CR2',
  'com.canon.crw-raw-image': 'CRW',
  'com.canon.cr3-raw-image': 'CR3',
  'com.sony.arw-raw-image': 'ARW',
  'com.fuji.raw-image': 'RAF',
  'com.panasonic.rw2-raw-image': 'RW2',
  'com.nikon.raw-image': 'NEF',
  'com.nikon.nrw-raw-image': 'NRF',
  'com.pentax.raw-image': 'PEF',
  'com.olympus.raw-image': 'ORF',
  'com.olympus.or-raw-image': 'ORF',
}

export function extensionForType(uti: string): string | undefined {
  return Object.hasOwn(TYPE_EXTENSIONS, uti) ? TYPE_EXTENSIONS[uti] : undefined
}

export function isRawType(uti: string): boolean {
  return RAW_TYPES.has(uti) || uti.includes('raw')
}

export function isMovieType(uti: string): boolean {
  return uti === MOVIE_TYPE
}

/** Image or movie from the UTI; unknown or missing UTIs are decided by the file name (§8.5). */
export function kindOf(itemType: string | undefined, filename: string): Asset['kind'] {
  if (itemType !== undefined) {
    if (IMAGE_TYPES.has(itemType)) return 'image'
    if (itemType === MOVIE_TYPE) return 'movie'
  }
  return /\.(heic|png|jpg|jpeg)$/i.test(filename) ? 'image' : 'movie'
}

// ---------------------------------------------------------------------------------------------
// Fallback name (§8.5 "Missing filenameEnc")

function fallbackStem(masterId: string): string {
  // icloudpd: re.sub('[^0-9a-zA-Z]', '_', id)[0:12], over code points.
  return Array.from(masterId)
    .slice(0, 12)
    .map((c) => (/^[0-9a-zA-Z]$/.test(c) ? c : '_'))
    .join('')
}

export function fallbackFilename(masterId: string, itemType: string | undefined): string {
  const ext = (itemType !== undefined && extensionForType(itemType)) || 'unknown'
  return `${fallbackStem(masterId)}.${ext}`
}

/** True when `filename` is exactly the fallback name of this master (icloudpd skips `name-id7` for it). */
export function isFallbackFilename(masterId: string, filename: string): boolean {
  const stem = `${fallbackStem(masterId)}.`
  if (!filename.startsWith(stem)) return false
  const ext = filename.slice(stem.length)
  return ext === 'unknown' || Object.values(TYPE_EXTENSIONS).includes(ext)
}

// ---------------------------------------------------------------------------------------------
// desiredKeys (§8.3): the same list icloudpd and kei send.

const RESOURCE_PREFIXES = [
  'resJPEGFull',
  'resJPEGLarge',
  'resJPEGMed',
  'resJPEGThumb',
  'resVidFull',
  'resVidMed',
  'resVidSmall',
  'resSidecar',
  'resOriginal',
  'resOriginalAlt',
  'resOriginalVidCompl',
] as const

export const DESIRED_KEYS: readonly string[] = [
  ...RESOURCE_PREFIXES.flatMap((p) =>
    ['Width', 'Height', 'FileType', 'Fingerprint', 'Res'].map((s) => p + s),
  ),
  'itemType',
  'dataClassType',
  'filenameEnc',
  'originalOrientation',
  'isDeleted',
  'isExpunged',
  'dateExpunged',
  'remappedRef',
  'recordName',
  'recordType',
  'recordChangeTag',
  'masterRef',
  'adjustmentRenderType',
  'assetDate',
  'addedDate',
  'isFavorite',
  'isHidden',
  'orientation',
  'duration',
  'assetSubtype',
  'assetSubtypeV2',
  'assetHDRType',
  'burstFlags',
  'burstFlagsExt',
  'burstId',
  'captionEnc',
  'locationEnc',
  'locationV2Enc',
  'locationLatitude',
  'locationLongitude',
  'adjustmentType',
  'timeZoneOffset',
  'vidComplDurValue',
  'vidComplDurScale',
  'vidComplDispValue',
  'vidComplDispScale',
  'keywordsEnc',
  'extendedDescEnc',
  'adjustedMediaMetaDataEnc',
  'adjustmentSimpleDataEnc',
  'vidComplVisibilityState',
  'customRenderedValue',
  'containerId',
  'itemId',
  'position',
  'isKeyAsset',
]

// ---------------------------------------------------------------------------------------------
// Which resource serves each size (§8.5 table).

type ResourcePrefix = (typeof RESOURCE_PREFIXES)[number]

const IMAGE_RESOURCES: Readonly<Record<AssetSize, ResourcePrefix>> = {
  original: 'resOriginal',
  alternative: 'resOriginalAlt',
  adjusted: 'resJPEGFull',
  medium: 'resJPEGMed',
  thumb: 'resJPEGThumb',
}

const MOVIE_RESOURCES: Readonly<Partial<Record<AssetSize, ResourcePrefix>>> = {
  original: 'resOriginal',
  medium: 'resVidMed',
  thumb: 'resVidSmall',
}

const LIVE_RESOURCES: Readonly<Record<LivePhotoSize, ResourcePrefix>> = {
  original: 'resOriginalVidCompl',
  medium: 'resVidMed',
  thumb: 'resVidSmall',
}

// ---------------------------------------------------------------------------------------------
// Flags

function fieldsOf(record: CkRecord | undefined): Record<string, CkField | undefined> {
  const f = record?.fields
  return f !== null && typeof f === 'object' && !Array.isArray(f) ? f : {}
}

function flag(record: CkRecord, name: string): boolean {
  const v = fieldsOf(record)[name]?.value
  return v === 1 || v === true || v === '1'
}

/** Moved to Recently Deleted (`isDeleted == 1`). */
export function isDeleted(record: CkRecord): boolean {
  return flag(record, 'isDeleted')
}

export function isHidden(record: CkRecord): boolean {
  return flag(record, 'isHidden')
}

export function isFavorite(record: CkRecord): boolean {
  return flag(record, 'isFavorite')
}

/** Hard-deleted in a `changes/zone` delta: `"deleted": true`, `recordType: null` (§8.6). */
export function isHardDeleted(record: CkRecord): boolean {
  return record.deleted === true
}

/** The master a CPLAsset points at, or undefined when `masterRef` is absent or malformed. */
export function masterRefOf(asset: CkRecord): string | undefined {
  const ref = fieldsOf(asset).masterRef?.value
  if (ref === null || typeof ref !== 'object') return undefined
  const name = (ref as { recordName?: unknown }).recordName
  return typeof name === 'string' && name !== '' ? name : undefined
}

// ---------------------------------------------------------------------------------------------
// Pairing (§8.3)

export interface PairedRecords {
  pairs: [master: CkRecord, asset: CkRecord][]
  unpairedMasters: CkRecord[]
  unpairedAssets: CkRecord[]
}

/**
 * Pairs each CPLAsset with the CPLMaster its `masterRef` names, in the order the assets arrive.
 * Other record types (albums, container relations) and hard-deleted records are ignored. Deltas
 * can split a pair across pages, so callers buffer the unpaired halves and pair them again later.
 */
export function pairRecords(records: readonly CkRecord[]): PairedRecords {
  const masters = new Map<string, CkRecord>()
  const assets: CkRecord[] = []
  for (const rec of records) {
    if (rec === null || typeof rec !== 'object' || isHardDeleted(rec) || typeof rec.recordName !== 'string')
      continue
    if (rec.recordType === MASTER_RECORD_TYPE) masters.set(rec.recordName, rec)
    else if (rec.recordType === ASSET_RECORD_TYPE) assets.push(rec)
  }
  const pairs: PairedRecords['pairs'] = []
  const unpairedAssets: CkRecord[] = []
  const used = new Set<string>()
  for (const asset of assets) {
    const ref = masterRefOf(asset)
    const master = ref === undefined ? undefined : masters.get(ref)
    if (master === undefined || ref === undefined) {
      unpairedAssets.push(asset)
      continue
    }
    pairs.push([master, asset])
    used.add(ref)
  }
  const unpairedMasters = [...masters.values()].filter((m) => !used.has(m.recordName))
  return { pairs, unpairedMasters, unpairedAssets }
}

// ---------------------------------------------------------------------------------------------
// Parsing a pair into the Asset model (§8.5)

class Reader {
  constructor(
    readonly master: CkRecord,
    readonly asset: CkRecord,
  ) {}

  get ids(): { assetId?: string; masterId?: string } {
    return {
      assetId: typeof this.asset?.recordName === 'string' ? this.asset.recordName : undefined,
      masterId: typeof this.master?.recordName === 'string' ? this.master.recordName : undefined,
    }
  }

  fail(problem: string, field?: string): never {
    throw new AssetParseError(problem, { ...this.ids, field })
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

function readFilename(r: Reader, itemType: string | undefined): string {
  const field = fieldsOf(r.master).filenameEnc
  if (field === undefined) return fallbackFilename(r.master.recordName, itemType)
  if (typeof field !== 'object' || field === null) r.fail('filenameEnc is not a field', 'filenameEnc')
  const { type, value } = field
  if (typeof value !== 'string') r.fail('filenameEnc has no string value', 'filenameEnc')
  if (type === 'STRING') return value
  if (type === 'ENCRYPTED_BYTES') {
    const b64 = value.replace(/\s+/g, '')
    if (!BASE64.test(b64)) r.fail('filenameEnc is not valid base64', 'filenameEnc')
    try {
      return utf8.decode(Buffer.from(b64, 'base64'))
    } catch {
      r.fail('filenameEnc is not valid UTF-8', 'filenameEnc')
    }
  }
  return r.fail(`unsupported filenameEnc type ${JSON.stringify(String(type))}`, 'filenameEnc')
}

function readItemType(r: Reader): string | undefined {
  const field = fieldsOf(r.master).itemType
  if (field === undefined || field === null || field.value === undefined) return undefined
  if (typeof field.value !== 'string') r.fail('itemType is not a string', 'itemType')
  return field.value
}

/** epoch ms from a TIMESTAMP field, or undefined when absent/unusable. */
function readTimestamp(record: CkRecord, name: string): number | undefined {
  const v = fieldsOf(record)[name]?.value
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/**
 * A resource: look on the asset record first, then the master (edits live on the asset). `…Res` and
 * `…FileType` are read from the same record, as icloudpd does; one without the other is an error.
 */
function readVersion(r: Reader, prefix: ResourcePrefix): AssetVersion | undefined {
  const resKey = `${prefix}Res`
  const typeKey = `${prefix}FileType`
  const assetFields = fieldsOf(r.asset)
  const masterFields = fieldsOf(r.master)
  const fields = assetFields[resKey] !== undefined ? assetFields : masterFields
  const res = fields[resKey]
  if (res === undefined) {
    if (assetFields[typeKey] !== undefined || masterFields[typeKey] !== undefined) {
      r.fail(`${typeKey} without ${resKey}`, resKey)
    }
    return undefined
  }
  const fileType = fields[typeKey]?.value
  if (fileType === undefined) r.fail(`${resKey} without ${typeKey}`, typeKey)
  if (typeof fileType !== 'string' || fileType === '') r.fail(`${typeKey} is not a string`, typeKey)
  const v = res?.value
  if (v === null || typeof v !== 'object') r.fail(`${resKey} has no value`, resKey)
  const { downloadURL, size, fileChecksum } = v as Record<string, unknown>
  if (typeof downloadURL !== 'string' || !/^https?:\/\//i.test(downloadURL)) {
    r.fail(`${resKey} has no usable downloadURL`, resKey)
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    r.fail(`${resKey} has no valid size`, resKey)
  }
  if (typeof fileChecksum !== 'string' || fileChecksum === '') r.fail(`${resKey} has no fileChecksum`, resKey)
  return { url: downloadURL, size, checksum: fileChecksum, type: fileType }
}

/**
 * Maps a CPLMaster + CPLAsset pair onto an `Asset`. Throws `AssetParseError` (that asset only) for a
 * malformed pair: wrong record types, a mismatched `masterRef`, a `filenameEnc` of another type,
 * or a resource with a missing or broken half.
 */
export function parseAssetPair(master: CkRecord, asset: CkRecord): Asset {
  const r: Reader = new Reader(master, asset)
  if (master === null || typeof master !== 'object' || typeof master.recordName !== 'string') {
    r.fail('master record has no recordName')
  }
  if (asset === null || typeof asset !== 'object' || typeof asset.recordName !== 'string') {
    r.fail('asset record has no recordName')
  }
  if (master.recordType !== MASTER_RECORD_TYPE) r.fail(`expected a ${MASTER_RECORD_TYPE} record`)
  if (asset.recordType !== ASSET_RECORD_TYPE) r.fail(`expected a ${ASSET_RECORD_TYPE} record`)
  const ref = masterRefOf(asset)
  if (ref === undefined) r.fail('masterRef is missing', 'masterRef')
  if (ref !== master.recordName) r.fail('masterRef names another master', 'masterRef')

  const itemType = readItemType(r)
  const filename = readFilename(r, itemType)
  const kind = kindOf(itemType, filename)

  const versions: Asset['versions'] = {}
  const table = kind === 'movie' ? MOVIE_RESOURCES : IMAGE_RESOURCES
  for (const [size, prefix] of Object.entries(table) as [AssetSize, ResourcePrefix][]) {
    const v = readVersion(r, prefix)
    if (v) versions[size] = v
  }
  // Only images carry a live-photo movie; on a movie resVidMed/Small are the movie's own sizes.
  const liveVersions: Asset['liveVersions'] = {}
  if (kind === 'image') {
    for (const [size, prefix] of Object.entries(LIVE_RESOURCES) as [LivePhotoSize, ResourcePrefix][]) {
      const v = readVersion(r, prefix)
      if (v) liveVersions[size] = v
    }
  }

  // icloudpd files an asset without a usable assetDate under the epoch rather than skipping it.
  const createdAt = readTimestamp(asset, 'assetDate') ?? 0
  const addedAt = readTimestamp(asset, 'addedDate') ?? createdAt
  const tzv = fieldsOf(asset).timeZoneOffset?.value
  const parsed: Asset = {
    id: asset.recordName,
    masterId: master.recordName,
    filename,
    kind,
    createdAt,
    addedAt,
    isFavorite: isFavorite(asset),
    isHidden: isHidden(asset),
    isDeleted: isDeleted(asset),
    versions,
    liveVersions,
  }
  if (typeof tzv === 'number' && Number.isFinite(tzv)) parsed.timeZoneOffset = tzv
  if (typeof asset.recordChangeTag === 'string') parsed.changeTag = asset.recordChangeTag
  // Decoded on first use (only xmp-sidecar reads it): a listing of 100k assets pays nothing for it.
  const fields = fieldsOf(asset)
  let meta: Asset['meta'] | null = null
  Object.defineProperty(parsed, 'meta', {
    get: () => (meta === null ? (meta = readAssetMetadata(fields)) : meta),
    enumerable: false,
    configurable: true,
  })
  return parsed
}
