/**
 * The naming table: for each asset kind and policy, the path icloudpd would write. Every expected
 * path below was worked out by hand from docs/protocol.md §10 (and §8.5 for the fallback name),
 * not by running our code. Assets are built as CloudKit records and go through parseAssetPair, so
 * the table also covers the record → version mapping.
 */
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Asset } from '../src/photos/asset.js'
import { AppError } from '../src/core/errors.js'
import { checkFolderStructure, folderFor } from '../src/photos/folder-format.js'
import {
  plannedFiles,
  resolveExisting,
  safeJoin,
  sanitizeBaseName,
  type NamingOptions,
} from '../src/photos/filenames.js'
import { parseAssetPair, type CkRecord } from '../src/photos/records.js'

const MOVIE = 'com.apple.quicktime-movie'
const HEIC = 'public.heic'
const JPEG = 'public.jpeg'
const HEIF = 'public.heif'
const SIGNED_URL =
  'https://cvws.icloud-content.com/B/RES/${f}?o=AkQ&v=1&x=3&a=CAog&e=1533044225&k=SIGNATURE&fl=&r=1&ckc=com.apple.photos.cloud&ckz=PrimarySync&y=1&p=10&s=s1'

type Res = [size: number, uti: string]

interface Spec {
  masterId?: string
  assetId?: string
  /** null: no filenameEnc field at all. */
  filename?: string | null
  filenameType?: 'STRING' | 'ENCRYPTED_BYTES'
  itemType?: string | null
  assetDate?: number
  master?: Record<string, Res>
  asset?: Record<string, Res>
}

function resources(defs: Record<string, Res> = {}): Record<string, { type: string; value: unknown }> {
  const out: Record<string, { type: string; value: unknown }> = {}
  for (const [prefix, [size, uti]] of Object.entries(defs)) {
    out[`${prefix}Res`] = {
      type: 'ASSETID',
      value: {
        fileChecksum: `AY${prefix}${size}`,
        size,
        wrappingKey: 'k+e8AAAA==',
        referenceChecksum: 'AeFB',
        downloadURL: SIGNED_URL.replace('RES', `${prefix}${size}`),
      },
    }
    out[`${prefix}FileType`] = { type: 'STRING', value: uti }
    out[`${prefix}Width`] = { type: 'INT64', value: 4032 }
  }
  return out
}

function records(spec: Spec): [CkRecord, CkRecord] {
  const masterId = spec.masterId ?? 'ARN5w7b2LvDDhsZ8DnbU3RuZeShX'
  const filename = spec.filename === undefined ? 'IMG_0001.HEIC' : spec.filename
  const itemType = spec.itemType === undefined ? HEIC : spec.itemType
  const masterFields: Record<string, { type: string; value: unknown }> = {
    ...resources(spec.master ?? { resOriginal: [2000, HEIC] }),
  }
  if (filename !== null) {
    masterFields.filenameEnc =
      spec.filenameType === 'STRING'
        ? { type: 'STRING', value: filename }
        : { type: 'ENCRYPTED_BYTES', value: Buffer.from(filename, 'utf8').toString('base64') }
  }
  if (itemType !== null) masterFields.itemType = { type: 'STRING', value: itemType }
  const master: CkRecord = {
    recordName: masterId,
    recordType: 'CPLMaster',
    recordChangeTag: 'm1',
    fields: masterFields,
  }
  const asset: CkRecord = {
    recordName: spec.assetId ?? '5D6A1F4E-0E4B-4C7A-9B1B-3C1E0F2A9D11',
    recordType: 'CPLAsset',
    recordChangeTag: 'a1',
    fields: {
      ...resources(spec.asset),
      assetDate: { type: 'TIMESTAMP', value: spec.assetDate ?? Date.UTC(2023, 6, 14, 10, 0, 0) },
      addedDate: { type: 'TIMESTAMP', value: Date.UTC(2023, 6, 15) },
      masterRef: {
        type: 'REFERENCE',
        value: { recordName: masterId, action: 'DELETE_SELF', zoneID: { zoneName: 'PrimarySync' } },
      },
    },
  }
  return [master, asset]
}

const make = (spec: Spec): Asset => parseAssetPair(...records(spec))

const DEFAULTS: NamingOptions = {
  sizes: ['original'],
  livePhotoSize: 'original',
  livePhotoMovFilenamePolicy: 'suffix',
  alignRaw: 'as-is',
  fileMatchPolicy: 'name-size-dedup-with-suffix',
  skipLivePhotos: false,
  folderStructure: 'none',
  timeZone: 'UTC',
}

