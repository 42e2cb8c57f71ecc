/**
 * A deterministic, generated iCloud Photos library for the fake CloudKit server.
 *
 * Nothing per asset is stored up front: every property of asset `i` in a zone (kind, name, dates,
 * resources, sizes, album membership) is derived from (seed, zone, i), and file bytes are derived on
 * demand from (seed, zone, i, resource). A 100k-asset library therefore costs a few small typed arrays
 * (cached list orders) plus whatever the tests mutate. Records are rendered exactly in the shape of
 * docs/protocol.md §8.5 (`{value,type}` fields, ENCRYPTED_BYTES names, ASSETID resources with `${f}` URLs).
 *
 * Mutations (`addAssets`, `deleteAsset`, `hideAsset`, `unhideAsset`, `restoreAsset`, `expungeAsset`,
 * `setFilename`) append to a
 * per-zone change log that `changes/zone` pages through and bump the database log behind
 * `changes/database` (§8.6).
 */
import { createHash } from 'node:crypto'
import { fakeJpeg, metadataFields, type FakeMetadata } from './metadata.js'

export type ResKey =
  | 'resOriginal'
  | 'resOriginalAlt'
  | 'resOriginalVidCompl'
  | 'resJPEGFull'
  | 'resJPEGMed'
  | 'resJPEGThumb'
  | 'resVidMed'
  | 'resVidSmall'

const RES_KEYS: ResKey[] = [
  'resOriginal',
  'resOriginalAlt',
  'resOriginalVidCompl',
  'resJPEGFull',
  'resJPEGMed',
  'resJPEGThumb',
  'resVidMed',
  'resVidSmall',
]

/** Resources that live on the CPLAsset record (the edit); all others are on the CPLMaster. */
const ASSET_SIDE: ReadonlySet<ResKey> = new Set(['resJPEGFull'])

/** `heif` (a camera's `.HIF`, UTI public.heif) is opt-in: only generated when `kinds` names it. */
export type FakeKind = 'heic' | 'heif' | 'live' | 'jpeg' | 'png' | 'video' | 'raw-pair'

export interface FakeResource {
  key: ResKey
  /** UTI (`…FileType`). */
  fileType: string
  size: number
  width: number
  height: number
}

export interface FakeAsset {
  zone: string
  index: number
  /** CPLAsset recordName (UUID). */
  id: string
  /** CPLMaster recordName. */
  masterId: string
  filename: string
  itemType: string
  fakeKind: FakeKind
  kind: 'image' | 'movie'
  edited: boolean
  assetDate: number
  addedDate: number
  timeZoneOffset: number
  favorite: boolean
  hidden: boolean
  /** Moved to Recently Deleted (isDeleted = 1). */
  deleted: boolean
  /** Hard-deleted: gone from every list, a `deleted:true` record in the change log. */
  expunged: boolean
  resources: FakeResource[]
  /** Album recordNames this asset belongs to (private zone only). */
  albums: string[]
  /** What puts it in a smart folder besides its kind: a panorama or burst photo, a slo-mo or time-lapse movie. */
  subtype?: 'panorama' | 'burst' | 'slomo' | 'timelapse'
  /** Title, keywords, location… (setMetadata); none by default. */
  meta?: FakeMetadata
  revision: number
}

export interface FakeAlbum {
  recordName: string
  name: string
  deleted?: boolean
  /** Root folders are listed by Apple but are not albums. */
  folder?: boolean
}

export type DownloadFaultKind = 'status' | 'reset' | 'truncate' | 'wrong-size' | 'slow' | 'ignore-range'

/** A fault for downloads, matched per request (first matching fault wins, `times` counts down). */
export interface DownloadFault {
  kind: DownloadFaultKind
  /** Only for this asset id (CPLAsset recordName); default: any. */
  assetId?: string
  /** Only for this resource; default: any. */
  res?: ResKey
  /** How many requests it hits; default 1, Infinity = persistent. */
  times?: number
  /** `status`: the HTTP status (e.g. 503) and an optional Retry-After (seconds). */
  status?: number
  retryAfter?: number
  /** `reset` / `truncate`: bytes of the body sent before the socket is destroyed / the body ends. */
  afterBytes?: number
  /** `wrong-size`: bytes added to (positive) or cut from (negative) the real content. */
  delta?: number
  /** Send the body chunked, without Content-Length (only the byte count can tell it is wrong). */
  hideLength?: boolean
  /** `slow`: the body is written in chunks of this many bytes with this delay between them. */
  chunkBytes?: number
  delayMs?: number
}

