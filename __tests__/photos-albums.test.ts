/**
 * Albums and libraries as icloudpd has them (issue 19 item 4): smart folders by icloudpd's names
 * and queries, albums of a shared library, libraries found in both databases, several albums in
 * one run, and the sync-token rules of album runs.
 */
import { describe, expect, it } from 'vitest'
import { ckError } from '../sim/icloud/cloudkit.js'
import type { FakeAsset, FakeLibrary, FakeZone } from '../sim/icloud/library.js'
import { isAppError } from '../src/core/errors.js'
import type { HttpClient } from '../src/icloud/http.js'
import { albumCatalog, listLibraries, selectLibrary } from '../src/photos/libraries.js'
import { listAssets, type AssetPage } from '../src/photos/listing.js'
import { SMART_FOLDERS } from '../src/photos/smart-albums.js'
import { diskFiles, expectedHashes, expectedResources, photosHarness } from './helpers/photos-harness.js'

const { tmp, setup } = photosHarness({ threads: 4, retries: 1, clientId: 'auth-albums', dsid: '19' })

/**
 * icloudpd's SMART_FOLDERS (src/pyicloud_ipd/services/photos.py): name → list type, count id and
 * `smartAlbum` filter. Copied here as the reference the client's requests are checked against.
 */
const ICLOUDPD: Record<string, { list: string; count: string; smartAlbum?: string }> = {
  'Time-lapse': {
    list: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    count: 'CPLAssetInSmartAlbumByAssetDate:Timelapse',
    smartAlbum: 'TIMELAPSE',
  },
  Videos: {
    list: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    count: 'CPLAssetInSmartAlbumByAssetDate:Video',
    smartAlbum: 'VIDEO',
  },
  'Slo-mo': {
    list: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    count: 'CPLAssetInSmartAlbumByAssetDate:Slomo',
    smartAlbum: 'SLOMO',
  },
  Bursts: { list: 'CPLBurstStackAssetAndMasterByAssetDate', count: 'CPLAssetBurstStackAssetByAssetDate' },
  Favorites: {
    list: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    count: 'CPLAssetInSmartAlbumByAssetDate:Favorite',
    smartAlbum: 'FAVORITE',
  },
  Panoramas: {
    list: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    count: 'CPLAssetInSmartAlbumByAssetDate:Panorama',
    smartAlbum: 'PANORAMA',
  },
  Screenshots: {
    list: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    count: 'CPLAssetInSmartAlbumByAssetDate:Screenshot',
    smartAlbum: 'SCREENSHOT',
  },
  Live: {
    list: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    count: 'CPLAssetInSmartAlbumByAssetDate:Live',
    smartAlbum: 'LIVE',
  },
  'Recently Deleted': {
    list: 'CPLAssetAndMasterDeletedByExpungedDate',
    count: 'CPLAssetDeletedByExpungedDate',
  },
  Hidden: { list: 'CPLAssetAndMasterHiddenByAssetDate', count: 'CPLAssetHiddenByAssetDate' },
}

/** Which generated assets each smart folder holds, from the assets' own properties. */
const MEMBERS: Record<string, (a: FakeAsset) => boolean> = {
  'Time-lapse': (a) => visible(a) && a.subtype === 'timelapse',
  Videos: (a) => visible(a) && a.kind === 'movie',
  'Slo-mo': (a) => visible(a) && a.subtype === 'slomo',
  Bursts: (a) => visible(a) && a.subtype === 'burst',
  Favorites: (a) => visible(a) && a.favorite,
  Panoramas: (a) => visible(a) && a.subtype === 'panorama',
  Screenshots: (a) => visible(a) && a.fakeKind === 'png',
  Live: (a) => visible(a) && a.fakeKind === 'live',
  'Recently Deleted': (a) => a.deleted,
  Hidden: (a) => a.hidden && !a.deleted,
}

