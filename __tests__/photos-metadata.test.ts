/**
 * set-exif-datetime and xmp-sidecar against icloudpd: sidecars compared element by element with
 * reference sidecars made by icloudpd's own logic, EXIF edits compared byte for byte with what
 * piexif (icloudpd's library) writes, and the lenient decoding of real-world record fields
 * (fixtures: __tests__/fixtures/icloudpd-metadata/README.md).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { canonical } from './helpers/xml-canonical.js'
import { fakeJpeg } from '../sim/icloud/metadata.js'
import { parseAssetPair, type CkRecord } from '../src/photos/records.js'
import {
  exifDateTime,
  readDateTimeOriginal,
  setExifDateTimeFile,
  withExifDateTime,
} from '../src/photos/exif.js'
import { readAssetMetadata } from '../src/photos/record-metadata.js'
import { resolveConfig } from '../src/cli/options.js'
import { parseConfig } from '../src/config/index.js'
import { emptyState, packedDiskSize, parseState, serializeState } from '../src/photos/state.js'
import {
  formatSidecar,
  pyFloat,
  pyIsoTime,
  sidecarFor,
  toolkitOf,
  writeSidecar,
  xmpValues,
  XMP_TOOLKIT,
} from '../src/photos/xmp-sidecar.js'

const FIX = path.join(import.meta.dirname, 'fixtures', 'icloudpd-metadata')
const fixture = (name: string) => readFileSync(path.join(FIX, name))
const records = JSON.parse(fixture('records.json').toString('utf8')) as Record<
  string,
  { fields: CkRecord['fields'] }
>

/** The asset of a CPLAsset's fields, through the real record parser. */
function assetOf(fields: CkRecord['fields']) {
  const master: CkRecord = { recordName: 'M1', recordType: 'CPLMaster', fields: {} }
  const asset: CkRecord = {
    recordName: 'A1',
    recordType: 'CPLAsset',
    fields: { ...fields, masterRef: { type: 'REFERENCE', value: { recordName: 'M1' } } },
  }
  return parseAssetPair(master, asset)
}