export interface LibraryOptions {
  seed?: number
  /** Assets in the private PrimarySync zone. */
  count?: number
  /** Assets in the shared-library zone (default: a tenth of `count`, at least 5). */
  sharedCount?: number
  /** Restrict generated kinds (default: a realistic mix of all kinds). */
  kinds?: FakeKind[]
  minBytes?: number
  maxBytes?: number
  /** Share of initial assets that are hidden / in Recently Deleted (default 0.02 / 0.01). */
  hiddenRate?: number
  deletedRate?: number
  /** Share of images with an edit (`resJPEGFull`), default 0.15. */
  editedRate?: number
  /** Capture time of asset 0 and the spacing between consecutive assets. */
  startDate?: number
  stepMs?: number
  /** Album names (private zone); each asset is in each album with probability `albumRate`. */
  albums?: string[]
  albumRate?: number
  /** Lifetime of signed download URLs, seconds against the server's virtual clock. */
  urlTtlSec?: number
  /**
   * Where the shared library's zone is listed: `shared` (the default: this account joined someone
   * else's library) or `private` (this account created it; its zone sits beside PrimarySync).
   */
  sharedLibraryDatabase?: 'private' | 'shared'
  /**
   * JPEG resources (`public.jpeg`) are real JPEGs (metadata.ts), every other one carries an
   * Exif DateTimeOriginal (`hasExifDate`); default false: random bytes behind a JPEG magic.
   */
  realJpegs?: boolean
}

export const PRIVATE_ZONE = 'PrimarySync'

/** One record change in a zone's history. */
interface LogEntry {
  index: number
  rec: 'master' | 'asset'
}

interface Overrides {
  hidden?: boolean
  deleted?: boolean
  expunged?: boolean
  filename?: string
  /** Resources the asset lacks (a small image has no `resJPEGMed` at Apple). */
  without?: ResKey[]
  favorite?: boolean
  meta?: FakeMetadata
  revision: number
}

export class FakeZone {
  readonly overrides = new Map<number, Overrides>()
  /** Explicit changes after the initial history (which is master i, asset i for every initial i). */
  readonly log: LogEntry[] = []
  count: number
  /** Bumped on every mutation; invalidates cached list orders. */
  version = 0
  readonly listCache = new Map<string, { version: number; indices: Int32Array }>()

  constructor(
    readonly name: string,
    readonly scope: 'private' | 'shared',
    readonly zoneIdx: number,
    readonly initialCount: number,
  ) {
    this.count = initialCount
  }

  /** Position after the last change: the zone's sync-token sequence number. */
  get seq(): number {
    return this.initialCount * 2 + this.log.length
  }

  entryAt(pos: number): LogEntry {
    if (pos < this.initialCount * 2) return { index: pos >> 1, rec: pos % 2 === 0 ? 'master' : 'asset' }
    return this.log[pos - this.initialCount * 2]!
  }
}

const KIND_MIX: Array<[FakeKind, number]> = [
  ['heic', 0.25],
  ['live', 0.2],
  ['jpeg', 0.2],
  ['png', 0.07],
  ['video', 0.12],
  ['raw-pair', 0.08],
]

/** Kinds left out of the default mix (so existing seeds keep their libraries). */
const OPT_IN_KINDS: Array<[FakeKind, number]> = [['heif', 0.25]]

const TYPE_EXT: Record<string, string> = {
  'public.heic': 'HEIC',
  'public.heif': 'HIF', // Canon and Sony name their HEIF files .HIF
  'public.jpeg': 'JPG',
  'public.png': 'PNG',
  'com.apple.quicktime-movie': 'MOV',
  'com.adobe.raw-image': 'DNG',
  'com.canon.cr2-raw-image': 'CR2',
  'com.sony.arw-raw-image': 'ARW',
  'com.nikon.raw-image': 'NEF',
}
const RAW_TYPES = [
  'com.adobe.raw-image',
  'com.canon.cr2-raw-image',
  'com.sony.arw-raw-image',
  'com.nikon.raw-image',
]
const TZ_OFFSETS = [0, 3600, 7200, -18000, -28800, 19800, 32400]