const plan = (spec: Spec, opts: Partial<NamingOptions> = {}) =>
  plannedFiles(make(spec), { ...DEFAULTS, ...opts }).map((f) => [f.size, f.relPath])

const LIVE: Record<string, Res> = { resOriginal: [2000, HEIC], resOriginalVidCompl: [900, MOVIE] }
const RAW_ALT: Record<string, Res> = {
  resOriginal: [200, JPEG],
  resOriginalAlt: [900, 'com.canon.cr2-raw-image'],
}
const RAW_ORIG: Record<string, Res> = {
  resOriginal: [900, 'com.adobe.raw-image'],
  resOriginalAlt: [200, JPEG],
}
const ID = 'AY6c+BsE0jjaXx9tmVGJM1D2VcEO' // base64 → "QVk2Yyt…"

interface Row {
  name: string
  spec: Spec
  opts?: Partial<NamingOptions>
  expected: [string, string][]
}

const TABLE: Row[] = [
  { name: 'HEIC photo, original', spec: {}, expected: [['original', 'IMG_0001.HEIC']] },
  {
    name: 'JPEG with medium and thumb',
    spec: {
      filename: 'IMG_0002.JPG',
      itemType: JPEG,
      master: { resOriginal: [3000, JPEG], resJPEGMed: [300, JPEG], resJPEGThumb: [30, JPEG] },
    },
    opts: { sizes: ['original', 'medium', 'thumb'] },
    expected: [
      ['original', 'IMG_0002.JPG'],
      ['medium', 'IMG_0002-medium.JPG'],
      ['thumb', 'IMG_0002-thumb.JPG'],
    ],
  },
  {
    name: 'HEIC asset, medium JPEG → -medium.JPG',
    spec: { master: { resOriginal: [2000, HEIC], resJPEGMed: [300, JPEG] } },
    opts: { sizes: ['medium'] },
    expected: [['medium', 'IMG_0001-medium.JPG']],
  },
  {
    name: 'extension follows the type: .heic → .HEIC',
    spec: { filename: 'IMG_0003.heic' },
    expected: [['original', 'IMG_0003.HEIC']],
  },
  // public.heif: icloudpd's ITEM_TYPE_EXTENSIONS maps it to HEIF (pyicloud_ipd/asset_version.py,
  // since PR #1132, May 2025), like every listed type; older icloudpd kept the name's extension
  // (recognised on disk through legacyRelPath, see 'older icloudpd HEIF names' below).
  {
    name: 'public.heif from a camera: AH8A0233.HIF → .HEIF',
    spec: { filename: 'AH8A0233.HIF', itemType: HEIF, master: { resOriginal: [2500, HEIF] } },
    expected: [['original', 'AH8A0233.HEIF']],
  },
  {
    name: 'public.heif with a lowercase .heif name → .HEIF',
    spec: { filename: 'IMG_0010.heif', itemType: HEIF, master: { resOriginal: [2500, HEIF] } },
    expected: [['original', 'IMG_0010.HEIF']],
  },
  {
    name: 'public.heif is an image: its medium is the JPEG rendering',
    spec: {
      filename: 'AH8A0233.HIF',
      itemType: HEIF,
      master: { resOriginal: [2500, HEIF], resJPEGMed: [300, JPEG] },
    },
    opts: { sizes: ['original', 'medium'] },
    expected: [
      ['original', 'AH8A0233.HEIF'],
      ['medium', 'AH8A0233-medium.JPG'],
    ],
  },
  {
    name: 'public.heif without filenameEnc: fallback name with .HEIF',
    spec: { filename: null, itemType: HEIF, master: { resOriginal: [2500, HEIF] } },
    expected: [['original', 'ARN5w7b2LvDD.HEIF']],
  },
  {
    name: 'extension follows the type: .jpeg → .JPG',
    spec: { filename: 'photo.jpeg', itemType: JPEG, master: { resOriginal: [10, JPEG] } },
    expected: [['original', 'photo.JPG']],
  },
  {
    name: 'video with medium and thumb',
    spec: {
      filename: 'IMG_0004.mov',
      itemType: MOVIE,
      master: { resOriginal: [5000, MOVIE], resVidMed: [500, MOVIE], resVidSmall: [50, MOVIE] },
    },
    opts: { sizes: ['original', 'medium', 'thumb'] },
    expected: [
      ['original', 'IMG_0004.MOV'],
      ['medium', 'IMG_0004-medium.MOV'],
      ['thumb', 'IMG_0004-thumb.MOV'],
    ],
  },
  {
    name: 'video of an unlisted type keeps its extension',
    spec: {
      filename: 'clip.mp4',
      itemType: 'public.mpeg-4',
      master: { resOriginal: [5000, 'public.mpeg-4'] },
    },
    expected: [['original', 'clip.mp4']],
  },
  {
    name: 'a video never gets a live-photo movie',
    spec: {
      filename: 'IMG_0004.MOV',
      itemType: MOVIE,
      master: { resOriginal: [5000, MOVIE], resOriginalVidCompl: [900, MOVIE] },
    },
    expected: [['original', 'IMG_0004.MOV']],
  },
  {
    name: 'live photo HEIC, suffix policy → _HEVC.MOV',
    spec: { master: LIVE },
    expected: [
      ['original', 'IMG_0001.HEIC'],
      ['live-original', 'IMG_0001_HEVC.MOV'],
    ],
  },
  {
    name: 'live photo HEIC, original policy → .MOV',
    spec: { master: LIVE },
    opts: { livePhotoMovFilenamePolicy: 'original' },
    expected: [
      ['original', 'IMG_0001.HEIC'],
      ['live-original', 'IMG_0001.MOV'],
    ],
  },
  {
    name: 'live photo JPEG, suffix policy → .MOV',
    spec: {
      filename: 'IMG_0006.JPG',
      itemType: JPEG,
      master: { resOriginal: [10, JPEG], resOriginalVidCompl: [9, MOVIE] },
    },
    expected: [
      ['original', 'IMG_0006.JPG'],
      ['live-original', 'IMG_0006.MOV'],
    ],
  },
  {
    name: 'live photo with a lowercase .heic name still gets _HEVC',
    spec: { filename: 'IMG_0005.heic', master: LIVE },
    expected: [
      ['original', 'IMG_0005.HEIC'],
      ['live-original', 'IMG_0005_HEVC.MOV'],
    ],
  },
  {
    name: 'live-photo-size medium',
    spec: { master: { ...LIVE, resVidMed: [400, MOVIE], resVidSmall: [40, MOVIE] } },
    opts: { livePhotoSize: 'medium' },
    expected: [
      ['original', 'IMG_0001.HEIC'],
      ['live-medium', 'IMG_0001_HEVC-medium.MOV'],
    ],
  },
  {
    name: 'live-photo-size thumb, original policy',
    spec: { master: { ...LIVE, resVidMed: [400, MOVIE], resVidSmall: [40, MOVIE] } },
    opts: { livePhotoSize: 'thumb', livePhotoMovFilenamePolicy: 'original' },
    expected: [
      ['original', 'IMG_0001.HEIC'],
      ['live-thumb', 'IMG_0001-thumb.MOV'],
    ],
  },
  {
    name: 'live-photo-size medium missing → no movie (no fallback for live photos)',
    spec: { master: LIVE },
    opts: { livePhotoSize: 'medium' },
    expected: [['original', 'IMG_0001.HEIC']],
  },
  {
    name: 'skip-live-photos',
    spec: { master: LIVE },
    opts: { skipLivePhotos: true },
    expected: [['original', 'IMG_0001.HEIC']],
  },
  {
    name: 'photo size medium does not rename the movie',
    spec: { master: { ...LIVE, resJPEGMed: [300, JPEG] } },
    opts: { sizes: ['medium'] },
    expected: [
      ['medium', 'IMG_0001-medium.JPG'],
      ['live-original', 'IMG_0001_HEVC.MOV'],
    ],
  },
  {
    name: 'RAW alternative, align-raw as-is',
    spec: { filename: 'IMG_0007.JPG', itemType: JPEG, master: RAW_ALT },
    opts: { sizes: ['original', 'alternative'] },
    expected: [
      ['original', 'IMG_0007.JPG'],
      ['alternative', 'IMG_0007.CR2'],
    ],
  },
  {
    name: 'RAW alternative, align-raw original swaps',
    spec: { filename: 'IMG_0007.JPG', itemType: JPEG, master: RAW_ALT },
    opts: { sizes: ['original', 'alternative'], alignRaw: 'original' },
    expected: [
      ['original', 'IMG_0007.CR2'],
      ['alternative', 'IMG_0007.JPG'],
    ],
  },
  {
    name: 'RAW alternative, align-raw alternative leaves it',
    spec: { filename: 'IMG_0007.JPG', itemType: JPEG, master: RAW_ALT },
    opts: { sizes: ['original', 'alternative'], alignRaw: 'alternative' },
    expected: [
      ['original', 'IMG_0007.JPG'],
      ['alternative', 'IMG_0007.CR2'],
    ],
  },
  {
    name: 'RAW original, align-raw as-is',
    spec: { filename: 'IMG_0008.DNG', itemType: 'com.adobe.raw-image', master: RAW_ORIG },
    expected: [['original', 'IMG_0008.DNG']],
  },
  {
    name: 'RAW original, align-raw alternative swaps',
    spec: { filename: 'IMG_0008.DNG', itemType: 'com.adobe.raw-image', master: RAW_ORIG },
    opts: { alignRaw: 'alternative' },
    expected: [['original', 'IMG_0008.JPG']],
  },
  {
    name: 'RAW original, align-raw original leaves it',
    spec: { filename: 'IMG_0008.DNG', itemType: 'com.adobe.raw-image', master: RAW_ORIG },
    opts: { alignRaw: 'original', sizes: ['original', 'alternative'] },
    expected: [
      ['original', 'IMG_0008.DNG'],
      ['alternative', 'IMG_0008.JPG'],
    ],
  },
  {
    name: 'alternative colliding with original → -alternative',
    spec: {
      filename: 'IMG_0009.JPG',
      itemType: JPEG,
      master: { resOriginal: [10, JPEG], resOriginalAlt: [20, JPEG] },
    },
    opts: { sizes: ['original', 'alternative'] },
    expected: [
      ['original', 'IMG_0009.JPG'],
      ['alternative', 'IMG_0009-alternative.JPG'],
    ],
  },
  {
    name: 'adjusted JPEG of a HEIC: no collision, no suffix',
    spec: { asset: { resJPEGFull: [700, JPEG] } },
    opts: { sizes: ['original', 'adjusted'] },
    expected: [
      ['original', 'IMG_0001.HEIC'],
      ['adjusted', 'IMG_0001.JPG'],
    ],
  },
  {
    name: 'adjusted HEIC colliding with original → -adjusted',
    spec: { asset: { resJPEGFull: [700, HEIC] } },
    opts: { sizes: ['original', 'adjusted'] },
    expected: [
      ['original', 'IMG_0001.HEIC'],
      ['adjusted', 'IMG_0001-adjusted.HEIC'],
    ],
  },
  {
    name: 'adjusted alone: no suffix even when the type matches the original',
    spec: { asset: { resJPEGFull: [700, HEIC] } },
    opts: { sizes: ['adjusted'] },
    expected: [['adjusted', 'IMG_0001.HEIC']],
  },
  {
    name: 'adjusted missing, original not requested → original under adjusted',
    spec: {},
    opts: { sizes: ['adjusted'] },
    expected: [['adjusted', 'IMG_0001.HEIC']],
  },
  {
    name: 'adjusted missing, original not requested, force-size → still the original',
    spec: {},
    opts: { sizes: ['adjusted'], forceSize: true },
    expected: [['adjusted', 'IMG_0001.HEIC']],
  },
  {
    name: 'adjusted missing, original requested → original once',
    spec: {},
    opts: { sizes: ['original', 'adjusted'] },
    expected: [['original', 'IMG_0001.HEIC']],
  },
  {
    name: 'alternative missing, original not requested → original under alternative',
    spec: {},
    opts: { sizes: ['alternative'] },
    expected: [['alternative', 'IMG_0001.HEIC']],
  },
  {
    name: 'alternative missing, original requested → original once',
    spec: {},
    opts: { sizes: ['original', 'alternative'] },
    expected: [['original', 'IMG_0001.HEIC']],
  },
  {
    name: 'adjusted and alternative both JPEG → -alternative',
    spec: {
      master: { resOriginal: [2000, HEIC], resOriginalAlt: [600, JPEG] },
      asset: { resJPEGFull: [700, JPEG] },
    },
    opts: { sizes: ['adjusted', 'alternative'] },
    expected: [
      ['adjusted', 'IMG_0001.JPG'],
      ['alternative', 'IMG_0001-alternative.JPG'],
    ],
  },
  {
    name: 'medium missing → original',
    spec: {},
    opts: { sizes: ['medium'] },
    expected: [['original', 'IMG_0001.HEIC']],
  },
  {
    name: 'medium and thumb missing → original once',
    spec: {},
    opts: { sizes: ['medium', 'thumb'] },
    expected: [['original', 'IMG_0001.HEIC']],
  },
  {
    name: 'medium missing with force-size → nothing',
    spec: {},
    opts: { sizes: ['medium'], forceSize: true },
    expected: [],
  },
  {
    name: 'medium missing, original requested → original once',
    spec: {},
    opts: { sizes: ['original', 'medium'] },
    expected: [['original', 'IMG_0001.HEIC']],
  },
  {
    name: 'name-id7 on every file of the asset',
    spec: { masterId: ID, master: { ...LIVE, resJPEGMed: [300, JPEG] } },
    opts: { sizes: ['original', 'medium'], fileMatchPolicy: 'name-id7' },
    expected: [
      ['original', 'IMG_0001_QVk2Yyt.HEIC'],
      ['medium', 'IMG_0001_QVk2Yyt-medium.JPG'],
      ['live-original', 'IMG_0001_QVk2Yyt_HEVC.MOV'],
    ],
  },
  {
    name: 'missing filenameEnc → first 12 chars of the master id',
    spec: { masterId: ID, filename: null },
    expected: [['original', 'AY6c_BsE0jja.HEIC']],
  },
  {
    name: 'missing filenameEnc under name-id7 → no id suffix (icloudpd)',
    spec: { masterId: ID, filename: null },
    opts: { fileMatchPolicy: 'name-id7' },
    expected: [['original', 'AY6c_BsE0jja.HEIC']],
  },
  {
    name: 'filenameEnc as STRING',
    spec: { filename: 'IMG_7409.HEIC', filenameType: 'STRING' },
    expected: [['original', 'IMG_7409.HEIC']],
  },
  {
    name: 'filenameEnc as ENCRYPTED_BYTES',
    spec: { filename: 'IMG_7409.HEIC', filenameType: 'ENCRYPTED_BYTES' },
    expected: [['original', 'IMG_7409.HEIC']],
  },
  {
    name: 'unicode dropped by default',
    spec: { filename: 'Été à Paris.HEIC' },
    expected: [['original', 't  Paris.HEIC']],
  },
  {
    name: 'unicode kept with keep-unicode-in-filenames',
    spec: { filename: 'Été à Paris.HEIC', master: LIVE },
    opts: { keepUnicode: true },
    expected: [
      ['original', 'Été à Paris.HEIC'],
      ['live-original', 'Été à Paris_HEVC.MOV'],
    ],
  },
  {
    name: 'all-unicode stem: icloudpd leaves ".JPG", whose extension splitext does not see',
    spec: { filename: '照片.JPG', itemType: JPEG, master: { resOriginal: [10, JPEG] } },
    expected: [['original', '.JPG.JPG']],
  },
  {
    name: 'reserved characters become _',
    spec: { filename: 'a<b>c:d"e|f?g*h.HEIC' },
    expected: [['original', 'a_b_c_d_e_f_g_h.HEIC']],
  },
]