describe('xmp-sidecar: the sidecar icloudpd writes for the same record', () => {
  const names = Object.keys(records)
  it.each(names)('%s', (name) => {
    const ours = sidecarFor(assetOf(records[name]!.fields))
    const reference = fixture(`${name}.xmp`).toString('utf8')
    expect(canonical(ours)).toEqual(canonical(reference))
    expect(toolkitOf(ours)).toBe(XMP_TOOLKIT)
    expect(toolkitOf(reference)?.startsWith('icloudpd')).toBe(true)
    // With icloudpd's toolkit string the file is even byte for byte the one ElementTree writes.
    const asIcloudpd = formatSidecar(xmpValues(assetOf(records[name]!.fields)), toolkitOf(reference))
    expect(asIcloudpd).toBe(reference)
  })

  it('the comparison is strict: one changed value, a missing or an extra element all differ', () => {
    const reference = canonical(fixture('icloudpd-full.xmp').toString('utf8'))
    const asset = assetOf(records['icloudpd-full']!.fields)
    const changed = { ...asset, meta: { ...asset.meta, title: 'Title here' } }
    expect(canonical(sidecarFor(changed))).not.toEqual(reference)
    expect(canonical(sidecarFor({ ...asset, meta: { ...asset.meta, keywords: undefined } }))).not.toEqual(
      reference,
    )
    expect(canonical(sidecarFor({ ...asset, meta: asset.meta, isFavorite: true }))).not.toEqual(reference)
  })

  it('user text with XML special characters is escaped by the builder, never breaks the document', () => {
    const asset = assetOf(records['special-characters']!.fields)
    expect(asset.meta?.title).toBe('<b>Tom & "Jerry"</b> \'x\' ]]> été 😀')
    const xml = sidecarFor(asset)
    expect(xml).not.toContain('<b>')
    expect(xml).not.toContain('<!--')
    expect(canonical(xml).children[0]!.children[0]!.children[0]!.text).toBe(asset.meta?.title)
    const evil = formatSidecar({ title: '</dc:title><x:inject/>', keywords: ['&lt;', '&amp;', 'bell\u0007'] })
    const dc = canonical(evil).children[0]!.children[0]!
    expect(dc.children).toHaveLength(2)
    expect(dc.children[0]!.text).toBe('</dc:title><x:inject/>')
    // Entity-like user text stays text; a control character XML cannot carry is dropped.
    expect(dc.children[1]!.children[0]!.children.map((li) => li.text)).toEqual(['&lt;', '&amp;', 'bell'])
  })

  it('reads the fields icloudpd reads, leniently: bad values are left out, never fatal', () => {
    expect(readAssetMetadata({ captionEnc: { value: '!!!not-base64!!!' } })).toBeUndefined()
    expect(readAssetMetadata({ captionEnc: { value: '' }, extendedDescEnc: {} })).toBeUndefined()
    expect(readAssetMetadata({ keywordsEnc: { value: '!!!not-base64!!!' } })).toBeUndefined()
    // A location that decodes to a plist array (seen in the wild) has no coordinates.
    const list = Buffer.from('<plist><array><string>a</string></array></plist>').toString('base64')
    expect(readAssetMetadata({ locationEnc: { value: list } })).toBeUndefined()
    // Not deflated JSON (and not one of the two known other formats): no orientation.
    expect(readAssetMetadata({ adjustmentSimpleDataEnc: { value: 'AAAA' } })).toBeUndefined()
    expect(
      readAssetMetadata({ captionEnc: { value: Buffer.from([0xff, 0xfe]).toString('base64') } }),
    ).toBeUndefined()
    expect(readAssetMetadata({ assetSubtypeV2: { value: 3 } })).toEqual({ screenshot: true })
  })

  it('formats numbers and dates as Python does', () => {
    expect([0.0, 100, 58, 1e16, 1.5e-5, 0.0001, 326.9550561797753, -0.5, 1e22].map(pyFloat)).toEqual([
      '0.0',
      '100.0',
      '58.0',
      '1e+16',
      '1.5e-05',
      '0.0001',
      '326.9550561797753',
      '-0.5',
      '1e+22',
    ])
    expect(pyIsoTime(1532951050176, 0)).toBe('2018-07-30T11:44:10+0000')
    expect(pyIsoTime(1532951050176, -25200)).toBe('2018-07-30T04:44:10-0700')
    expect(pyIsoTime(1532951050176, 19800)).toBe('2018-07-30T17:14:10+0530')
    expect(pyIsoTime(1532951050176)).toBe('2018-07-30T11:44:10')
  })
})

describe('xmp-sidecar: writing beside the photo', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('replaces its own and icloudpd sidecars, keeps another program’s and a file that is not XML', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'xmp-'))
    const p = path.join(dir, 'IMG_1.JPG.xmp')
    const xml = formatSidecar({ title: 'new' })
    expect((await writeSidecar(p, xml)).status).toBe('written')
    expect(readFileSync(p, 'utf8')).toBe(xml)
    expect((await writeSidecar(p, xml)).status).toBe('same')

    writeFileSync(p, fixture('icloudpd-full.xmp'))
    expect((await writeSidecar(p, xml)).status).toBe('written')
    expect(readFileSync(p, 'utf8')).toBe(xml)

    const lightroom = formatSidecar({ title: 'mine' }, 'Adobe XMP Core 7.0')
    writeFileSync(p, lightroom)
    expect(await writeSidecar(p, xml)).toMatchObject({ status: 'kept' })
    expect(readFileSync(p, 'utf8')).toBe(lightroom)

    writeFileSync(p, 'not xml <')
    expect(await writeSidecar(p, xml)).toMatchObject({ status: 'kept' })
    expect(readFileSync(p, 'utf8')).toBe('not xml <')

    // An empty file is not anyone's sidecar (icloudpd overwrites it too).
    writeFileSync(p, '')
    expect((await writeSidecar(p, xml)).status).toBe('written')
    expect(readdirSync(dir)).toEqual(['IMG_1.JPG.xmp'])
  })
})

