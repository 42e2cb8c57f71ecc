import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it, vi } from 'vitest'
import {
  diskFiles,
  diskHashes,
  expectedHashes,
  expectedResources,
  photosHarness,
} from './helpers/photos-harness.js'
import { createProgress, progressLine } from '../src/photos/progress.js'
import {
  STATE_FILE,
  emptyState,
  loadStateFile,
  parseState,
  pickNewer,
  saveStateFile,
  serializeState,
  serializeStatePieces,
  stamp,
  type SyncState,
} from '../src/photos/state.js'
import { optionsKey, resolveOptions } from '../src/photos/options.js'
import type { FakeLibrary } from '../sim/icloud/library.js'

const { cleanups, tmp, setup } = photosHarness({ threads: 8, retries: 1, clientId: 'auth-sync', dsid: '7' })

describe('syncPhotos', () => {
  it('first run downloads everything; a run with no changes makes one CloudKit request and downloads nothing', async () => {
    const { lib, fake, sync, ckSince } = await setup({ count: 230, seed: 31 })
    const dir = tmp('sync-first-')
    const newFiles = path.join(tmp('sync-out-'), 'new-files.txt')
    const first = await sync(dir, {}, { newFilesPath: newFiles })
    expect(first.mode).toBe('full')
    expect(first.failed).toBe(0)
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
    expect(first.downloaded).toBe(expectedHashes(lib, lib.visibleAssets()).length)
    expect(first.bytes).toBe(
      lib
        .visibleAssets()
        .reduce(
          (s, a) =>
            s +
            a.resources.filter((r) => expectedResources(a).includes(r.key)).reduce((t, r) => t + r.size, 0),
          0,
        ),
    )
    const lines = readFileSync(newFiles, 'utf8').trim().split('\n')
    expect(lines.sort()).toEqual(first.newFiles.map((f) => path.join(dir, f)).sort())
    expect(lines.every((l) => existsSync(l))).toBe(true)
    // mtime is the asset's capture time.
    const newest = lib.visibleAssets()[0]!
    const rel = first.newFiles.find((f) => f.endsWith(newest.filename))!
    expect(statSync(path.join(dir, rel)).mtimeMs).toBe(newest.assetDate)

    const mark = fake.server.log.length
    const stateBefore = statSync(path.join(dir, STATE_FILE)).mtimeMs
    const second = await sync(dir, {}, { newFilesPath: newFiles })
    expect(second).toMatchObject({ mode: 'no-change', downloaded: 0, failed: 0, requests: 1 })
    expect(statSync(path.join(dir, STATE_FILE)).mtimeMs).toBe(stateBefore) // nothing to rewrite
    expect(ckSince(mark)).toBe(1)
    expect(fake.server.count('ck:changes/database')).toBe(2)
    expect(readFileSync(newFiles, 'utf8')).toBe('')
  })

  it('a listing cut short by empty pages keeps no tokens, so the next run lists again and finds the rest', async () => {
    const { lib, sync } = await setup({
      count: 400,
      seed: 33,
      hiddenRate: 0,
      deletedRate: 0,
      kinds: ['jpeg'],
    })
    lib.emptyPages.push({ atRank: 100, pages: 10 })
    const dir = tmp('sync-cut-')
    const first = await sync(dir, {})
    expect(first.mode).toBe('full')
    expect(diskHashes(dir).length).toBeLessThan(expectedHashes(lib, lib.visibleAssets()).length)
    lib.emptyPages.length = 0
    const second = await sync(dir, {})
    expect(second.mode).toBe('full') // not 'no-change': the first run's tokens were not kept
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
  })

  it('the no-change request count is the same for 2,000 and 20,000 assets (≤ 3)', async () => {
    // What a finished run leaves for the next one: the library and its tokens at the fake's
    // current point, under the default options. The 2,000-asset library earns it by a real first
    // run (checked below); the 20,000-asset one is seeded with it instead of downloading 20,000 files.
    const earned = (lib: FakeLibrary): Partial<SyncState> => ({
      library: { scope: 'private', zone: lib.zoneID(lib.privateZone) },
      dbSyncToken: lib.dbToken('private'),
      zoneSyncToken: lib.zoneToken(lib.privateZone),
      optionsKey: optionsKey(resolveOptions({})),
    })
    const counts: number[] = []
    for (const count of [2_000, 20_000]) {
      const { lib, fake, sync, ckSince } = await setup({
        count,
        seed: 32,
        kinds: ['jpeg', 'heic', 'png'],
        minBytes: 24,
        maxBytes: 48,
      })
      const dir = tmp('sync-big-')
      let state: SyncState | undefined
      if (count === 2_000) {
        const first = await sync(dir, { threads: 16 })
        expect(first.failed).toBe(0)
        expect(first.listed).toBeGreaterThan(count * 0.95)
        expect(first.state).toMatchObject(earned(lib))
      } else {
        expect(lib.visibleAssets().length).toBeGreaterThan(count * 0.95)
        state = stamp({ ...emptyState(), ...earned(lib) })
      }
      const mark = fake.server.log.length
      const again = await sync(dir, { threads: 16 }, { state })
      expect(again.mode).toBe('no-change')
      counts.push(ckSince(mark))
      await cleanups.pop()!() // free the library's server and temp dir early
      await cleanups.pop()!()
    }
    expect(counts[0]).toBe(counts[1])
    expect(counts[0]).toBeLessThanOrEqual(3)
  }, 120_000)

  it('incremental: 5 new assets → the next run downloads exactly those, via the change feed', async () => {
    const { lib, fake, sync, ckSince } = await setup({ count: 300, seed: 33 })
    const dir = tmp('sync-incr-')
    await sync(dir)
    const added = lib.addAssets(5)
    const mark = fake.server.log.length
    const r = await sync(dir)
    const newAssets = lib.visibleAssets().filter((a) => added.includes(a.id))
    expect(r.mode).toBe('delta')
    expect(r.downloaded).toBe(expectedHashes(lib, newAssets).length)
    expect(r.newFiles.every((f) => newAssets.some((a) => f.includes(a.filename.replace(/\.\w+$/, ''))))).toBe(
      true,
    )
    expect(ckSince(mark)).toBe(2) // changes/database + one changes/zone page
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
    expect((await sync(dir)).mode).toBe('no-change')
  })

  it('a hosted runner (empty disk, state from the cache blob) downloads only what is new', async () => {
    const { lib, sync } = await setup({ count: 150, seed: 34 })
    const first = await sync(tmp('sync-host1-'))
    const blob = serializeState(first.state)
    const added = lib.addAssets(5)
    const fresh = tmp('sync-host2-')
    const r = await sync(fresh, {}, { state: parseState(blob) })
    expect(r.mode).toBe('delta')
    expect(diskHashes(fresh)).toEqual(
      expectedHashes(
        lib,
        lib.visibleAssets().filter((a) => added.includes(a.id)),
      ),
    )
  })

  it('hiding or deleting known assets in iCloud keeps their files', async () => {
    const { lib, sync } = await setup({ count: 80, seed: 35 })
    const dir = tmp('sync-del-')
    const first = await sync(dir)
    const [a, b, c] = lib.visibleAssets()
    lib.deleteAsset(a!.id)
    lib.hideAsset(b!.id)
    lib.expungeAsset(c!.id)
    const r = await sync(dir)
    expect(r).toMatchObject({ mode: 'delta', downloaded: 0, failed: 0 })
    for (const f of first.newFiles) expect(existsSync(path.join(dir, f))).toBe(true)
  })

  it('an asset unhidden or restored in iCloud (an asset-only change) is fetched with records/lookup and backed up', async () => {
    const { lib, fake, sync } = await setup({ count: 200, seed: 37, hiddenRate: 0.05, deletedRate: 0.05 })
    const dir = tmp('sync-unhide-')
    await sync(dir)
    const hidden = lib.hiddenAssets()[0]!
    const deleted = lib.hiddenAssets(lib.privateZone, 'deleted')[0]!
    expect(diskHashes(dir)).not.toEqual(expect.arrayContaining(expectedHashes(lib, [hidden])))
    lib.unhideAsset(hidden.id)
    lib.restoreAsset(deleted.id)
    const mark = fake.server.log.length
    const r = await sync(dir)
    expect(r).toMatchObject({ mode: 'delta', failed: 0 })
    const back = [lib.describe(lib.privateZone, hidden.index), lib.describe(lib.privateZone, deleted.index)]
    expect(r.downloaded).toBe(expectedHashes(lib, back).length)
    // The feed carried the two CPLAssets only; their masters came from one records/lookup.
    const lookups = fake.server.log.slice(mark).filter((e) => e.endpoint === 'ck:records/lookup')
    expect(lookups).toHaveLength(1)
    expect(lib.lookups.slice(-2).sort()).toEqual([hidden.masterId, deleted.masterId].sort())
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
    expect((await sync(dir)).mode).toBe('no-change')
  })

  it('when records/lookup fails the unhidden asset is a failure, the tokens stay, and the next run backs it up', async () => {
    const { lib, fake, sync } = await setup({ count: 120, seed: 38, hiddenRate: 0.05, deletedRate: 0 })
    const dir = tmp('sync-unhide-fail-')
    const warnings: string[] = []
    const log = { info: () => {}, warning: (m: string) => warnings.push(m) }
    const first = await sync(dir)
    const hidden = lib.hiddenAssets()[0]!
    lib.unhideAsset(hidden.id)
    fake.server.inject('ck:records/lookup', { status: 404, body: '{}', times: 1 })
    const r = await sync(dir, {}, { log })
    expect(r.mode).toBe('delta')
    expect(r.failed).toBe(1)
    expect(r.downloaded).toBe(0)
    expect(warnings.join('\n')).toMatch(new RegExp(`${hidden.id}.*not backed up`))
    // Not green, and the sync position did not move past the asset.
    expect(r.state.zoneSyncToken).toBe(first.state.zoneSyncToken)
    const again = await sync(dir)
    expect(again).toMatchObject({ mode: 'delta', failed: 0 })
    expect(again.downloaded).toBe(expectedHashes(lib, [lib.describe(lib.privateZone, hidden.index)]).length)
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
  })

  it('a HEIF backup made by an older icloudpd (NAME.HIF) is recognised: nothing is downloaded again as .HEIF', async () => {
    const { lib, sync } = await setup({
      count: 40,
      seed: 39,
      kinds: ['heif', 'jpeg'],
      hiddenRate: 0,
      deletedRate: 0,
    })
    const heifs = lib.visibleAssets().filter((a) => a.itemType === 'public.heif')
    expect(heifs.length).toBeGreaterThan(3)
    expect(heifs.every((a) => a.filename.endsWith('.HIF'))).toBe(true)
    // What icloudpd wrote before May 2025: the same bytes under the name's own extension.
    const fresh = tmp('sync-heif-ours-')
    const ours = await sync(fresh)
    const heifFiles = ours.newFiles.filter((f) => f.endsWith('.HEIF'))
    expect(heifFiles).toHaveLength(heifs.length)
    const old = tmp('sync-heif-old-')
    for (const rel of ours.newFiles) {
      const target = path.join(old, rel.replace(/\.HEIF$/, '.HIF'))
      mkdirSync(path.dirname(target), { recursive: true })
      copyFileSync(path.join(fresh, rel), target)
    }
    const r = await sync(old)
    expect(r).toMatchObject({ mode: 'full', downloaded: 0, failed: 0 })
    expect(r.skipped).toBe(ours.downloaded)
    expect([...diskFiles(old).keys()].some((f) => f.endsWith('.HEIF'))).toBe(false)
    expect(diskHashes(old)).toEqual(expectedHashes(lib, lib.visibleAssets()))
    expect((await sync(old)).mode).toBe('no-change')
  })

  it('a refused sync token falls back to a full listing that finds everything present', async () => {
    const { lib, sync } = await setup({ count: 120, seed: 36 })
    const dir = tmp('sync-token-')
    const first = await sync(dir)
    lib.invalidateTokens()
    const r = await sync(dir)
    expect(r).toMatchObject({ mode: 'full', downloaded: 0, failed: 0 })
    expect(r.skipped).toBe(first.downloaded)
    expect(r.state.dbSyncToken).not.toBe(first.state.dbSyncToken)
    expect((await sync(dir)).mode).toBe('no-change')
  })

  it('changed options (an extra size) list in full and download only the new files', async () => {
    const { lib, sync } = await setup({ count: 60, seed: 37 })
    const dir = tmp('sync-opts-')
    const first = await sync(dir)
    const r = await sync(dir, { size: ['original', 'medium'] })
    expect(r.mode).toBe('full')
    expect(r.skipped).toBe(first.downloaded)
    expect(r.downloaded).toBe(lib.visibleAssets().length)
    expect(r.newFiles.every((f) => f.includes('-medium.'))).toBe(true)
  })

  it('until-found stops the listing after N assets in a row that are already present', async () => {
    const { lib, fake, sync } = await setup({ count: 600, seed: 38 })
    const dir = tmp('sync-until-')
    await sync(dir)
    rmSync(path.join(dir, STATE_FILE)) // no tokens: icloudpd-style listing
    const added = lib.addAssets(5)
    const mark = fake.server.log.length
    const r = await sync(dir, { untilFound: 10 })
    expect(r.mode).toBe('full')
    expect(r.newFiles.length).toBe(
      expectedHashes(
        lib,
        lib.visibleAssets().filter((a) => added.includes(a.id)),
      ).length,
    )
    expect(r.skipped).toBeGreaterThanOrEqual(10)
    expect(r.listed).toBe(15)
    // One page of 100 was enough (plus changes/database, indexing and count) instead of seven.
    expect(fake.server.log.slice(mark).filter((e) => e.endpoint === 'ck:records/query').length).toBe(2)
  })

  it('recent N downloads only the N newest assets; skip-videos and skip-live-photos leave movies out', async () => {
    const { lib, sync } = await setup({ count: 200, seed: 39 })
    const dir = tmp('sync-recent-')
    const r = await sync(dir, { recent: 10 })
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets().slice(0, 10)))
    expect(r.listed).toBe(10)

    const dir2 = tmp('sync-novideo-')
    await sync(dir2, { skipVideos: true, skipLivePhotos: true })
    const images = lib.visibleAssets().filter((a) => a.kind === 'image')
    expect(diskHashes(dir2)).toEqual(
      images.map((a) => lib.sha256(lib.privateZone, a.index, 'resOriginal')).sort(),
    )
  })

  it('syncs the shared library', async () => {
    const { lib, sync } = await setup({ count: 20, sharedCount: 25, seed: 40 })
    const dir = tmp('sync-shared-')
    const r = await sync(dir, { library: 'shared' })
    const shared = lib.visibleAssets(lib.sharedZone)
    const hashes = shared
      .flatMap((a) => expectedResources(a).map((k) => lib.sha256(lib.sharedZone, a.index, k)))
      .sort()
    expect(diskHashes(dir)).toEqual(hashes)
    expect(r.state.library?.zone.zoneName).toBe(lib.sharedZone.name)
    lib.addAssets(2, lib.sharedZone)
    const again = await sync(dir, { library: 'shared' })
    expect(again.mode).toBe('delta')
    expect(again.downloaded).toBeGreaterThanOrEqual(2)
  })

  it('with albums, an unchanged library still costs one request; a change lists the album again', async () => {
    const { lib, sync } = await setup({ count: 150, seed: 41 })
    const dir = tmp('sync-album-')
    const first = await sync(dir, { albums: ['Vacation'] })
    const vacation = lib.albums.find((a) => a.name === 'Vacation')!.recordName
    expect(diskHashes(dir)).toEqual(
      expectedHashes(
        lib,
        lib.visibleAssets().filter((a) => a.albums.includes(vacation)),
      ),
    )
    expect(first.downloaded).toBeGreaterThan(0)
    expect(await sync(dir, { albums: ['Vacation'] })).toMatchObject({ mode: 'no-change', requests: 1 })
    lib.addAssets(3)
    expect((await sync(dir, { albums: ['Vacation'] })).mode).toBe('full')
  })
})