describe('naming table (icloudpd paths)', () => {
  it.each(TABLE)('$name', ({ spec, opts, expected }) => {
    expect(plan(spec, opts)).toEqual(expected)
  })

  it('align-raw moves the whole version, not just the name', () => {
    const files = plannedFiles(make({ filename: 'IMG_0007.JPG', itemType: JPEG, master: RAW_ALT }), {
      ...DEFAULTS,
      sizes: ['original', 'alternative'],
      alignRaw: 'original',
    })
    expect(files.map((f) => [f.size, f.version.size, f.version.type])).toEqual([
      ['original', 900, 'com.canon.cr2-raw-image'],
      ['alternative', 200, JPEG],
    ])
  })

  it('a fallback (adjusted → original) downloads the original resource', () => {
    const [file] = plannedFiles(make({}), { ...DEFAULTS, sizes: ['adjusted'] })
    expect(file.version.size).toBe(2000)
    expect(file.version.type).toBe(HEIC)
  })

  it('the edited rendering on the asset record is what adjusted downloads', () => {
    const files = plannedFiles(make({ asset: { resJPEGFull: [700, JPEG] } }), {
      ...DEFAULTS,
      sizes: ['adjusted'],
    })
    expect(files.map((f) => f.version.size)).toEqual([700])
    expect(files[0].assetId).toBe('5D6A1F4E-0E4B-4C7A-9B1B-3C1E0F2A9D11')
  })
})

