/**
 * CloudKit record → Asset: pairing, field decoding, version lookup precedence, and malformed
 * records failing for their own asset only (docs/protocol.md §8.3, §8.5). Records are written
 * out in the protocol's JSON shape.
 */
import { describe, expect, it } from 'vitest'
import { AppError } from '../src/core/errors.js'
import {
  AssetParseError,
  DESIRED_KEYS,
  isDeleted,
  isFavorite,
  isHidden,
  pairRecords,
  parseAssetPair,
  type CkRecord,
} from '../src/photos/records.js'

const SECRET = 'k=SIGNATUREVALUE'
const url = (id: string) =>
  `https://cvws.icloud-content.com/B/${id}/\${f}?o=AkQ&v=1&x=3&a=CAog&e=1533044225&${SECRET}&fl=&r=1&ckc=com.apple.photos.cloud&ckz=PrimarySync&y=1&p=10&s=s1`

type Fields = NonNullable<CkRecord['fields']>

function res(id: string, size: number, uti: string, prefix: string): Fields {
  return {
    [`${prefix}Res`]: {
      type: 'ASSETID',
      value: {
        fileChecksum: `AY${id}`,
        size,
        wrappingKey: 'k+e8AAAA==',
        referenceChecksum: 'AeFB',
        downloadURL: url(id),
      },
    },
    [`${prefix}FileType`]: { type: 'STRING', value: uti },
  }
}

function master(recordName: string, fields: Fields): CkRecord {
  return { recordName, recordType: 'CPLMaster', recordChangeTag: 'mt', fields }
}

function asset(recordName: string, masterName: string, fields: Fields = {}): CkRecord {
  return {
    recordName,
    recordType: 'CPLAsset',
    recordChangeTag: 'at',
    fields: {
      assetDate: { type: 'TIMESTAMP', value: 1_689_328_800_000 },
      addedDate: { type: 'TIMESTAMP', value: 1_689_415_200_000 },
      masterRef: {
        type: 'REFERENCE',
        value: { recordName: masterName, action: 'DELETE_SELF', zoneID: { zoneName: 'PrimarySync' } },
      },
      ...fields,
    },
  }
}

const heicMaster = (name = 'M1', extra: Fields = {}) =>
  master(name, {
    filenameEnc: { type: 'ENCRYPTED_BYTES', value: 'SU1HXzc0MDkuSlBH' }, // IMG_7409.JPG (§8.5)
    itemType: { type: 'STRING', value: 'public.jpeg' },
    ...res(`${name}o`, 1_807_733, 'public.jpeg', 'resOriginal'),
    ...extra,
  })