function visible(a: FakeAsset): boolean {
  return !a.hidden && !a.deleted
}

/** Every asset of a zone, newest first (the listing order), filtered. */
function assetsOf(lib: FakeLibrary, zone: FakeZone, keep: (a: FakeAsset) => boolean): FakeAsset[] {
  const out: FakeAsset[] = []
  for (let i = zone.count - 1; i >= 0; i--) {
    const a = lib.describe(zone, i)
    if (!a.expunged && keep(a)) out.push(a)
  }
  return out
}

async function ids(gen: AsyncGenerator<AssetPage>): Promise<string[]> {
  const out: string[] = []
  for await (const p of gen) out.push(...p.assets.map((a) => a.id))
  return out
}

/** The JSON bodies the client sends, by operation (the fake's log has no bodies). */
function captureBodies(http: HttpClient): Array<{ op: string; body: Record<string, unknown> }> {
  const seen: Array<{ op: string; body: Record<string, unknown> }> = []
  const original = http.request.bind(http)
  http.request = (r) => {
    const op = /\/production\/(?:private|shared)\/([^?]+)/.exec(r.url)?.[1] ?? r.url
    if (typeof r.body === 'string') seen.push({ op, body: JSON.parse(r.body) as Record<string, unknown> })
    return original(r)
  }
  return seen
}

async function rejection(p: Promise<unknown>): Promise<Error & { remediation?: string }> {
  try {
    await p
  } catch (err) {
    return err as Error & { remediation?: string }
  }
  throw new Error('expected a rejection')
}

describe('smart albums', () => {
  it("each of icloudpd's smart-folder names lists exactly its assets, with icloudpd's query", async () => {
    const { lib, client, http } = await setup({ count: 420, seed: 19, deletedRate: 0.03, hiddenRate: 0.03 })
    const bodies = captureBodies(http)
    const sel = await selectLibrary(client)
    expect(SMART_FOLDERS.map(([n]) => n).sort()).toEqual(Object.keys(ICLOUDPD).sort())
    for (const [name] of SMART_FOLDERS) {
      bodies.length = 0
      const expected = assetsOf(lib, lib.privateZone, MEMBERS[name]!).map((a) => a.id)
      // Every kind has assets in the fixture, so an empty answer cannot pass.
      expect(expected.length, name).toBeGreaterThan(2)
      expect(await ids(listAssets(client, sel, { albums: [name], pageSize: 7 })), name).toEqual(expected)

      const ref = ICLOUDPD[name]!
      const count = bodies.find((b) => b.op === 'internal/records/query/batch')!.body
      expect(JSON.stringify(count), name).toContain(`"value":["${ref.count}"]`)
      const lists = bodies.filter(
        (b) => b.op === 'records/query' && (b.body.query as { recordType: string }).recordType === ref.list,
      )
      // Real paging: 7 assets a page, so several pages per smart folder.
      expect(lists.length, name).toBe(Math.ceil(expected.length / 7))
      for (const { body } of lists) {
        const filterBy = (body.query as { filterBy: Array<Record<string, unknown>> }).filterBy
        const extra = filterBy.filter((f) => f.fieldName !== 'startRank' && f.fieldName !== 'direction')
        expect(extra, name).toEqual(
          ref.smartAlbum
            ? [
                {
                  fieldName: 'smartAlbum',
                  comparator: 'EQUALS',
                  fieldValue: { type: 'STRING', value: ref.smartAlbum },
                },
              ]
            : [],
        )
        expect(body.resultsLimit).toBe(14)
      }
    }
  })

  it('lists smart folders first, then user albums; a user album named like a smart folder takes its place', async () => {
    const { client } = await setup({ count: 30, seed: 5, albums: ['Trips', 'Favorites'] })
    const sel = await selectLibrary(client)
    const catalog = await albumCatalog(client, sel)
    expect(catalog.map((e) => e.name)).toEqual([...SMART_FOLDERS.map(([n]) => n), 'Trips'])
    expect(catalog.find((e) => e.name === 'Favorites')?.kind).toBe('album')
    expect(catalog.find((e) => e.name === 'Trips')?.kind).toBe('album')
    expect(catalog.find((e) => e.name === 'Videos')?.kind).toBe('smart')
  })

  it('an unknown album name lists the smart folders and the user albums and suggests the nearest', async () => {
    const { client } = await setup({ count: 30, seed: 5 })
    const sel = await selectLibrary(client)
    const err = await rejection(ids(listAssets(client, sel, { albums: ['Favorite'] })))
    expect(isAppError(err, 'CONFIG_INVALID')).toBe(true)
    expect(err.message).toContain('"Favorite"')
    expect(err.remediation).toContain('Did you mean "Favorites"?')
    expect(err.remediation).toContain('Recently Deleted')
    expect(err.remediation).toContain('Vacation')
  })

  it('"All Photos" (a smart folder of older icloudpd) still selects the whole library', async () => {
    const { lib, client } = await setup({ count: 40, seed: 6 })
    const sel = await selectLibrary(client)
    expect(await ids(listAssets(client, sel, { albums: ['All Photos'] }))).toEqual(
      lib.visibleAssets().map((a) => a.id),
    )
  })
})