describe('folder structure', () => {
  const at = (iso: string) => make({ assetDate: Date.parse(iso) })

  it('{:%Y/%m/%d} (the default) in UTC', () => {
    expect(plan({}, { folderStructure: '{:%Y/%m/%d}' })).toEqual([['original', '2023/07/14/IMG_0001.HEIC']])
  })

  it('{:%Y-%m}', () => {
    expect(plan({}, { folderStructure: '{:%Y-%m}' })).toEqual([['original', '2023-07/IMG_0001.HEIC']])
  })

  it('none (any case) is flat', () => {
    expect(folderFor(at('2023-07-14T10:00:00Z'), 'none', 'UTC')).toBe('')
    expect(folderFor(at('2023-07-14T10:00:00Z'), 'None', 'UTC')).toBe('')
  })

  it('uses the local time zone: a date boundary moves with it', () => {
    const a = at('2023-12-31T23:30:00Z')
    expect(folderFor(a, '{:%Y/%m/%d}', 'UTC')).toBe('2023/12/31')
    expect(folderFor(a, '{:%Y/%m/%d}', 'Europe/Berlin')).toBe('2024/01/01')
    expect(folderFor(at('2024-01-01T05:00:00Z'), '{:%Y/%m/%d}', 'America/Los_Angeles')).toBe('2023/12/31')
  })

  it('follows daylight saving time', () => {
    const a = at('2024-07-01T22:30:00Z')
    expect(folderFor(a, '{:%Y/%m/%d %H %z}', 'Europe/Berlin')).toBe('2024/07/02 00 +0200')
    expect(folderFor(at('2024-01-15T22:30:00Z'), '{:%d %H %z}', 'Europe/Berlin')).toBe('15 23 +0100')
  })

  it('supports the common strftime directives and literal text', () => {
    // 2024-03-05 is a Tuesday and the 65th day of a leap year.
    const a = at('2024-03-05T07:08:09Z')
    expect(folderFor(a, '{:%y %b %B %j %A %a %H%M%S}', 'UTC')).toBe('24 Mar March 065 Tuesday Tue 070809')
    expect(folderFor(a, 'Photos/{:%Y}/{:%m} x{{y}}', 'UTC')).toBe('Photos/2024/03 x{y}')
    expect(folderFor(a, '{0:%Y}/{:%-m}/{:%-d}', 'UTC')).toBe('2024/3/5')
  })

  it('defaults to the process time zone (TZ)', () => {
    const saved = process.env.TZ
    try {
      process.env.TZ = 'Asia/Tokyo'
      expect(folderFor(at('2023-12-31T16:30:00Z'), '{:%Y/%m/%d %H}')).toBe('2024/01/01 01')
      process.env.TZ = 'UTC'
      expect(folderFor(at('2023-12-31T16:30:00Z'), '{:%Y/%m/%d %H}')).toBe('2023/12/31 16')
    } finally {
      if (saved === undefined) delete process.env.TZ
      else process.env.TZ = saved
    }
  })

  it('the process zone gives the same folders as that zone named explicitly, across DST changes', () => {
    const saved = process.env.TZ
    const structure = '{:%Y/%m/%d %H:%M:%S %z %j %a}'
    try {
      for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata']) {
        process.env.TZ = zone
        // Every 7 h 13 min over two years: both DST switches of each year, at odd minutes.
        for (let t = Date.UTC(2023, 0, 1); t < Date.UTC(2025, 0, 1); t += (7 * 60 + 13) * 60_000) {
          expect(folderFor(at(new Date(t).toISOString()), structure)).toBe(
            folderFor(at(new Date(t).toISOString()), structure, zone),
          )
        }
      }
    } finally {
      if (saved === undefined) delete process.env.TZ
      else process.env.TZ = saved
    }
  })

  it('an unknown time zone is a configuration error', () => {
    expect(() => folderFor(at('2023-12-31T16:30:00Z'), '{:%Y}', 'Mars/Olympus')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    )
  })

  it('rejects formats icloudpd would reject or that leave the directory', () => {
    for (const bad of ['{:%Y', '{:%Q}', '{year}', '../{:%Y}', '/abs/{:%Y}', 'a}b']) {
      expect(() => checkFolderStructure(bad), bad).toThrow(AppError)
      try {
        checkFolderStructure(bad)
      } catch (e) {
        expect((e as AppError).code).toBe('CONFIG_INVALID')
      }
    }
    expect(() => checkFolderStructure('{:%Y/%m/%d}')).not.toThrow()
  })
})