describe('parseAssetPair', () => {
  it('maps a pair onto the asset model', () => {
    const a = parseAssetPair(
      heicMaster('M1', {
        ...res('med', 300, 'public.jpeg', 'resJPEGMed'),
        ...res('thumb', 30, 'public.jpeg', 'resJPEGThumb'),
        ...res('alt', 900, 'com.sony.arw-raw-image', 'resOriginalAlt'),
        ...res('live', 2000, 'com.apple.quicktime-movie', 'resOriginalVidCompl'),
        ...res('lmed', 200, 'com.apple.quicktime-movie', 'resVidMed'),
        ...res('lsmall', 20, 'com.apple.quicktime-movie', 'resVidSmall'),
      }),
      asset('A-UUID-1', 'M1', {
        ...res('full', 700, 'public.jpeg', 'resJPEGFull'),
        isFavorite: { type: 'INT64', value: 1 },
        isHidden: { type: 'INT64', value: 0 },
        timeZoneOffset: { type: 'INT64', value: 7200 },
      }),
    )
    expect(a).toMatchObject({
      id: 'A-UUID-1',
      masterId: 'M1',
      filename: 'IMG_7409.JPG',
      kind: 'image',
      createdAt: 1_689_328_800_000,
      addedAt: 1_689_415_200_000,
      timeZoneOffset: 7200,
      isFavorite: true,
      isHidden: false,
      isDeleted: false,
    })
    expect(a.versions.original).toEqual({
      url: url('M1o'),
      size: 1_807_733,
      checksum: 'AYM1o',
      type: 'public.jpeg',
    })
    expect(Object.fromEntries(Object.entries(a.versions).map(([k, v]) => [k, v!.size]))).toEqual({
      original: 1_807_733,
      alternative: 900,
      adjusted: 700,
      medium: 300,
      thumb: 30,
    })
    expect(Object.fromEntries(Object.entries(a.liveVersions).map(([k, v]) => [k, v!.size]))).toEqual({
      original: 2000,
      medium: 200,
      thumb: 20,
    })
  })

  it('a movie takes medium/thumb from resVidMed/resVidSmall and has no live versions', () => {
    const a = parseAssetPair(
      master('MV', {
        filenameEnc: { type: 'STRING', value: 'IMG_0004.MOV' },
        itemType: { type: 'STRING', value: 'com.apple.quicktime-movie' },
        ...res('o', 5000, 'com.apple.quicktime-movie', 'resOriginal'),
        ...res('m', 500, 'com.apple.quicktime-movie', 'resVidMed'),
        ...res('s', 50, 'com.apple.quicktime-movie', 'resVidSmall'),
        ...res('jm', 10, 'public.jpeg', 'resJPEGMed'),
      }),
      asset('A-MV', 'MV'),
    )
    expect(a.kind).toBe('movie')
    expect(a.versions.medium?.size).toBe(500)
    expect(a.versions.thumb?.size).toBe(50)
    expect(a.liveVersions).toEqual({})
  })

  it('filenameEnc as STRING and as ENCRYPTED_BYTES decode to the same name', () => {
    const s = parseAssetPair(
      heicMaster('M1', { filenameEnc: { type: 'STRING', value: 'IMG_7409.JPG' } }),
      asset('A', 'M1'),
    )
    const b = parseAssetPair(heicMaster('M1'), asset('A', 'M1'))
    expect(s.filename).toBe('IMG_7409.JPG')
    expect(b.filename).toBe('IMG_7409.JPG')
    const u = parseAssetPair(
      heicMaster('M1', {
        filenameEnc: { type: 'ENCRYPTED_BYTES', value: Buffer.from('Été.JPG').toString('base64') },
      }),
      asset('A', 'M1'),
    )
    expect(u.filename).toBe('Été.JPG')
  })

  it('missing filenameEnc → first 12 chars of the master id, [^0-9a-zA-Z] → _, itemType extension', () => {
    const m = heicMaster('AY6c+BsE0jjaXx9tmVGJM1D2VcEO')
    delete m.fields!.filenameEnc
    expect(parseAssetPair(m, asset('A', 'AY6c+BsE0jjaXx9tmVGJM1D2VcEO')).filename).toBe('AY6c_BsE0jja.JPG')
    delete m.fields!.itemType
    const a = parseAssetPair(m, asset('A', 'AY6c+BsE0jjaXx9tmVGJM1D2VcEO'))
    expect(a.filename).toBe('AY6c_BsE0jja.unknown')
    expect(a.kind).toBe('movie') // no itemType and not an image name
  })

  it('kind without a known itemType comes from the file name', () => {
    const kind = (itemType: string | undefined, filename: string) => {
      const m = heicMaster('M1', { filenameEnc: { type: 'STRING', value: filename } })
      if (itemType === undefined) delete m.fields!.itemType
      else m.fields!.itemType = { type: 'STRING', value: itemType }
      return parseAssetPair(m, asset('A', 'M1')).kind
    }
    expect(kind('public.mpeg-4', 'clip.mp4')).toBe('movie')
    expect(kind('public.unknown-thing', 'x.jpeg')).toBe('image')
    expect(kind(undefined, 'x.PNG')).toBe('image')
    expect(kind(undefined, 'x.heic')).toBe('image')
    expect(kind('com.fuji.raw-image', 'x.RAF')).toBe('image')
    expect(kind('org.webmproject.webp', 'x.webp')).toBe('image')
  })

  it('looks versions up on the asset record first, then the master', () => {
    const a = parseAssetPair(
      heicMaster('M1', { ...res('mfull', 111, 'public.jpeg', 'resJPEGFull') }),
      asset('A', 'M1', {
        ...res('afull', 222, 'public.heic', 'resJPEGFull'),
        ...res('aorig', 333, 'public.jpeg', 'resOriginal'),
      }),
    )
    expect(a.versions.adjusted).toMatchObject({ size: 222, type: 'public.heic', url: url('afull') })
    expect(a.versions.original).toMatchObject({ size: 333, url: url('aorig') })
    const b = parseAssetPair(
      heicMaster('M1', { ...res('mfull', 111, 'public.jpeg', 'resJPEGFull') }),
      asset('A', 'M1'),
    )
    expect(b.versions.adjusted).toMatchObject({ size: 111, url: url('mfull') })
  })

  it('reads the flags; missing dates fall back like icloudpd (epoch)', () => {
    const flags = {
      isFavorite: { type: 'INT64', value: 0 },
      isHidden: { type: 'INT64', value: 1 },
      isDeleted: { type: 'INT64', value: 1 },
    }
    const rec = asset('A', 'M1', flags)
    expect([isFavorite(rec), isHidden(rec), isDeleted(rec)]).toEqual([false, true, true])
    const noDates = asset('A', 'M1')
    delete noDates.fields!.assetDate
    delete noDates.fields!.addedDate
    const a = parseAssetPair(heicMaster('M1'), noDates)
    expect(a.createdAt).toBe(0)
    expect(a.addedAt).toBe(0)
    expect(a.timeZoneOffset).toBeUndefined()
  })
})