describe('sync state', () => {
  it('a state file that cannot be written is a DISK error, not a raw one', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'state-disk-'))
    try {
      // The "directory" is a regular file: mkdir and the write both fail, as on a broken mount.
      const notADir = path.join(root, 'photos')
      writeFileSync(notADir, 'x')
      await expect(saveStateFile(notADir, emptyState())).rejects.toMatchObject({ code: 'DISK' })
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  const sample = (): SyncState => {
    const s = emptyState()
    s.generation = 3
    s.savedAt = '2026-01-02T03:04:05.000Z'
    s.library = { scope: 'private', zone: { zoneName: 'PrimarySync', ownerRecordName: '_abc' } }
    s.zoneSyncToken = 'AQAAzone'
    s.dbSyncToken = 'AQAAdb'
    s.manifest.set('ID-1', [{ relPath: '2026/01/02/IMG_1.HEIC', size: 1234, sha256: 'ab'.repeat(32) }])
    s.manifest.set('ID-2', [{ relPath: 'IMG_2.JPG', size: 9, sha256: '' }])
    return s
  }

  it('round-trips compactly and rejects anything malformed without throwing', () => {
    const text = serializeState(sample())
    expect(parseState(text)).toEqual(sample())
    expect(text.length).toBeLessThan(
      JSON.stringify({ ...sample(), manifest: [...sample().manifest.entries()] }).length,
    )
    for (const bad of [
      '',
      'null',
      '{"v":3,"g":1,"t":"x","m":{}}',
      '{"v":1,"g":1,"t":"x","m":{"a":[[1,2,3]]}}',
      '{"v":2,"g":1,"t":"x","m":{"a":[["IMG_1.JPG",2,""]]}}',
      '{"v":2,"g":1,"t":"x","m":{"a":"IMG_1.JPG\\u00002"}}', // a field short
      '{"v":2,"g":1,"t":"x","m":{"a":"IMG_1.JPG\\u0000-2\\u0000"}}', // not a size
      '{"v":2,"g":1,"t":"x","m":{"a":"IMG_1.JPG\\u00002\\u0000abc"}}', // not a digest
      '{"v":2,"g":1,"t":"x","m":{"a":"\\u00002\\u0000"}}', // no path
      '{',
    ]) {
      expect(parseState(bad)).toBeUndefined()
    }
  })

  it('reads the first format (arrays of tuples), so an older state still saves a full listing', () => {
    const v1 = JSON.stringify({
      v: 1,
      g: 3,
      t: '2026-01-02T03:04:05.000Z',
      lib: { s: 'private', z: { zoneName: 'PrimarySync', ownerRecordName: '_abc' } },
      zt: 'AQAAzone',
      dt: 'AQAAdb',
      m: {
        'ID-1': [['2026/01/02/IMG_1.HEIC', 1234, Buffer.from('ab'.repeat(32), 'hex').toString('base64url')]],
        'ID-2': [['IMG_2.JPG', 9, '']],
      },
    })
    expect(parseState(v1)).toEqual(sample())
  })

  it('keeps any path and many files per asset, and serialises a large manifest piece by piece', () => {
    const s = emptyState()
    const odd = [
      { relPath: 'a|b/"quoted"\ttab/ünï©ødé 😀.JPG', size: 0, sha256: '' },
      { relPath: 'x/IMG_1.HEIC', size: 42, sha256: 'cd'.repeat(32) },
      { relPath: 'x/IMG_1_HEVC.MOV', size: 7, sha256: 'ef'.repeat(32) },
    ]
    s.manifest.set('odd', odd)
    for (let i = 0; i < 5000; i++) {
      s.manifest.set(`ID-${i}`, [{ relPath: `2026/01/02/IMG_${i}.HEIC`, size: i, sha256: '01'.repeat(32) }])
    }
    s.manifest.set('none', []) // no files: no entry, so the state still reads back
    expect(s.manifest.get('none')).toBeUndefined()
    const pieces = [...serializeStatePieces(s)]
    expect(pieces.length).toBe(5001 + 2)
    const back = parseState(pieces.join(''))!
    expect(back.manifest.size).toBe(5001)
    expect(back.manifest.get('odd')).toEqual(odd)
    expect(back.manifest.get('ID-4999')).toEqual([
      { relPath: '2026/01/02/IMG_4999.HEIC', size: 4999, sha256: '01'.repeat(32) },
    ])
    // record() replaces a file with the same path and keeps the others.
    back.manifest.record('odd', [{ relPath: 'x/IMG_1.HEIC', size: 43, sha256: '' }])
    expect(back.manifest.get('odd')).toEqual([
      odd[0],
      { relPath: 'x/IMG_1.HEIC', size: 43, sha256: '' },
      odd[2],
    ])
  })

  it('the newer of cache and file wins by generation, then by save time', () => {
    const a = sample()
    const b = sample()
    b.generation = 4
    expect(pickNewer(a, b)).toBe(b)
    expect(pickNewer(b, a)).toBe(b)
    b.generation = 3
    b.savedAt = '2026-01-02T03:04:06.000Z'
    expect(pickNewer(a, b)).toBe(b)
    expect(pickNewer(undefined, a)).toBe(a)
  })

  it('is saved atomically beside the photos, and a corrupt file only costs a full listing', async () => {
    const dir = tmp('state-')
    await saveStateFile(dir, sample())
    expect(readdirSync(dir)).toEqual([STATE_FILE])
    expect(await loadStateFile(dir)).toEqual(sample())
    writeFileSync(path.join(dir, STATE_FILE), '{"v":1,"g":')
    expect(await loadStateFile(dir)).toBeUndefined()

    const { sync } = await setup({ count: 30, seed: 42 })
    await sync(dir)
    writeFileSync(path.join(dir, STATE_FILE), 'garbage')
    const r = await sync(dir)
    expect(r).toMatchObject({ mode: 'full', downloaded: 0, failed: 0 })
  })
})