describe('libraries in both databases', () => {
  it("finds the owner's shared library in the private database and a participant's in the shared one", async () => {
    for (const where of ['private', 'shared'] as const) {
      const { lib, client, fake } = await setup({
        count: 20,
        sharedCount: 40,
        seed: 8,
        sharedLibraryDatabase: where,
      })
      const shared = lib.sharedZone.name
      const found = await listLibraries(client)
      expect(found.libraries.map((l) => [l.name, l.scope])).toEqual([
        ['PrimarySync', 'private'],
        [shared, where],
      ])
      // zones/list on both databases, as icloudpd's private_libraries and shared_libraries.
      expect(fake.server.log.filter((e) => e.endpoint === 'ck:zones/list').map((e) => e.path)).toEqual([
        expect.stringMatching(/\/private\/zones\/list$/),
        expect.stringMatching(/\/shared\/zones\/list$/),
      ])
      const before = fake.server.count('ck:zones/list')
      const sel = await selectLibrary(client, shared)
      expect(sel.scope).toBe(where)
      // The shared database is asked only when the private one does not list the library.
      expect(fake.server.count('ck:zones/list') - before).toBe(where === 'private' ? 1 : 2)
      expect(await selectLibrary(client, 'shared')).toEqual(sel)
      expect(await ids(listAssets(client, sel))).toEqual(
        assetsOf(lib, lib.sharedZone, visible).map((a) => a.id),
      )
    }
  })

  it('an unknown library names every library of both databases', async () => {
    const { lib, client } = await setup({ count: 5, seed: 9, sharedLibraryDatabase: 'private' })
    const err = await rejection(selectLibrary(client, 'SharedSync-TYPO'))
    expect(isAppError(err, 'CONFIG_INVALID')).toBe(true)
    expect(err.message).toContain('"SharedSync-TYPO"')
    expect(err.remediation).toContain(`PrimarySync, ${lib.sharedZone.name}`)
  })

  it('a database whose zones/list is refused does not hide the libraries of the other', async () => {
    const { lib, client, fake } = await setup({ count: 5, seed: 9 })
    // The first zones/list (the private database) answers a bare 400.
    fake.server.inject('ck:zones/list', ckError('BAD_REQUEST', 'no private zones today', 400))
    const found = await listLibraries(client)
    expect(found.libraries.map((l) => l.name)).toEqual([lib.sharedZone.name])
    expect(found.unavailable.map((u) => u.scope)).toEqual(['private'])
  })

  it("a shared library's albums are the smart folders: Favorites of the shared library", async () => {
    for (const where of ['private', 'shared'] as const) {
      const { lib, client } = await setup({
        count: 20,
        sharedCount: 90,
        seed: 10,
        sharedLibraryDatabase: where,
      })
      const sel = await selectLibrary(client, lib.sharedZone.name)
      const catalog = await albumCatalog(client, sel)
      // No user albums in the shared library (they live in PrimarySync).
      expect(catalog.map((e) => e.name)).toEqual(SMART_FOLDERS.map(([n]) => n))
      const expected = assetsOf(lib, lib.sharedZone, MEMBERS.Favorites!).map((a) => a.id)
      expect(expected.length).toBeGreaterThan(2)
      expect(await ids(listAssets(client, sel, { albums: ['Favorites'] }))).toEqual(expected)
      const videos = assetsOf(lib, lib.sharedZone, MEMBERS.Videos!).map((a) => a.id)
      expect(await ids(listAssets(client, sel, { albums: ['Videos'] }))).toEqual(videos)
    }
  })
})