describe('malformed records → AssetParseError for that asset only', () => {
  const cases: [string, () => [CkRecord, CkRecord], string | undefined][] = [
    [
      'filenameEnc of another type',
      () => [heicMaster('M1', { filenameEnc: { type: 'INT64', value: 5 } }), asset('A', 'M1')],
      'filenameEnc',
    ],
    [
      'filenameEnc value not a string',
      () => [heicMaster('M1', { filenameEnc: { type: 'STRING', value: 42 } }), asset('A', 'M1')],
      'filenameEnc',
    ],
    [
      'filenameEnc not base64',
      () => [
        heicMaster('M1', { filenameEnc: { type: 'ENCRYPTED_BYTES', value: '!!not base64!!' } }),
        asset('A', 'M1'),
      ],
      'filenameEnc',
    ],
    [
      'filenameEnc not UTF-8',
      () => [
        heicMaster('M1', {
          filenameEnc: { type: 'ENCRYPTED_BYTES', value: Buffer.from([0xff, 0xfe, 0x41]).toString('base64') },
        }),
        asset('A', 'M1'),
      ],
      'filenameEnc',
    ],
    [
      '…Res without …FileType',
      () => {
        const m = heicMaster('M1', res('med', 1, 'public.jpeg', 'resJPEGMed'))
        delete m.fields!.resJPEGMedFileType
        return [m, asset('A', 'M1')]
      },
      'resJPEGMedFileType',
    ],
    [
      '…FileType without …Res',
      () => {
        const m = heicMaster('M1', res('med', 1, 'public.jpeg', 'resJPEGMed'))
        delete m.fields!.resJPEGMedRes
        return [m, asset('A', 'M1')]
      },
      'resJPEGMedRes',
    ],
    [
      '…Res on the asset, its …FileType only on the master',
      () => {
        const full = res('full', 1, 'public.jpeg', 'resJPEGFull')
        return [
          heicMaster('M1', { resJPEGFullFileType: full.resJPEGFullFileType }),
          asset('A', 'M1', { resJPEGFullRes: full.resJPEGFullRes }),
        ]
      },
      'resJPEGFullFileType',
    ],
    [
      '…Res without a downloadURL',
      () => {
        const m = heicMaster('M1')
        ;(m.fields!.resOriginalRes!.value as Record<string, unknown>).downloadURL = undefined
        return [m, asset('A', 'M1')]
      },
      'resOriginalRes',
    ],
    [
      '…Res with a non-numeric size',
      () => {
        const m = heicMaster('M1')
        ;(m.fields!.resOriginalRes!.value as Record<string, unknown>).size = '12'
        return [m, asset('A', 'M1')]
      },
      'resOriginalRes',
    ],
    [
      '…Res with a null value',
      () => [heicMaster('M1', { resOriginalRes: { type: 'ASSETID', value: null } }), asset('A', 'M1')],
      'resOriginalRes',
    ],
    ['masterRef names another master', () => [heicMaster('M1'), asset('A', 'M2')], 'masterRef'],
    [
      'records of the wrong types',
      () => [{ ...heicMaster('M1'), recordType: 'CPLAsset' }, asset('A', 'M1')],
      undefined,
    ],
  ]

  it.each(cases)('%s', (_name, build, field) => {
    const [m, a] = build()
    let err: unknown
    try {
      parseAssetPair(m, a)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AssetParseError)
    expect(err).toBeInstanceOf(AppError)
    const e = err as AssetParseError
    expect(e.code).toBe('PROTOCOL_ERROR')
    expect(e.assetId).toBe('A')
    expect(e.masterId).toBe('M1')
    expect(e.field).toBe(field)
    expect(e.message).toContain('A')
    expect(e.describe()).not.toContain(SECRET)
    expect(e.describe()).not.toContain('cvws.icloud-content.com')
  })

  it('names the missing half in the message', () => {
    const m = heicMaster('M1', res('med', 1, 'public.jpeg', 'resJPEGMed'))
    delete m.fields!.resJPEGMedFileType
    expect(() => parseAssetPair(m, asset('A', 'M1'))).toThrow('resJPEGMedRes without resJPEGMedFileType')
  })

  it('a bad pair in a page leaves the other assets intact', () => {
    const page: CkRecord[] = [
      heicMaster('M1'),
      heicMaster('M2', { filenameEnc: { type: 'INT64', value: 1 } }),
      heicMaster('M3'),
      asset('A1', 'M1'),
      asset('A2', 'M2'),
      asset('A3', 'M3'),
    ]
    const { pairs } = pairRecords(page)
    const ok: string[] = []
    const failed: string[] = []
    for (const [m, a] of pairs) {
      try {
        ok.push(parseAssetPair(m, a).id)
      } catch (e) {
        if (!(e instanceof AssetParseError)) throw e
        failed.push(e.assetId!)
      }
    }
    expect(ok).toEqual(['A1', 'A3'])
    expect(failed).toEqual(['A2'])
  })
})