describe('set-exif-datetime: the bytes piexif writes for icloudpd', () => {
  const date = '2018:07:30 11:44:10'

  /** The APP1 Exif segment of a JPEG (marker, length, payload). */
  const app1 = (jpeg: Buffer): Buffer => {
    const at = jpeg.indexOf(Buffer.from('Exif\0\0', 'latin1')) - 4
    expect(jpeg.readUInt16BE(at)).toBe(0xffe1)
    return jpeg.subarray(at, at + 2 + jpeg.readUInt16BE(at + 2))
  }

  it.each(['make-only', 'thumbnail'])('%s.jpg becomes byte for byte what icloudpd writes', (name) => {
    const before = fixture(`${name}.jpg`)
    expect(readDateTimeOriginal(before)).toBeUndefined()
    const after = withExifDateTime(before, date)
    expect(after?.equals(fixture(`${name}.icloudpd.jpg`))).toBe(true)
    expect(readDateTimeOriginal(after!)).toBe(date)
  })

  it('no-exif.jpg gets icloudpd’s Exif segment and keeps its JFIF header (piexif drops it)', () => {
    const before = fixture('no-exif.jpg')
    const reference = fixture('no-exif.icloudpd.jpg')
    const after = withExifDateTime(before, date)!
    expect(app1(after).equals(app1(reference))).toBe(true)
    // Python's piexif puts the Exif segment in place of APP0 (JFIF); piexifjs inserts it after SOI.
    expect(after.equals(Buffer.concat([before.subarray(0, 2), app1(reference), before.subarray(2)]))).toBe(
      true,
    )
    expect(
      reference.equals(Buffer.concat([before.subarray(0, 2), app1(reference), before.subarray(20)])),
    ).toBe(true)
    expect(readDateTimeOriginal(after)).toBe(date)
    // The image data (from DQT on) is copied, not re-encoded.
    const tail = before.subarray(before.indexOf(Buffer.from([0xff, 0xdb])))
    expect(after.subarray(after.length - tail.length).equals(tail)).toBe(true)
  })

  it('leaves a JPEG that has a DateTimeOriginal, and a file that is not a JPEG, alone', () => {
    expect(withExifDateTime(fixture('with-date.jpg'), date)).toBeUndefined()
    expect(fixture('with-date.icloudpd.jpg').equals(fixture('with-date.jpg'))).toBe(true)
    expect(readDateTimeOriginal(fixture('with-date.jpg'))).toBe('2020:01:01 00:00:00')
    expect(withExifDateTime(Buffer.from('not a jpeg'), date)).toBeUndefined()
    expect(withExifDateTime(Buffer.from([0xff, 0xd8, 0xff]), date)).toBeUndefined()
  })

  it('writes the capture time in the local zone, as icloudpd (created.astimezone(get_localzone()))', () => {
    expect(exifDateTime(1532951050176, 'UTC')).toBe('2018:07:30 11:44:10')
    expect(exifDateTime(1532951050176, 'America/Los_Angeles')).toBe('2018:07:30 04:44:10')
    expect(exifDateTime(1532951050176, 'Asia/Kolkata')).toBe('2018:07:30 17:14:10')
  })

  describe('editing a file', () => {
    let dir = ''
    afterEach(() => rmSync(dir, { recursive: true, force: true }))

    it('replaces it atomically, keeps its permissions and mtime, and reports the new size and hash', async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'exif-'))
      const p = path.join(dir, 'IMG_1.JPG')
      writeFileSync(p, fixture('no-exif.jpg'))
      chmodSync(p, 0o640)
      const edited = await setExifDateTimeFile(p, date, Date.UTC(2018, 6, 30, 11, 44, 10))
      const expected = withExifDateTime(fixture('no-exif.jpg'), date)!
      expect(readFileSync(p).equals(expected)).toBe(true)
      expect(edited?.size).toBe(expected.length)
      expect(edited?.sha256).toMatch(/^[0-9a-f]{64}$/)
      const st = statSync(p)
      expect(st.mode & 0o777).toBe(0o640)
      expect(st.mtimeMs).toBe(Date.UTC(2018, 6, 30, 11, 44, 10))
      expect(readdirSync(dir)).toEqual(['IMG_1.JPG'])
      // Nothing to do the second time.
      expect(await setExifDateTimeFile(p, date, 0)).toBeUndefined()
      expect(readFileSync(p).equals(expected)).toBe(true)
    })
  })
})