describe('already downloaded? (resolveExisting)', () => {
  const disk = (files: Record<string, number>) => (p: string) => files[p]
  const DEDUP = 'name-size-dedup-with-suffix' as const

  it('missing target → not there', () => {
    expect(resolveExisting('2023/IMG_1.HEIC', 100, DEDUP, disk({}))).toEqual({
      relPath: '2023/IMG_1.HEIC',
      exists: false,
    })
  })

  it('same name and size → there', () => {
    expect(resolveExisting('2023/IMG_1.HEIC', 100, DEDUP, disk({ '2023/IMG_1.HEIC': 100 }))).toEqual({
      relPath: '2023/IMG_1.HEIC',
      exists: true,
    })
  })

  it('name-size-dedup-with-suffix: another size → NAME-<size>.EXT, checked again', () => {
    expect(resolveExisting('2023/IMG_1.HEIC', 2000, DEDUP, disk({ '2023/IMG_1.HEIC': 100 }))).toEqual({
      relPath: '2023/IMG_1-2000.HEIC',
      exists: false,
    })
    expect(
      resolveExisting(
        '2023/IMG_1.HEIC',
        2000,
        DEDUP,
        disk({ '2023/IMG_1.HEIC': 100, '2023/IMG_1-2000.HEIC': 5 }),
      ),
    ).toEqual({ relPath: '2023/IMG_1-2000.HEIC', exists: true })
  })

  it('the size suffix goes before the last dot', () => {
    expect(resolveExisting('IMG.1.JPG', 42, DEDUP, disk({ 'IMG.1.JPG': 1 })).relPath).toBe('IMG.1-42.JPG')
  })

  it('name-id7 never compares sizes', () => {
    expect(
      resolveExisting('IMG_1_QVk2Yyt.HEIC', 2000, 'name-id7', disk({ 'IMG_1_QVk2Yyt.HEIC': 1 })),
    ).toEqual({
      relPath: 'IMG_1_QVk2Yyt.HEIC',
      exists: true,
    })
  })

  it('legacy NAME-original.EXT counts for the original', () => {
    expect(
      resolveExisting('2023/IMG_1.HEIC', 100, DEDUP, disk({ '2023/IMG_1-original.HEIC': 100 }), 'original'),
    ).toEqual({
      relPath: '2023/IMG_1-original.HEIC',
      exists: true,
    })
  })

  it('legacy NAME-original.EXT of another size → NAME-<size>.EXT', () => {
    expect(resolveExisting('IMG_1.HEIC', 100, DEDUP, disk({ 'IMG_1-original.HEIC': 7 }), 'original')).toEqual(
      {
        relPath: 'IMG_1-100.HEIC',
        exists: false,
      },
    )
  })

  it('older icloudpd HEIF names: the name with its own extension counts, at the same size only', () => {
    const spec = { filename: 'AH8A0233.HIF', itemType: HEIF, master: { resOriginal: [2500, HEIF] as Res } }
    const [f] = plannedFiles(make(spec), { ...DEFAULTS, folderStructure: '{:%Y}' })
    expect(f).toMatchObject({ relPath: '2023/AH8A0233.HEIF', legacyRelPath: '2023/AH8A0233.HIF' })
    const check = (files: Record<string, number>) =>
      resolveExisting(f!.relPath, 2500, DEDUP, disk(files), f!.size, f!.legacyRelPath)
    expect(check({ '2023/AH8A0233.HIF': 2500 })).toEqual({ relPath: '2023/AH8A0233.HIF', exists: true })
    // Another size: a different photo under that name; the current name is planned.
    expect(check({ '2023/AH8A0233.HIF': 99 })).toEqual({ relPath: '2023/AH8A0233.HEIF', exists: false })
    // The current name wins when both are there.
    expect(check({ '2023/AH8A0233.HIF': 2500, '2023/AH8A0233.HEIF': 2500 })).toEqual({
      relPath: '2023/AH8A0233.HEIF',
      exists: true,
    })
    // Only public.heif had its extension changed; .HEIF names and other types have no legacy name.
    const heif = plannedFiles(make({ ...spec, filename: 'IMG_1.HEIF' }), DEFAULTS)[0]!
    expect(heif.legacyRelPath).toBeUndefined()
    expect(plannedFiles(make({ filename: 'IMG_1.heic' }), DEFAULTS)[0]!.legacyRelPath).toBeUndefined()
  })

  it('legacy names do not count for other sizes', () => {
    const d = disk({ 'IMG_1-medium-original.JPG': 10, 'IMG_1_HEVC-original.MOV': 10 })
    expect(resolveExisting('IMG_1-medium.JPG', 10, DEDUP, d, 'medium').exists).toBe(false)
    expect(resolveExisting('IMG_1_HEVC.MOV', 10, DEDUP, d, 'live-original').exists).toBe(false)
  })
})