/** 32-bit mix of a list of integers (murmur3 finaliser over a running hash). */
export function hash32(...parts: number[]): number {
  let h = 0x9e3779b9
  for (const p of parts) {
    h = Math.imul(h ^ (p | 0), 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
  }
  return h >>> 0
}

/** mulberry32: a tiny seeded PRNG, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).padStart(8, '0').slice(-width).toUpperCase()
}

function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64')
}

export class FakeLibrary {
  readonly seed: number
  readonly zones: FakeZone[]
  readonly albums: FakeAlbum[]
  readonly ownerRecordName: string
  /** `CheckIndexingState` answer; tests set e.g. 'RUNNING'. */
  indexingState = 'FINISHED'
  indexingProgress = 100
  /** Download faults, consumed first-match (see DownloadFault). */
  readonly downloadFaults: DownloadFault[] = []
  /** Record names `records/lookup` was asked for, in order. */
  readonly lookups: string[] = []
  /**
   * Every `records/modify` operation the server answered: the record it named, the change tag it
   * sent, the request's Content-Type and the outcome (`ok` or the per-record serverErrorCode).
   */
  readonly modifications: Array<{
    recordName: string
    recordChangeTag?: string
    contentType?: string
    outcome: string
  }> = []
  /** Every download request the content host answered: asset, resource, Range start, status, time. */
  readonly downloadLog: Array<{
    assetId: string
    res: ResKey
    rangeStart?: number
    status: number
    /** When the request arrived (the server's virtual clock, epoch ms). */
    at: number
  }> = []
  /**
   * Runs of "phantom" ranks in the private `all` list that come back as empty pages, as runs of
   * deleted records do at Apple (§8.3): `pages` empty pages starting at `atRank`, in units of the
   * requested page size.
   */
  readonly emptyPages: Array<{ atRank: number; pages: number }> = []
  /** Bumped by `invalidateTokens()`: every earlier sync token becomes unknown (BAD_REQUEST). */
  tokenEpoch: number
  readonly urlTtlSec: number
  private readonly o: Required<
    Omit<LibraryOptions, 'albums' | 'sharedCount' | 'kinds' | 'sharedLibraryDatabase' | 'realJpegs'>
  > & {
    realJpegs: boolean
    kinds?: FakeKind[]
  }
  /** Database change logs per scope: the zone name of every change. */
  private readonly dbLog: Record<'private' | 'shared', string[]> = { private: [], shared: [] }

  constructor(options: LibraryOptions = {}) {
    const count = options.count ?? 100
    this.o = {
      seed: options.seed ?? 1,
      count,
      minBytes: Math.max(24, options.minBytes ?? 200),
      maxBytes: Math.max(options.minBytes ?? 200, options.maxBytes ?? 4096),
      hiddenRate: options.hiddenRate ?? 0.02,
      deletedRate: options.deletedRate ?? 0.01,
      editedRate: options.editedRate ?? 0.15,
      startDate: options.startDate ?? Date.UTC(2015, 0, 1, 8),
      stepMs: options.stepMs ?? 3_600_000,
      albumRate: options.albumRate ?? 0.2,
      urlTtlSec: options.urlTtlSec ?? 3600,
      kinds: options.kinds,
      realJpegs: options.realJpegs ?? false,
    }
    this.seed = this.o.seed
    this.urlTtlSec = this.o.urlTtlSec
    this.tokenEpoch = hash32(this.seed, 77) % 100_000
    const r = prng(hash32(this.seed, 0xabc))
    const uuid = (): string =>
      [8, 4, 4, 4, 12]
        .map((n) => Array.from({ length: n }, () => '0123456789ABCDEF'[Math.floor(r() * 16)]).join(''))
        .join('-')
    this.ownerRecordName = '_' + uuid().replace(/-/g, '').toLowerCase()
    const sharedCount = options.sharedCount ?? Math.max(5, Math.round(count / 10))
    this.zones = [
      new FakeZone(PRIVATE_ZONE, 'private', 0, count),
      new FakeZone(`SharedSync-${uuid()}`, options.sharedLibraryDatabase ?? 'shared', 1, sharedCount),
    ]
    const names = options.albums ?? ['Vacation', 'Family', 'Favourites 2016']
    this.albums = [
      { recordName: '----Root-Folder----', name: '', folder: true },
      { recordName: '----Project-Root-Folder----', name: '', folder: true },
      ...names.map((name) => ({ recordName: uuid(), name })),
      { recordName: uuid(), name: 'Deleted album', deleted: true },
    ]
  }

  get privateZone(): FakeZone {
    return this.zones[0]!
  }

  get sharedZone(): FakeZone {
    return this.zones[1]!
  }

  zone(name: string): FakeZone | undefined {
    return this.zones.find((z) => z.name === name)
  }

  // ---- derivation ---------------------------------------------------------------------------

  assetId(zone: FakeZone, i: number): string {
    const h = hash32(this.seed, zone.zoneIdx, i, 1)
    const g = hash32(this.seed, zone.zoneIdx, i, 2)
    const idx = i.toString(16).padStart(11, '0').toUpperCase()
    return `${hex(h, 8)}-${hex(g, 4)}-4${hex(g >>> 16, 3)}-${'89AB'[g & 3]}${zone.zoneIdx}${hex(h >>> 8, 2)}-${'F'}${idx}`
  }

  masterId(zone: FakeZone, i: number): string {
    const buf = Buffer.alloc(21)
    for (let k = 0; k < 4; k++) buf.writeUInt32BE(hash32(this.seed, zone.zoneIdx, i, 10 + k), k * 4)
    buf.writeUInt32BE(i >>> 0, 16)
    buf[20] = zone.zoneIdx
    return 'A' + buf.toString('base64').slice(0, 27)
  }

  /** Zone and index of an asset id (ids embed both), or undefined. */
  locate(id: string): { zone: FakeZone; index: number } | undefined {
    const m = /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB]([0-9])[0-9A-F]{2}-F([0-9A-F]{11})$/.exec(id)
    if (!m) return undefined
    const zone = this.zones[Number(m[1])]
    const index = parseInt(m[2]!, 16)
    if (!zone || index >= zone.count || this.assetId(zone, index) !== id) return undefined
    return { zone, index }
  }

  /** Zone and index of a master record name, or undefined. */
  locateMaster(masterId: string): { zone: FakeZone; index: number } | undefined {
    if (!/^A[A-Za-z0-9+/]{27}$/.test(masterId)) return undefined
    // Bytes 16–19 of the name hold the index (see masterId); the zone is found by re-deriving.
    const index = Buffer.from(masterId.slice(1) + '=', 'base64').readUInt32BE(16)
    for (const zone of this.zones) {
      if (index < zone.count && this.masterId(zone, index) === masterId) return { zone, index }
    }
    return undefined
  }

  describe(zone: FakeZone, i: number): FakeAsset {
    const r = prng(hash32(this.seed, zone.zoneIdx, i, 3))
    const kind = this.pickKind(r())
    const ov = zone.overrides.get(i)
    // Assets added after construction are never hidden/deleted at birth.
    const initial = i < zone.initialCount
    const flagRoll = r()
    const hidden = ov?.hidden ?? (initial && flagRoll < this.o.hiddenRate)
    const deleted =
      ov?.deleted ??
      (initial && flagRoll >= this.o.hiddenRate && flagRoll < this.o.hiddenRate + this.o.deletedRate)
    const favoriteRoll = r() < 0.1
    const favorite = ov?.favorite ?? favoriteRoll
    const edited = kind !== 'video' && r() < this.o.editedRate
    const rawIsOriginal = r() < 0.5
    const rawType = RAW_TYPES[Math.floor(r() * RAW_TYPES.length)]!
    const base = this.o.startDate + i * this.o.stepMs
    const assetDate = base + Math.floor(r() * (this.o.stepMs / 2))
    const addedDate = base + Math.floor(this.o.stepMs / 2) + Math.floor(r() * (this.o.stepMs / 2))
    const timeZoneOffset = TZ_OFFSETS[Math.floor(r() * TZ_OFFSETS.length)]!
    const size = (scale: number): number => {
      const min = this.o.minBytes
      const max = Math.max(min, Math.floor(this.o.maxBytes * scale))
      return min + Math.floor(r() * (max - min + 1))
    }
    const res = (key: ResKey, fileType: string, scale = 1, w = 4032, h = 3024): FakeResource => ({
      key,
      fileType,
      size: size(scale),
      width: Math.round(w * scale),
      height: Math.round(h * scale),
    })
    const resources: FakeResource[] = []
    let itemType: string
    switch (kind) {
      case 'heic':
      case 'live':
        itemType = 'public.heic'
        break
      case 'heif':
        itemType = 'public.heif'
        break
      case 'jpeg':
        itemType = 'public.jpeg'
        break
      case 'png':
        itemType = 'public.png'
        break
      case 'video':
        itemType = 'com.apple.quicktime-movie'
        break
      case 'raw-pair':
        itemType = rawIsOriginal ? rawType : 'public.jpeg'
        break
    }
    resources.push(res('resOriginal', itemType))
    if (kind === 'raw-pair') resources.push(res('resOriginalAlt', rawIsOriginal ? 'public.jpeg' : rawType))
    if (kind === 'video') {
      resources.push(res('resVidMed', 'com.apple.quicktime-movie', 0.5, 1280, 720))
      resources.push(res('resVidSmall', 'com.apple.quicktime-movie', 0.25, 640, 360))
      resources.push(res('resJPEGThumb', 'public.jpeg', 0.1))
    } else {
      resources.push(res('resJPEGMed', 'public.jpeg', 0.5))
      resources.push(res('resJPEGThumb', 'public.jpeg', 0.1))
    }
    if (kind === 'live') {
      resources.push(res('resOriginalVidCompl', 'com.apple.quicktime-movie', 1, 1920, 1440))
      resources.push(res('resVidMed', 'com.apple.quicktime-movie', 0.5, 1280, 720))
      resources.push(res('resVidSmall', 'com.apple.quicktime-movie', 0.25, 640, 360))
    }
    if (edited) resources.push(res('resJPEGFull', 'public.jpeg'))
    if (ov?.without)
      resources.splice(0, resources.length, ...resources.filter((x) => !ov.without!.includes(x.key)))
    const prefix = zone.zoneIdx === 0 ? 'IMG_' : 'PXL_'
    const filename = ov?.filename ?? `${prefix}${1000 + i}.${TYPE_EXT[itemType]}`
    const albums =
      zone.zoneIdx === 0
        ? this.albums
            .filter((a, k) => !a.folder && hash32(this.seed, i, k, 4) / 4294967296 < this.o.albumRate)
            .map((a) => a.recordName)
        : []
    // From its own hash, so the assets of existing seeds keep every other property.
    const roll = hash32(this.seed, zone.zoneIdx, i, 8) / 4294967296
    const subtype =
      kind === 'video'
        ? roll < 0.2
          ? 'slomo'
          : roll < 0.4
            ? 'timelapse'
            : undefined
        : kind === 'heic' || kind === 'jpeg'
          ? roll < 0.1
            ? 'panorama'
            : roll < 0.2
              ? 'burst'
              : undefined
          : undefined
    return {
      zone: zone.name,
      index: i,
      id: this.assetId(zone, i),
      masterId: this.masterId(zone, i),
      filename,
      itemType,
      fakeKind: kind,
      kind: kind === 'video' ? 'movie' : 'image',
      edited,
      assetDate,
      addedDate,
      timeZoneOffset,
      favorite,
      hidden,
      deleted,
      expunged: ov?.expunged ?? false,
      resources,
      albums,
      subtype,
      meta: ov?.meta,
      revision: ov?.revision ?? 0,
    }
  }

  private pickKind(x: number): FakeKind {
    const mix = this.o.kinds
      ? [...KIND_MIX, ...OPT_IN_KINDS].filter(([k]) => this.o.kinds!.includes(k))
      : KIND_MIX
    const total = mix.reduce((s, [, w]) => s + w, 0)
    let acc = 0
    for (const [k, w] of mix) {
      acc += w / total
      if (x < acc) return k
    }
    return mix[mix.length - 1]![0]
  }

  /** The bytes of one resource: stable for (seed, zone, asset, resource), with a plausible magic. */
  bytes(zone: FakeZone, i: number, key: ResKey): Buffer {
    const a = this.describe(zone, i)
    const r = a.resources.find((x) => x.key === key)
    if (!r) throw new Error(`asset ${a.id} has no ${key}`)
    const buf = Buffer.alloc(r.size)
    let s = hash32(this.seed, zone.zoneIdx, i, 100 + RES_KEYS.indexOf(key)) || 1
    for (let k = 0; k + 4 <= buf.length; k += 4) {
      s ^= s << 13
      s ^= s >>> 17
      s ^= s << 5
      buf.writeUInt32LE(s >>> 0, k)
    }
    for (let k = buf.length & ~3; k < buf.length; k++) buf[k] = (s >>> (8 * (k & 3))) & 0xff
    if (this.o.realJpegs && r.fileType === 'public.jpeg') {
      let k = 0
      const jpeg = fakeJpeg(r.size, () => buf[k++ % buf.length]!, this.exifDate(zone, i, key))
      if (jpeg) return jpeg
    }
    magic(r.fileType).copy(buf, 0)
    return buf
  }

  /**
   * The Exif DateTimeOriginal a real fake JPEG carries (`realJpegs`), or undefined for one
   * without: the camera's wall clock at capture (assetDate + timeZoneOffset).
   */
  exifDate(zone: FakeZone, i: number, key: ResKey): string | undefined {
    if (hash32(this.seed, zone.zoneIdx, i, 300 + RES_KEYS.indexOf(key)) % 2 === 0) return undefined
    const a = this.describe(zone, i)
    const d = new Date(a.assetDate + a.timeZoneOffset * 1000)
    const p = (n: number) => String(n).padStart(2, '0')
    return `${d.getUTCFullYear()}:${p(d.getUTCMonth() + 1)}:${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
  }

  /** SHA-256 (hex) of a resource's bytes: what a verified download must produce. */
  sha256(zone: FakeZone, i: number, key: ResKey): string {
    return createHash('sha256')
      .update(this.bytes(zone, i, key))
      .digest('hex')
  }

  /** Apple's `fileChecksum`: 21 bytes starting 0x01 (an MMCS signature, not a content hash). */
  fileChecksum(zone: FakeZone, i: number, key: ResKey): string {
    const buf = Buffer.alloc(21)
    buf[0] = 0x01
    for (let k = 0; k < 5; k++)
      buf.writeUInt32BE(hash32(this.seed, zone.zoneIdx, i, 200 + RES_KEYS.indexOf(key), k), 1 + k * 4)
    return buf.toString('base64')
  }

  // ---- lists ----------------------------------------------------------------------------------

  /**
   * Indices of a list, newest first. Keys: `all` (not hidden, not deleted), `hidden`, `deleted`,
   * `burst`, `album:<recordName>`, `smart:<FAVORITE|VIDEO|LIVE|PANORAMA|SCREENSHOT|SLOMO|TIMELAPSE>`. Dates grow with the index, so newest
   * first is descending index order. Cached until the zone changes.
   */
  list(zone: FakeZone, key: string): Int32Array {
    const hit = zone.listCache.get(key)
    if (hit && hit.version === zone.version) return hit.indices
    const out = new Int32Array(zone.count)
    let n = 0
    for (let i = zone.count - 1; i >= 0; i--) {
      const a = this.describe(zone, i)
      if (a.expunged) continue
      if (listHas(key, a)) out[n++] = i
    }
    const indices = out.slice(0, n)
    zone.listCache.set(key, { version: zone.version, indices })
    return indices
  }

  /** Visible assets of a zone in listing order (what a full sync must download). */
  visibleAssets(zone: FakeZone = this.privateZone): FakeAsset[] {
    return Array.from(this.list(zone, 'all'), (i) => this.describe(zone, i))
  }

  // ---- mutations -------------------------------------------------------------------------------

  /** Add n new (newest) assets to a zone; returns their ids. */
  addAssets(n: number, zone: FakeZone = this.privateZone): string[] {
    const first = zone.count
    zone.count += n
    const ids: string[] = []
    // Masters of the batch first, then the assets, so pairs can straddle change pages (§8.6).
    for (let i = first; i < first + n; i++) zone.log.push({ index: i, rec: 'master' })
    for (let i = first; i < first + n; i++) {
      zone.log.push({ index: i, rec: 'asset' })
      ids.push(this.assetId(zone, i))
    }
    this.touch(zone)
    return ids
  }

  /** Move an asset to Recently Deleted (isDeleted = 1). */
  deleteAsset(id: string): void {
    this.mutate(id, (o) => (o.deleted = true))
  }

  hideAsset(id: string): void {
    this.mutate(id, (o) => (o.hidden = true))
  }

  /**
   * Unhide: only the CPLAsset changes (isHidden 1 → 0), so the change feed carries the asset alone
   * and its master is only to be had from `records/lookup`.
   */
  unhideAsset(id: string): void {
    this.mutate(id, (o) => (o.hidden = false))
  }

  /** Recover from Recently Deleted: like unhide, an asset-only change (isDeleted 1 → 0). */
  restoreAsset(id: string): void {
    this.mutate(id, (o) => (o.deleted = false))
  }

  /** Assets hidden (or in Recently Deleted) in a zone: candidates for unhide / restore tests. */
  hiddenAssets(zone: FakeZone = this.privateZone, which: 'hidden' | 'deleted' = 'hidden'): FakeAsset[] {
    return Array.from(this.list(zone, which), (i) => this.describe(zone, i))
  }

  /** Hard delete: the change log carries `deleted:true` records. */
  expungeAsset(id: string): void {
    this.mutate(id, (o) => (o.expunged = true), true)
  }

  /** The current `recordChangeTag` of an asset's CPLAsset record (changes with every mutation). */
  assetChangeTag(zone: FakeZone, i: number): string {
    const a = this.describe(zone, i)
    return `a${a.revision.toString(36)}${hash32(a.index, 6).toString(36).slice(0, 4)}`
  }

  /**
   * Check one `records/modify` operation against the zone (docs/protocol.md §8.7): only an
   * `update` of a CPLAsset's `isDeleted` to 1 is supported, guarded by its current
   * `recordChangeTag` (CONFLICT otherwise, as CloudKit's optimistic lock). Returns the error to
   * send, or a function that applies the change (so an atomic batch applies all or nothing).
   */
  checkModify(
    zone: FakeZone,
    op: unknown,
  ): { error: { recordName?: string; serverErrorCode: string; reason: string } } | { apply: () => unknown } {
    const o = (op ?? {}) as { operationType?: unknown; record?: Record<string, unknown> }
    const rec = o.record ?? {}
    const name = typeof rec.recordName === 'string' ? rec.recordName : undefined
    const fail = (serverErrorCode: string, reason: string) => ({
      error: { recordName: name, serverErrorCode, reason },
    })
    if (o.operationType !== 'update') return fail('BAD_REQUEST', 'only update is supported by the fake')
    if (rec.recordType !== 'CPLAsset') return fail('BAD_REQUEST', 'recordType must be CPLAsset')
    if (!name) return fail('BAD_REQUEST', 'recordName missing')
    const fields = rec.fields as Record<string, { value?: unknown } | undefined> | undefined
    const keys = Object.keys(fields ?? {})
    if (keys.length !== 1 || keys[0] !== 'isDeleted' || fields?.isDeleted?.value !== 1)
      return fail('BAD_REQUEST', 'the fake only sets isDeleted to 1')
    const loc = this.locate(name)
    if (!loc || loc.zone !== zone || this.describe(zone, loc.index).expunged)
      return fail('NOT_FOUND', 'Record not found')
    const current = this.assetChangeTag(zone, loc.index)
    if (rec.recordChangeTag !== current)
      return fail('CONFLICT', 'record to insert already exists / oplock error: recordChangeTag mismatch')
    return {
      apply: () => {
        this.deleteAsset(name)
        return {
          recordName: name,
          recordType: 'CPLAsset',
          recordChangeTag: this.assetChangeTag(zone, loc.index),
          fields: { isDeleted: { value: 1, type: 'INT64' } },
          deleted: false,
          zoneID: this.zoneID(zone),
        }
      },
    }
  }

  /** Change the server-side file name (hostile-name tests). */
  setFilename(id: string, filename: string): void {
    this.mutate(id, (o) => (o.filename = filename), true)
  }

  /** Take a resource away from an asset's master, e.g. `resJPEGMed` of an image too small for one. */
  dropResource(id: string, key: ResKey): void {
    this.mutate(id, (o) => (o.without = [...(o.without ?? []), key]), true)
  }

  /** Title, description, keywords, location, orientation, screenshot (CPLAsset fields). */
  setMetadata(id: string, meta: FakeMetadata): void {
    this.mutate(id, (o) => (o.meta = meta))
  }

  setFavorite(id: string, favorite: boolean): void {
    this.mutate(id, (o) => (o.favorite = favorite))
  }

  /** Make every sync token issued so far unknown to the server. */
  invalidateTokens(): void {
    this.tokenEpoch++
  }

  private mutate(id: string, f: (o: Overrides) => void, master = false): void {
    const loc = this.locate(id)
    if (!loc) throw new Error(`unknown asset ${id}`)
    const o = loc.zone.overrides.get(loc.index) ?? { revision: 0 }
    f(o)
    o.revision++
    loc.zone.overrides.set(loc.index, o)
    if (master) loc.zone.log.push({ index: loc.index, rec: 'master' })
    loc.zone.log.push({ index: loc.index, rec: 'asset' })
    this.touch(loc.zone)
  }

  private touch(zone: FakeZone): void {
    zone.version++
    this.dbLog[zone.scope].push(zone.name)
  }

  // ---- tokens ----------------------------------------------------------------------------------

  zoneToken(zone: FakeZone, seq = zone.seq): string {
    return 'AQAA' + Buffer.from(`z|${this.tokenEpoch}|${zone.name}|${seq}`).toString('base64url')
  }

  /** The sequence number a zone token stands for, or undefined when the token is unknown. */
  parseZoneToken(zone: FakeZone, token: string): number | undefined {
    const m = /^z\|(\d+)\|(.+)\|(\d+)$/.exec(decodeToken(token))
    if (!m || Number(m[1]) !== this.tokenEpoch || m[2] !== zone.name) return undefined
    const seq = Number(m[3])
    return seq <= zone.seq ? seq : undefined
  }

  dbToken(scope: 'private' | 'shared'): string {
    return (
      'AQAA' + Buffer.from(`d|${this.tokenEpoch}|${scope}|${this.dbLog[scope].length}`).toString('base64url')
    )
  }

  /** Zones changed since a database token; undefined when the token is unknown. */
  zonesChangedSince(scope: 'private' | 'shared', token: string): FakeZone[] | undefined {
    const m = /^d\|(\d+)\|(private|shared)\|(\d+)$/.exec(decodeToken(token))
    if (!m || Number(m[1]) !== this.tokenEpoch || m[2] !== scope) return undefined
    const seq = Number(m[3])
    if (seq > this.dbLog[scope].length) return undefined
    const names = new Set(this.dbLog[scope].slice(seq))
    return this.zones.filter((z) => names.has(z.name))
  }

  // ---- records (§8.5) --------------------------------------------------------------------------

  zoneID(zone: FakeZone): { zoneName: string; ownerRecordName: string; zoneType: string } {
    return { zoneName: zone.name, ownerRecordName: this.ownerRecordName, zoneType: 'REGULAR_CUSTOM_ZONE' }
  }

  private resValue(
    zone: FakeZone,
    a: FakeAsset,
    r: FakeResource,
    contentBase: string,
    nowMs: number,
  ): unknown {
    const token = Buffer.from(`${zone.zoneIdx}.${a.index}.${r.key}`).toString('base64url')
    const e = Math.floor(nowMs / 1000) + this.urlTtlSec
    const sig = hash32(this.seed, a.index, e).toString(36)
    return {
      value: {
        fileChecksum: this.fileChecksum(zone, a.index, r.key),
        size: r.size,
        wrappingKey: b64(`wk-${a.index}-${r.key}`),
        referenceChecksum: b64(`rc-${a.index}-${r.key}`),
        downloadURL:
          `${contentBase}/B/${token}/\${f}?o=${sig}&v=1&x=3&a=${sig}&e=${e}&k=${sig}&fl=&r=${sig}` +
          `&ckc=com.apple.photos.cloud&ckz=${encodeURIComponent(zone.name)}&y=1&p=10&s=${sig}`,
      },
      type: 'ASSETID',
    }
  }

  masterRecord(zone: FakeZone, a: FakeAsset, contentBase: string, nowMs: number): Record<string, unknown> {
    if (a.expunged) return { recordName: a.masterId, recordType: null, deleted: true }
    const fields: Record<string, unknown> = {
      filenameEnc: { value: b64(a.filename), type: 'ENCRYPTED_BYTES' },
      itemType: { value: a.itemType, type: 'STRING' },
      originalOrientation: { value: 1, type: 'INT64' },
    }
    for (const r of a.resources) {
      if (ASSET_SIDE.has(r.key)) continue
      fields[`${r.key}Res`] = this.resValue(zone, a, r, contentBase, nowMs)
      fields[`${r.key}FileType`] = { value: r.fileType, type: 'STRING' }
      fields[`${r.key}Width`] = { value: r.width, type: 'INT64' }
      fields[`${r.key}Height`] = { value: r.height, type: 'INT64' }
    }
    return {
      recordName: a.masterId,
      recordType: 'CPLMaster',
      fields,
      pluginFields: {},
      recordChangeTag: `m${a.revision.toString(36)}${hash32(a.index, 5).toString(36).slice(0, 4)}`,
      created: { timestamp: a.addedDate, userRecordName: this.ownerRecordName, deviceID: '2' },
      modified: { timestamp: a.addedDate, userRecordName: this.ownerRecordName, deviceID: '2' },
      deleted: false,
      zoneID: this.zoneID(zone),
    }
  }

  assetRecord(zone: FakeZone, a: FakeAsset, contentBase: string, nowMs: number): Record<string, unknown> {
    if (a.expunged) return { recordName: a.id, recordType: null, deleted: true }
    const fields: Record<string, unknown> = {
      assetDate: { value: a.assetDate, type: 'TIMESTAMP' },
      addedDate: { value: a.addedDate, type: 'TIMESTAMP' },
      timeZoneOffset: { value: a.timeZoneOffset, type: 'INT64' },
      masterRef: {
        value: { recordName: a.masterId, action: 'DELETE_SELF', zoneID: this.zoneID(zone) },
        type: 'REFERENCE',
      },
      isFavorite: { value: a.favorite ? 1 : 0, type: 'INT64' },
      isHidden: { value: a.hidden ? 1 : 0, type: 'INT64' },
      isDeleted: { value: a.deleted ? 1 : 0, type: 'INT64' },
      assetSubtypeV2: { value: a.fakeKind === 'live' ? 2 : 0, type: 'INT64' },
      orientation: { value: 1, type: 'INT64' },
    }
    if (a.edited) fields.adjustmentType = { value: 'com.apple.photo', type: 'STRING' }
    if (a.subtype === 'burst') fields.burstId = { value: `BURST-${a.index >> 3}`, type: 'STRING' }
    if (a.meta) Object.assign(fields, metadataFields(a.meta))
    for (const r of a.resources) {
      if (!ASSET_SIDE.has(r.key)) continue
      fields[`${r.key}Res`] = this.resValue(zone, a, r, contentBase, nowMs)
      fields[`${r.key}FileType`] = { value: r.fileType, type: 'STRING' }
      fields[`${r.key}Width`] = { value: r.width, type: 'INT64' }
      fields[`${r.key}Height`] = { value: r.height, type: 'INT64' }
    }
    return {
      recordName: a.id,
      recordType: 'CPLAsset',
      fields,
      pluginFields: {},
      recordChangeTag: `a${a.revision.toString(36)}${hash32(a.index, 6).toString(36).slice(0, 4)}`,
      created: { timestamp: a.addedDate, userRecordName: this.ownerRecordName, deviceID: '2' },
      modified: { timestamp: a.addedDate, userRecordName: this.ownerRecordName, deviceID: '2' },
      deleted: false,
      zoneID: this.zoneID(zone),
    }
  }

  albumRecord(album: FakeAlbum, zone: FakeZone): Record<string, unknown> {
    const fields: Record<string, unknown> = {
      isDeleted: { value: album.deleted ? 1 : 0, type: 'INT64' },
      albumType: { value: album.folder ? 3 : 0, type: 'INT64' },
      position: { value: 1024, type: 'INT64' },
      sortAscending: { value: 1, type: 'INT64' },
      sortType: { value: 0, type: 'INT64' },
    }
    // Apple stores album names decomposed (NFD): `Jörg` comes back as `4a 6f 308 72 67`.
    if (!album.folder)
      fields.albumNameEnc = { value: b64(album.name.normalize('NFD')), type: 'ENCRYPTED_BYTES' }
    return {
      recordName: album.recordName,
      recordType: 'CPLAlbum',
      fields,
      recordChangeTag: 'al1',
      deleted: false,
      zoneID: this.zoneID(zone),
    }
  }

  relationRecord(zone: FakeZone, a: FakeAsset, albumId: string): Record<string, unknown> {
    return {
      recordName: `${a.id}-IN-${albumId}`,
      recordType: 'CPLContainerRelation',
      fields: {
        itemId: { value: a.id, type: 'STRING' },
        containerId: { value: albumId, type: 'STRING' },
        position: { value: a.index, type: 'INT64' },
        isKeyAsset: { value: 0, type: 'INT64' },
      },
      recordChangeTag: 'cr1',
      deleted: false,
      zoneID: this.zoneID(zone),
    }
  }

  /** Consume the first download fault that matches this request. */
  takeDownloadFault(assetId: string, res: ResKey): DownloadFault | undefined {
    const k = this.downloadFaults.findIndex(
      (f) => (f.assetId === undefined || f.assetId === assetId) && (f.res === undefined || f.res === res),
    )
    if (k < 0) return undefined
    const f = this.downloadFaults[k]!
    const left = (f.times ?? 1) - 1
    if (left <= 0) this.downloadFaults.splice(k, 1)
    else f.times = left
    return f
  }
}

function listHas(key: string, a: FakeAsset): boolean {
  if (key === 'all') return !a.hidden && !a.deleted
  if (key === 'hidden') return a.hidden && !a.deleted
  if (key === 'deleted') return a.deleted
  if (a.hidden || a.deleted) return false
  if (key.startsWith('album:')) return a.albums.includes(key.slice(6))
  switch (key) {
    case 'burst':
      return a.subtype === 'burst'
    case 'smart:FAVORITE':
      return a.favorite
    case 'smart:VIDEO':
      return a.kind === 'movie'
    case 'smart:LIVE':
      return a.fakeKind === 'live'
    case 'smart:SCREENSHOT':
      return a.fakeKind === 'png'
    case 'smart:PANORAMA':
      return a.subtype === 'panorama'
    case 'smart:SLOMO':
      return a.subtype === 'slomo'
    case 'smart:TIMELAPSE':
      return a.subtype === 'timelapse'
    default:
      return false
  }
}

function decodeToken(token: string): string {
  if (!token.startsWith('AQAA')) return ''
  try {
    return Buffer.from(token.slice(4), 'base64url').toString('utf8')
  } catch {
    return ''
  }
}

function magic(fileType: string): Buffer {
  if (fileType === 'public.jpeg') return Buffer.from([0xff, 0xd8, 0xff, 0xe0])
  if (fileType === 'public.png') return Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  if (fileType === 'public.heic') return Buffer.from('\0\0\0\x18ftypheic', 'latin1')
  if (fileType === 'public.heif') return Buffer.from('\0\0\0\x18ftypmif1', 'latin1')
  if (fileType === 'com.apple.quicktime-movie') return Buffer.from('\0\0\0\x14ftypqt  ', 'latin1')
  return Buffer.from('RAW0', 'latin1')
}