describe('pairRecords', () => {
  it('pairs by masterRef; reports halves that have no partner; ignores other records', () => {
    const records: CkRecord[] = [
      heicMaster('M1'),
      heicMaster('M2'),
      heicMaster('M-lonely'),
      { recordName: 'M-gone', recordType: null, deleted: true },
      asset('A2', 'M2'),
      asset('A1', 'M1'),
      asset('A-orphan', 'M-elsewhere'),
      { recordName: 'A-noref', recordType: 'CPLAsset', fields: {} },
      { recordName: 'rel-1', recordType: 'CPLContainerRelation', fields: {} },
    ]
    const { pairs, unpairedMasters, unpairedAssets } = pairRecords(records)
    expect(pairs.map(([m, a]) => [m.recordName, a.recordName])).toEqual([
      ['M2', 'A2'],
      ['M1', 'A1'],
    ])
    expect(unpairedMasters.map((r) => r.recordName)).toEqual(['M-lonely'])
    expect(unpairedAssets.map((r) => r.recordName)).toEqual(['A-orphan', 'A-noref'])
  })

  it('pairs halves that arrive on different pages once buffered together', () => {
    const page1 = pairRecords([heicMaster('M1'), asset('A2', 'M2')])
    expect(page1.pairs).toEqual([])
    const page2 = pairRecords([
      ...page1.unpairedMasters,
      ...page1.unpairedAssets,
      heicMaster('M2'),
      asset('A1', 'M1'),
    ])
    expect(page2.pairs.map(([m, a]) => [m.recordName, a.recordName])).toEqual([
      ['M2', 'A2'],
      ['M1', 'A1'],
    ])
    expect(page2.unpairedMasters).toEqual([])
    expect(page2.unpairedAssets).toEqual([])
  })
})

describe('DESIRED_KEYS', () => {
  it('requests every resource key and the record fields of §8.3/§8.5, once each', () => {
    for (const p of [
      'resJPEGFull',
      'resJPEGMed',
      'resJPEGThumb',
      'resVidMed',
      'resVidSmall',
      'resOriginal',
      'resOriginalAlt',
      'resOriginalVidCompl',
    ]) {
      for (const s of ['Width', 'Height', 'FileType', 'Fingerprint', 'Res'])
        expect(DESIRED_KEYS).toContain(p + s)
    }
    for (const k of [
      'filenameEnc',
      'itemType',
      'masterRef',
      'assetDate',
      'addedDate',
      'timeZoneOffset',
      'isFavorite',
      'isHidden',
      'isDeleted',
      'recordChangeTag',
      'adjustmentType',
      'isKeyAsset',
      'keywordsEnc',
    ]) {
      expect(DESIRED_KEYS).toContain(k)
    }
    expect(new Set(DESIRED_KEYS).size).toBe(DESIRED_KEYS.length)
  })
})