describe('hostile names stay inside the directory', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'naming-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  const HOSTILE = [
    '../../etc/passwd',
    '/abs/path.JPG',
    'C:\\x.JPG',
    'a\0b.JPG',
    'ctl\u0001\u001f\u007f\u0085.JPG',
    '..',
    '.',
    '',
    '..\\..\\win.JPG',
    'x'.repeat(300) + '.JPG',
    'é'.repeat(300) + '.HEIC',
    '😀'.repeat(100) + '.HEIC',
  ]

  it('sanitizeBaseName', () => {
    expect(sanitizeBaseName('../../etc/passwd')).toBe('.._.._etc_passwd')
    expect(sanitizeBaseName('/abs/path')).toBe('_abs_path')
    expect(sanitizeBaseName('C:\\x')).toBe('C__x')
    expect(sanitizeBaseName('a\0b')).toBe('a_b')
    expect(sanitizeBaseName('a\u0001b\u001fc\u007fd')).toBe('a_b_c_d')
    expect(sanitizeBaseName('\u0085x', true)).toBe('_x')
    expect(sanitizeBaseName('..')).toBe('__')
    expect(sanitizeBaseName('.')).toBe('_')
    expect(sanitizeBaseName('')).toBe('_')
    expect(sanitizeBaseName('日本')).toBe('_')
    expect(sanitizeBaseName('日本.JPG', true)).toBe('日本.JPG')
  })

  it('a photo cannot take the name of a download in progress or of the state file', () => {
    expect(sanitizeBaseName('IMG_1.JPG.part')).toBe('IMG_1.JPG.part_')
    expect(sanitizeBaseName('x.PART')).toBe('x.PART_')
    expect(sanitizeBaseName('.icloud-photos-state.json')).toBe('_.icloud-photos-state.json')
    expect(sanitizeBaseName('IMG_1.JPG')).toBe('IMG_1.JPG')
  })

  it('long names are cut to 255 bytes, keep the extension and stay distinct', () => {
    const a = sanitizeBaseName('x'.repeat(300) + 'a.JPG')
    const b = sanitizeBaseName('x'.repeat(300) + 'b.JPG')
    for (const n of [a, b]) {
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(255)
      expect(n.endsWith('.JPG')).toBe(true)
      expect(n.startsWith('x'.repeat(200))).toBe(true)
    }
    expect(a).not.toBe(b)
    const u = sanitizeBaseName('é'.repeat(300) + '.HEIC', true)
    expect(Buffer.byteLength(u)).toBeLessThanOrEqual(255)
    expect(Buffer.from(u, 'utf8').toString('utf8')).toBe(u) // no split character
    expect(u.endsWith('.HEIC')).toBe(true)
  })

  it('every planned file of a hostile asset is written under the root', () => {
    const written: string[] = []
    for (const keepUnicode of [false, true]) {
      for (const [i, filename] of HOSTILE.entries()) {
        const asset = make({
          filename,
          assetId: `asset-${i}`,
          master: { ...LIVE, resJPEGMed: [300, JPEG] },
          asset: { resJPEGFull: [700, HEIC] },
        })
        const files = plannedFiles(asset, {
          ...DEFAULTS,
          keepUnicode,
          sizes: ['original', 'medium', 'adjusted'],
          folderStructure: '{:%Y/%m/%d}',
        })
        expect(files.length).toBe(4)
        for (const f of files) {
          const base = f.relPath.split('/').pop()!
          expect(f.relPath.startsWith('2023/07/14/')).toBe(true)
          expect(f.relPath.split('/')).toHaveLength(4)
          expect(Buffer.byteLength(base)).toBeLessThanOrEqual(255)
          // eslint-disable-next-line no-control-regex
          expect(base).not.toMatch(/[\u0000-\u001f\u007f\\]/)
          expect(['', '.', '..']).not.toContain(base)
          const full = safeJoin(root, f.relPath)
          mkdirSync(path.dirname(full), { recursive: true })
          writeFileSync(full, `${keepUnicode}:${i}:${f.size}`)
          written.push(full)
        }
      }
    }
    // Everything that exists is in root/2023/07/14, nothing was written elsewhere.
    expect(readdirSync(root)).toEqual(['2023'])
    const landed = readdirSync(path.join(root, '2023/07/14'))
    expect(landed.length).toBeGreaterThan(0)
    for (const full of written) expect(path.dirname(full)).toBe(path.join(root, '2023/07/14'))
  })

  it('safeJoin refuses anything that leaves the root', () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', 'C:/x', 'a\0b', '..']) {
      expect(() => safeJoin(root, bad), bad).toThrow(AppError)
    }
    expect(safeJoin(root, 'a/../b.JPG')).toBe(path.join(root, 'b.JPG'))
    expect(safeJoin(root, '2023/07/14/x.JPG')).toBe(path.join(root, '2023', '07', '14', 'x.JPG'))
    expect(safeJoin(root, '..foo')).toBe(path.join(root, '..foo'))
  })
})
