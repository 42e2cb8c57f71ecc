/**
 * The filters and naming switches over the fake iCloud, and the sync-token rules they must keep
 * (issue #19 item 7): a run that lists only part of the library never makes a later run skip an
 * asset. Clocks are injected (`now`), nothing waits.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { diskFiles, diskHashes, expectedHashes, photosHarness } from './helpers/photos-harness.js'
import type { FakeAsset, FakeLibrary } from '../sim/icloud/library.js'

const { tmp, setup } = photosHarness({ threads: 4, retries: 1, clientId: 'filters', dsid: '19' })

const DAY = 86_400_000
/** Asset i is captured on day i after this (plus under half a day). */
const START = Date.UTC(2024, 0, 1)
const daily = { startDate: START, stepMs: DAY, hiddenRate: 0, deletedRate: 0 }
const iso = (ms: number) => new Date(ms).toISOString()

function hashesOf(lib: FakeLibrary, keep: (a: FakeAsset) => boolean): string[] {
  return expectedHashes(lib, lib.visibleAssets().filter(keep))
}

describe('skip-created-before / skip-created-after', () => {
  it('download exactly the assets captured inside the bounds', async () => {
    const { lib, sync } = await setup({ count: 30, seed: 191, ...daily })
    const dir = tmp('filters-dates-')
    const before = START + 5 * DAY // day 5 from midnight on: assets 5…
    const after = START + 20 * DAY // … up to asset 19
    const r = await sync(dir, {
      skipCreatedBefore: iso(before),
      skipCreatedAfter: iso(after).replace('Z', '+00:00'),
    })
    expect(r.failed).toBe(0)
    const inside = (a: FakeAsset) => a.assetDate >= before && a.assetDate <= after
    expect(
      lib
        .visibleAssets()
        .filter(inside)
        .map((a) => a.index),
    ).toEqual(Array.from({ length: 15 }, (_, i) => 19 - i))
    expect(diskHashes(dir)).toEqual(hashesOf(lib, inside))
    // Absolute bounds are stable: the run earns tokens like any full listing.
    expect(r.state.zoneSyncToken).toBeDefined()
  })

  it('a relative skip-created-after earns no tokens; a later run (clock moved on) gets what it left out', async () => {
    const { lib, sync } = await setup({ count: 30, seed: 192, ...daily })
    const dir = tmp('filters-moving-')
    const now = START + 30 * DAY
    // Assets newer than 10 days (captured after day 20) are left out today.
    const first = await sync(dir, { skipCreatedAfter: '10d', now: () => now })
    expect(first.failed).toBe(0)
    expect(diskHashes(dir)).toEqual(hashesOf(lib, (a) => a.assetDate <= now - 10 * DAY))
    expect(first.state.zoneSyncToken).toBeUndefined()
    expect(first.state.dbSyncToken).toBeUndefined()

    // Ten days later the same option lets the older half of them in: a full listing again.
    const later = now + 5 * DAY
    const second = await sync(dir, { skipCreatedAfter: '10d', now: () => later })
    expect(second.mode).toBe('full')
    expect(second.state.zoneSyncToken).toBeUndefined()
    expect(diskHashes(dir)).toEqual(hashesOf(lib, (a) => a.assetDate <= later - 10 * DAY))

    // Without the option everything is there, and tokens are earned.
    const third = await sync(dir, {})
    expect(third.mode).toBe('full')
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
    expect(third.state.zoneSyncToken).toBeDefined()
  })

  it('after a run without the filter earned tokens, a relative skip-created-after run keeps them and does not delta past its gap', async () => {
    const { lib, sync } = await setup({ count: 12, seed: 193, ...daily })
    const dir = tmp('filters-moving-tokens-')
    const all = await sync(dir, {})
    const tokens = { zone: all.state.zoneSyncToken, db: all.state.dbSyncToken, key: all.state.optionsKey }
    expect(tokens.zone).toBeDefined()
    // Two new assets (the newest); a run that leaves out the last 3 days does not fetch them…
    lib.addAssets(2)
    const now = START + 14 * DAY
    const cut = await sync(dir, { skipCreatedAfter: '3d', now: () => now })
    expect(cut.mode).toBe('full')
    expect(cut.downloaded).toBe(0)
    // …and leaves the earlier tokens as they were, so the next plain run's delta still offers them.
    expect({ zone: cut.state.zoneSyncToken, db: cut.state.dbSyncToken, key: cut.state.optionsKey }).toEqual(
      tokens,
    )
    const next = await sync(dir, {})
    expect(next.mode).toBe('delta')
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
  })

  it('a relative skip-created-before keeps its tokens: what it leaves out only grows older', async () => {
    const { lib, sync } = await setup({ count: 20, seed: 194, ...daily })
    const dir = tmp('filters-before-rel-')
    const now = START + 20 * DAY
    const r = await sync(dir, { skipCreatedBefore: '10d', now: () => now })
    expect(diskHashes(dir)).toEqual(hashesOf(lib, (a) => a.assetDate >= now - 10 * DAY))
    expect(r.state.zoneSyncToken).toBeDefined()
    const again = await sync(dir, { skipCreatedBefore: '10d', now: () => now + DAY })
    expect(again.mode).toBe('no-change')
  })

  it('a delta under a filter leaves out new assets it does not keep; a run without the filter lists in full and gets them', async () => {
    const { lib, sync } = await setup({ count: 15, seed: 195, ...daily })
    const dir = tmp('filters-delta-')
    const bound = iso(START + 15 * DAY)
    await sync(dir, { skipCreatedAfter: bound })
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
    lib.addAssets(3) // captured on days 15–17: after the bound
    const delta = await sync(dir, { skipCreatedAfter: bound })
    expect(delta.mode).toBe('delta')
    expect(delta.downloaded).toBe(0)
    expect(diskHashes(dir)).toEqual(hashesOf(lib, (a) => a.index < 15))

    const plain = await sync(dir, {})
    expect(plain.mode).toBe('full')
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
  })
})