describe('album runs', () => {
  it('several albums: a file in two of them is downloaded once, in the folders a library run uses', async () => {
    const { lib, sync } = await setup({ count: 160, seed: 12, albumRate: 0.4 })
    const [vacation, family] = ['Vacation', 'Family'].map((n) => lib.albums.find((a) => a.name === n)!)
    const members = lib
      .visibleAssets()
      .filter((a) => a.albums.includes(vacation!.recordName) || a.albums.includes(family!.recordName))
    const both = members.filter(
      (a) => a.albums.includes(vacation!.recordName) && a.albums.includes(family!.recordName),
    )
    expect(both.length).toBeGreaterThan(3)

    const dir = tmp('albums-two-')
    const r = await sync(dir, { albums: ['Vacation', 'Family', 'Vacation'] })
    expect(r.failed).toBe(0)
    // Each asset counted once: the second album's copy is neither a download nor a skip.
    expect(r.skipped).toBe(0)
    expect([...diskFiles(dir).values()].sort()).toEqual(expectedHashes(lib, members))
    expect(r.downloaded).toBe(expectedHashes(lib, members).length)
    // One request per file, even for the assets in both albums.
    const requests = lib.downloadLog.map((d) => `${d.assetId}/${d.res}`)
    expect(new Set(requests).size).toBe(requests.length)
    for (const a of both)
      expect(requests.filter((x) => x.startsWith(a.id + '/'))).toHaveLength(expectedResources(a).length)

    // The same paths a whole-library run gives these assets (icloudpd: no album folder).
    const whole = tmp('albums-whole-')
    await sync(whole)
    const wholeFiles = diskFiles(whole)
    for (const [rel, hash] of diskFiles(dir)) expect(wholeFiles.get(rel)).toBe(hash)
  })

  it('a smart-album run, then a library run: nothing is skipped; album runs never use the change feed', async () => {
    const { lib, sync } = await setup({ count: 150, seed: 13 })
    const dir = tmp('albums-then-library-')
    const favorites = lib.visibleAssets().filter((a) => a.favorite)
    const first = await sync(dir, { albums: ['Favorites'] })
    expect(first.mode).toBe('full')
    expect([...diskFiles(dir).values()].sort()).toEqual(expectedHashes(lib, favorites))

    // A new asset, then the album run again: listed in full (a delta knows nothing of albums).
    lib.addAssets(3)
    const again = await sync(dir, { albums: ['Favorites'] })
    expect(again.mode).toBe('full')

    const library = await sync(dir)
    expect(library.mode).toBe('full')
    expect(library.failed).toBe(0)
    expect([...diskFiles(dir).values()].sort()).toEqual(expectedHashes(lib, lib.visibleAssets()))
    const favoritesNow = lib.visibleAssets().filter((a) => a.favorite)
    expect(library.downloaded).toBe(
      expectedHashes(lib, lib.visibleAssets()).length - expectedHashes(lib, favoritesNow).length,
    )
  })
})