describe('manifest: a file edited after its download', () => {
  it('keeps the disk size and hash and the size iCloud listed, through the state file; old entries read as before', () => {
    const s = emptyState()
    const sha = 'ab'.repeat(32)
    s.manifest.record('A', [
      { relPath: 'IMG_1.JPG', size: 1290, sha256: sha, icloudSize: 1200 },
      { relPath: 'IMG_1.JPG.xmp', size: 700, sha256: sha },
      { relPath: 'IMG_2.JPG', size: 5, sha256: sha, icloudSize: 5 },
    ])
    const back = parseState(serializeState(s))!
    expect(back.manifest.get('A')).toEqual([
      { relPath: 'IMG_1.JPG', size: 1290, sha256: sha, icloudSize: 1200 },
      { relPath: 'IMG_1.JPG.xmp', size: 700, sha256: sha },
      // Equal sizes are stored once.
      { relPath: 'IMG_2.JPG', size: 5, sha256: sha },
    ])
    expect(packedDiskSize('1290/1200')).toBe(1290)
    expect(packedDiskSize('1290')).toBe(1290)
    for (const bad of ['12/', '/12', '1/2/3', '01/2', '1/02']) {
      const text = serializeState(s).replace('1290/1200', bad)
      expect(parseState(text), bad).toBeUndefined()
    }
  })
})

describe('set-exif-datetime: killed at any instant', () => {
  let dir = ''
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('leaves the downloaded photo or the edited one, never a mix (SIGKILL at several points)', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'exif-kill-'))
    let seed = 7
    const original = fakeJpeg(24_000_000, () => (seed = (seed * 1103515245 + 12345) >>> 16))!
    const date = '2021:05:06 07:08:09'
    const edited = withExifDateTime(original, date)!
    const here = import.meta.dirname
    const outcomes = new Set<string>()
    for (const delayMs of [0, 1, 3, 10, 30, 100, 300]) {
      const file = path.join(dir, `IMG_${delayMs}.JPG`)
      writeFileSync(file, original)
      const proc = spawn(
        process.execPath,
        [
          '--experimental-transform-types',
          '--no-warnings',
          '--import',
          path.join(here, '..', 'sim', 'ts-loader.mjs'),
          path.join(here, 'helpers', 'exif-child.ts'),
          file,
          date,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      const exited = new Promise((r) => proc.on('exit', r))
      let done = false
      void exited.then(() => (done = true))
      // Wait until the edit is being written (its temp file exists), then kill a little later.
      while (!done && !readdirSync(dir).some((n) => n.endsWith('.tmp')))
        await new Promise((r) => setTimeout(r, 1))
      await new Promise((r) => setTimeout(r, delayMs))
      proc.kill('SIGKILL')
      await exited
      const now = readFileSync(file)
      const which = now.equals(original) ? 'original' : now.equals(edited) ? 'edited' : 'corrupt'
      expect(which, `killed after ${delayMs} ms`).not.toBe('corrupt')
      outcomes.add(which)
      // A kill during the write leaves the temp file beside the photo (never in its place).
      for (const n of readdirSync(dir)) if (n.endsWith('.tmp')) rmSync(path.join(dir, n))
    }
    // A finished edit is the edited file (the kill points above may all land before or after it).
    const file = path.join(dir, 'IMG_done.JPG')
    writeFileSync(file, original)
    await setExifDateTimeFile(file, date, 0)
    expect(readFileSync(file).equals(edited)).toBe(true)
    expect(outcomes.size).toBeGreaterThan(0)
  }, 60_000)
})

describe('the options from the CLI and the config file', () => {
  it('--xmp-sidecar and --set-exif-datetime set photos.xmp-sidecar and photos.set-exif-datetime; both default off', async () => {
    const on = await resolveConfig({ username: 'a@example.com', xmpSidecar: true, setExifDatetime: true })
    expect(on.photos.xmpSidecar).toBe(true)
    expect(on.photos.setExifDatetime).toBe(true)
    const off = await resolveConfig({ username: 'a@example.com' })
    expect([off.photos.xmpSidecar, off.photos.setExifDatetime]).toEqual([false, false])
    const yaml = parseConfig(
      'account: { username: a@example.com }\nphotos: { xmp-sidecar: true, set-exif-datetime: true }\n',
      'config.yml',
    )
    expect([yaml.photos.xmpSidecar, yaml.photos.setExifDatetime]).toEqual([true, true])
  })
})