describe('skip-photos', () => {
  it('downloads only videos: Live Photos are photos, so neither their image nor their movie comes', async () => {
    const { lib, sync } = await setup({ count: 40, seed: 196, kinds: ['heic', 'live', 'video', 'jpeg'] })
    const dir = tmp('filters-skip-photos-')
    const r = await sync(dir, { skipPhotos: true })
    expect(r.failed).toBe(0)
    const videos = lib.visibleAssets().filter((a) => a.fakeKind === 'video')
    expect(videos.length).toBeGreaterThan(3)
    expect(lib.visibleAssets().some((a) => a.fakeKind === 'live')).toBe(true)
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, videos))

    // The same directory without the option: a full listing (the key changed) fetches the photos.
    const all = await sync(dir, {})
    expect(all.mode).toBe('full')
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
  })
})

describe('naming switches from the config', () => {
  it('keep-unicode-in-filenames keeps non-ASCII letters; off, they are dropped as icloudpd drops them', async () => {
    const { lib, sync } = await setup({ count: 3, seed: 197, kinds: ['jpeg'], ...daily })
    const [a] = lib.visibleAssets()
    lib.setFilename(a!.id, 'Café_Zürich.JPG')
    const kept = tmp('filters-unicode-')
    await sync(kept, { keepUnicodeInFilenames: true, folderStructure: 'none' })
    expect([...diskFiles(kept).keys()]).toContain('Café_Zürich.JPG')
    const dropped = tmp('filters-ascii-')
    await sync(dropped, { folderStructure: 'none' })
    expect([...diskFiles(dropped).keys()]).toContain('Caf_Zrich.JPG')
  })

  it('force-size: an asset without the asked size is not replaced by its original', async () => {
    const { lib, sync } = await setup({ count: 6, seed: 198, kinds: ['jpeg'], ...daily })
    // A small image: Apple keeps no medium version of it.
    const small = lib.visibleAssets()[2]!
    lib.dropResource(small.id, 'resJPEGMed')
    const names = (dir: string) => [...diskFiles(dir).keys()].sort()
    const fallback = tmp('filters-fallback-')
    await sync(fallback, { size: ['medium'], folderStructure: 'none' })
    // icloudpd: without --force-size a missing medium is replaced by the original, under its own name.
    expect(names(fallback)).toContain(small.filename)
    expect(names(fallback)).toHaveLength(6)
    const forced = tmp('filters-forced-')
    const r = await sync(forced, { size: ['medium'], forceSize: true, folderStructure: 'none' })
    expect(r.failed).toBe(0)
    expect(names(forced)).toHaveLength(5)
    expect(names(forced).some((n) => n.startsWith(path.parse(small.filename).name))).toBe(false)
    expect(names(forced).every((n) => n.includes('-medium'))).toBe(true)
  })
})

describe('use-os-locale', () => {
  const saved = { LC_ALL: process.env.LC_ALL, LC_TIME: process.env.LC_TIME, LANG: process.env.LANG }
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })

  it('names the month folders in the language of LANG; two locales, two folder trees; off, English', async () => {
    const { lib, sync } = await setup({
      count: 4,
      seed: 199,
      kinds: ['jpeg'],
      startDate: Date.UTC(2024, 2, 10, 12),
      stepMs: 60_000,
    })
    const options = { folderStructure: '{:%Y/%B}', timeZone: 'UTC' }
    delete process.env.LC_ALL
    delete process.env.LC_TIME
    const folders = (dir: string) => [
      ...new Set([...diskFiles(dir).keys()].map((k) => path.posix.dirname(k))),
    ]

    process.env.LANG = 'de_DE.UTF-8'
    const de = tmp('filters-de-')
    await sync(de, { ...options, useOsLocale: true })
    expect(folders(de)).toEqual(['2024/März'])

    process.env.LANG = 'fr_FR.UTF-8'
    const fr = tmp('filters-fr-')
    await sync(fr, { ...options, useOsLocale: true })
    expect(folders(fr)).toEqual(['2024/mars'])

    const en = tmp('filters-en-')
    await sync(en, options)
    expect(folders(en)).toEqual(['2024/March'])
    for (const dir of [de, fr, en]) expect(diskHashes(dir)).toEqual(expectedHashes(lib))

    // Switching the language of an existing backup: the key changes, the run lists in full.
    const switched = await sync(de, { ...options, useOsLocale: true })
    expect(switched.mode).toBe('full')
    expect(existsSync(path.join(de, '2024', 'mars'))).toBe(true)
  })
})