describe('progress', () => {
  it('in CI logs a line with counts, bytes and throughput every interval, and stops', () => {
    vi.useFakeTimers()
    try {
      const lines: string[] = []
      let now = 0
      const p = createProgress({ tty: false, intervalMs: 5000, log: (l) => lines.push(l), now: () => now })
      p.update({ listed: 10, total: 40, downloaded: 4, skipped: 6, failed: 0, bytes: 4 * 1024 * 1024 })
      now = 2000
      vi.advanceTimersByTime(5000)
      expect(lines).toEqual(['photos: listed 10/40, downloaded 4 (4.0 MB, 2.0 MB/s), skipped 6, failed 0'])
      vi.advanceTimersByTime(5000) // nothing new: no repeated line
      expect(lines.length).toBe(1)
      p.stop()
      p.update({ listed: 11, downloaded: 5, skipped: 6, failed: 0, bytes: 1 })
      vi.advanceTimersByTime(20_000)
      expect(lines.length).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })

  it('on a TTY draws a bar', () => {
    const out = new PassThrough()
    let drawn = ''
    out.on('data', (d) => (drawn += d))
    Object.assign(out, {
      isTTY: true,
      columns: 120,
      cursorTo: () => true,
      clearLine: () => true,
      moveCursor: () => true,
    })
    const p = createProgress({ tty: true, log: () => {}, stream: out })
    p.update({ listed: 5, total: 10, downloaded: 2, skipped: 3, failed: 1, bytes: 2048 })
    p.stop()
    expect(drawn).toContain('5/10')
    expect(drawn).toContain('failed 1')
    expect(progressLine({ listed: 1, downloaded: 0, skipped: 1, failed: 0, bytes: 0 }, 0)).toContain(
      'listed 1,',
    )
  })
})
