/**
 * set-exif-datetime + xmp-sidecar in a real run against the fake iCloud: the check
 * (folder-structure none, sizes original + medium) gives the paths, sidecars and EXIF dates
 * icloudpd gives for the same library (fixtures/icloudpd-metadata/sync-expected.json, made by
 * icloudpd's logic); the edited JPEGs and the sidecars are files of the backup (manifest,
 * new-files list, disk check, verify), and a re-run neither downloads them again nor takes them
 * for damaged.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadStateFile } from '../src/photos/state.js'
import { verifyDirectory } from '../src/photos/verify.js'
import { readDateTimeOriginal } from '../src/photos/exif.js'
import { formatSidecar, toolkitOf, XMP_TOOLKIT } from '../src/photos/xmp-sidecar.js'
import { diskFiles, photosHarness, quiet } from './helpers/photos-harness.js'
import { METADATA_LIBRARY, addMetadata } from './helpers/metadata-library.js'
import { canonical } from './helpers/xml-canonical.js'

const { tmp, setup } = photosHarness({ threads: 4, retries: 2, clientId: 'meta-client', dsid: '31' })

const expected = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'fixtures', 'icloudpd-metadata', 'sync-expected.json'), 'utf8'),
) as { files: string[]; sidecars: Record<string, string>; exifDateTimeOriginal: Record<string, string> }

const OPTIONS = {
  xmpSidecar: true,
  setExifDatetime: true,
  folderStructure: 'none',
  size: ['original', 'medium'] as Array<'original' | 'medium'>,
  timeZone: 'UTC',
}

async function world() {
  const w = await setup(METADATA_LIBRARY)
  addMetadata(w.lib)
  return w
}

describe('xmp-sidecar + set-exif-datetime over the fake iCloud', () => {
  it('writes the paths, sidecars and EXIF dates icloudpd writes; a re-run downloads nothing and finds nothing damaged', async () => {
    const { lib, sync } = await world()
    const dir = tmp('meta-sync-')
    const newFilesPath = path.join(tmp('meta-list-'), 'new.txt')
    const r = await sync(dir, OPTIONS, { newFilesPath })
    expect(r.failures).toEqual([])

    const files = [...diskFiles(dir).keys()].sort()
    expect(files).toEqual(expected.files)
    for (const [rel, xml] of Object.entries(expected.sidecars)) {
      const ours = readFileSync(path.join(dir, rel), 'utf8')
      expect(canonical(ours), rel).toEqual(canonical(xml))
      expect(toolkitOf(ours)).toBe(XMP_TOOLKIT)
    }
    for (const [rel, date] of Object.entries(expected.exifDateTimeOriginal)) {
      expect(readDateTimeOriginal(readFileSync(path.join(dir, rel))), rel).toBe(date)
    }
    // Sidecars and photos are all in the new-files list and the manifest, with their hashes.
    const listed = readFileSync(newFilesPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => path.relative(dir, l))
      .sort()
    expect(listed).toEqual(expected.files)
    const state = await loadStateFile(dir)
    const manifest = new Map(
      [...state!.manifest.entries()].flatMap(([, fs]) => fs.map((f) => [f.relPath, f])),
    )
    expect([...manifest.keys()].sort()).toEqual(expected.files)
    const disk = diskFiles(dir)
    for (const [rel, f] of manifest) expect(f.sha256, rel).toBe(disk.get(rel))
    // Exactly the JPEGs without a camera date were edited, and they record the size iCloud listed.
    const z = lib.privateZone
    const needDate = lib.visibleAssets().flatMap((a) => {
      const base = a.filename.replace(/\.[^.]+$/, '')
      const out: string[] = []
      if (a.itemType === 'public.jpeg' && !lib.exifDate(z, a.index, 'resOriginal')) out.push(`${base}.JPG`)
      if (!lib.exifDate(z, a.index, 'resJPEGMed')) out.push(`${base}-medium.JPG`)
      return out
    })
    const edited = [...manifest.values()].filter((f) => f.icloudSize !== undefined)
    expect(edited.map((f) => f.relPath).sort()).toEqual(needDate.sort())
    expect(needDate.length).toBeGreaterThan(3)
    for (const f of edited) expect(f.size).toBeGreaterThan(f.icloudSize!)

    // Again, listing everything (the server forgot its tokens): every file is matched by name and size.
    lib.invalidateTokens()
    const again = await sync(dir, OPTIONS)
    expect(again.mode).toBe('full')
    expect(again.downloaded).toBe(0)
    expect(again.failures).toEqual([])
    expect(diskFiles(dir)).toEqual(disk)
    const report = await verifyDirectory({ directory: dir, log: quiet })
    expect(report?.problems).toEqual([])
    expect(report?.files).toBe(expected.files.length)
  })

  it('a changed title reaches the sidecar with the next delta; the photo is not downloaded again', async () => {
    const { lib, sync } = await world()
    const dir = tmp('meta-delta-')
    await sync(dir, OPTIONS)
    const a = lib.visibleAssets()[2]!
    const base = a.filename.replace(/\.[^.]+$/, '')
    const sidecar = path.join(dir, `${base}.${a.itemType === 'public.heic' ? 'HEIC' : 'JPG'}.xmp`)
    expect(readFileSync(sidecar, 'utf8')).toContain('emoji title')
    lib.setMetadata(a.id, { title: 'renamed & retitled' })
    const r = await sync(dir, OPTIONS)
    expect(r.mode).toBe('delta')
    expect(r.downloaded).toBe(0)
    expect(readFileSync(sidecar, 'utf8')).toContain('renamed &amp; retitled')
    expect(r.newFiles.sort()).toEqual([`${base}-medium.JPG.xmp`, path.basename(sidecar)].sort())
    expect((await verifyDirectory({ directory: dir, log: quiet }))?.problems).toEqual([])
  })

  it('turning xmp-sidecar on later lists the library once more and gives the files already here their sidecars', async () => {
    const { sync } = await world()
    const dir = tmp('meta-later-')
    const plain = { folderStructure: 'none', size: ['original', 'medium'] as Array<'original' | 'medium'> }
    await sync(dir, plain)
    expect(readdirSync(dir).filter((n) => n.endsWith('.xmp'))).toEqual([])
    const r = await sync(dir, { ...plain, xmpSidecar: true, timeZone: 'UTC' })
    expect(r.mode).toBe('full')
    expect(r.downloaded).toBe(0)
    const sidecars = Object.keys(expected.sidecars)
    expect(r.newFiles.sort()).toEqual([...sidecars].sort())
    for (const rel of sidecars) {
      expect(canonical(readFileSync(path.join(dir, rel), 'utf8')), rel).toEqual(
        canonical(expected.sidecars[rel]!),
      )
    }
    // Nothing changed since: the next run writes nothing.
    const again = await sync(dir, { ...plain, xmpSidecar: true, timeZone: 'UTC' })
    expect(again.newFiles).toEqual([])
  })

  it('keeps a sidecar another program wrote, and edits no file when both options are off', async () => {
    const { lib, sync } = await world()
    const dir = tmp('meta-foreign-')
    const first = lib.visibleAssets()[0]!
    const mine = formatSidecar({ title: 'my own notes' }, 'Adobe XMP Core 7.0')
    writeFileSync(path.join(dir, `${first.filename}.xmp`), mine)
    const infos: string[] = []
    await sync(dir, OPTIONS, { log: { info: (m: string) => infos.push(m), warning: () => {} } })
    expect(readFileSync(path.join(dir, `${first.filename}.xmp`), 'utf8')).toBe(mine)
    expect(infos.some((m) => m.includes(`not replacing ${first.filename}.xmp`))).toBe(true)

    const plain = tmp('meta-off-')
    await sync(plain, { folderStructure: 'none', size: ['original', 'medium'] })
    expect(readdirSync(plain).filter((n) => n.endsWith('.xmp'))).toEqual([])
    // Without set-exif-datetime every file is byte for byte what iCloud served.
    const z = lib.privateZone
    for (const a of lib.visibleAssets()) {
      const bytes = readFileSync(path.join(plain, a.filename))
      expect(bytes.equals(lib.bytes(z, a.index, 'resOriginal'))).toBe(true)
    }
  })
})
