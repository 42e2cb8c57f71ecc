import { afterEach, describe, expect, it } from 'vitest'
import { ckError, startFakeCloudKit } from '../sim/icloud/cloudkit.js'
import { FakeLibrary } from '../sim/icloud/library.js'
import type { FakeRequest } from '../sim/icloud/core.js'
import { HttpClient } from '../src/icloud/http.js'
import { isAppError } from '../src/core/errors.js'
import { CloudKitClient } from '../src/photos/cloudkit.js'
import {
  listAssets,
  listChanges,
  selectLibrary,
  SyncTokenExpired,
  type AssetPage,
} from '../src/photos/listing.js'
import type { Asset } from '../src/photos/asset.js'
import { AssetParseError, MasterLookupError } from '../src/photos/records.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setup(lib: FakeLibrary, requireAuth?: (req: FakeRequest) => boolean) {
  const fake = await startFakeCloudKit(lib, { requireAuth })
  const http = new HttpClient()
  const client = new CloudKitClient({
    http,
    databaseUrl: fake.databaseUrl,
    clientId: 'auth-5e0c1d1e',
    dsid: '12345678901',
  })
  cleanups.push(async () => {
    await http.close()
    await fake.close()
  })
  return { fake, client, http }
}

async function collect(gen: AsyncGenerator<AssetPage>): Promise<{ assets: Asset[]; pages: AssetPage[] }> {
  const pages: AssetPage[] = []
  const assets: Asset[] = []
  for await (const p of gen) {
    pages.push(p)
    assets.push(...p.assets)
  }
  return { assets, pages }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('full listing', () => {
  it('returns every visible asset exactly once, newest first, in pages of 100', async () => {
    const lib = new FakeLibrary({ count: 437, seed: 3 })
    const { fake, client } = await setup(lib)
    const sel = await selectLibrary(client, 'PrimarySync')
    const { assets, pages } = await collect(listAssets(client, sel))
    const expected = lib.visibleAssets()
    expect(expected.length).toBeGreaterThan(400) // some are hidden/deleted and must not appear
    expect(expected.length).toBeLessThan(437)
    expect(assets.map((a) => a.id)).toEqual(expected.map((a) => a.id))
    for (let i = 1; i < assets.length; i++)
      expect(assets[i - 1]!.createdAt).toBeGreaterThan(assets[i]!.createdAt)
    expect(pages[0]!.total).toBe(expected.length)
    expect(pages.every((p) => p.assets.length <= 100)).toBe(true)
    expect(pages[0]!.syncToken).toMatch(/^AQAA/)
    // indexing check + count + exactly ceil(n/100) pages: the count stops the listing without an empty probe.
    expect(fake.server.count('ck:records/query')).toBe(1 + Math.ceil(expected.length / 100))
    expect(fake.server.count('ck:records/query/batch')).toBe(1)
  })

  it('maps records onto the asset model: live photos, RAW+JPEG, edits, sizes and checksums', async () => {
    const lib = new FakeLibrary({ count: 120, seed: 11 })
    const { client } = await setup(lib)
    const { assets } = await collect(listAssets(client, await selectLibrary(client)))
    const byId = new Map(assets.map((a) => [a.id, a]))
    const kinds = new Set<string>()
    for (const fa of lib.visibleAssets()) {
      const a = byId.get(fa.id)!
      kinds.add(fa.fakeKind)
      expect(a.filename).toBe(fa.filename)
      expect(a.kind).toBe(fa.kind)
      expect(a.createdAt).toBe(fa.assetDate)
      const orig = fa.resources.find((r) => r.key === 'resOriginal')!
      expect(a.versions.original?.size).toBe(orig.size)
      expect(a.versions.original?.url).toContain('${f}')
      const checksum = Buffer.from(a.versions.original!.checksum, 'base64')
      expect(checksum.length).toBe(21)
      expect(checksum[0]).toBe(0x01)
      expect(Boolean(a.liveVersions.original)).toBe(fa.fakeKind === 'live')
      expect(Boolean(a.versions.alternative)).toBe(fa.fakeKind === 'raw-pair')
      expect(Boolean(a.versions.adjusted)).toBe(fa.edited)
    }
    expect([...kinds].sort()).toEqual(['heic', 'jpeg', 'live', 'png', 'raw-pair', 'video'])
  })

  it('probes past empty pages in the middle of a listing (kei), and gives up after five', async () => {
    const lib = new FakeLibrary({ count: 450, seed: 5, hiddenRate: 0, deletedRate: 0 })
    lib.emptyPages.push({ atRank: 200, pages: 3 })
    const { client } = await setup(lib)
    const { assets, pages } = await collect(listAssets(client, await selectLibrary(client)))
    expect(assets.map((a) => a.id)).toEqual(lib.visibleAssets().map((a) => a.id))
    expect(pages.filter((p) => p.assets.length === 0).length).toBe(3)

    lib.emptyPages.splice(0, 1, { atRank: 100, pages: 10 })
    const warnings: string[] = []
    const cut = await collect(
      listAssets(client, await selectLibrary(client), { log: { warning: (m) => warnings.push(m) } }),
    )
    expect(cut.assets.length).toBe(100)
    expect(warnings.join()).toMatch(/5 empty pages/)
    expect(cut.pages.at(-1)?.incomplete).toBe(true)
    expect(pages.some((p) => p.incomplete)).toBe(false)
  })

  it('honours recent and skip-videos', async () => {
    const lib = new FakeLibrary({ count: 300, seed: 9 })
    const { client } = await setup(lib)
    const sel = await selectLibrary(client)
    const recent = await collect(listAssets(client, sel, { recent: 130 }))
    expect(recent.assets.map((a) => a.id)).toEqual(
      lib
        .visibleAssets()
        .slice(0, 130)
        .map((a) => a.id),
    )

    const noVideos = await collect(listAssets(client, sel, { skipVideos: true }))
    const expected = lib.visibleAssets().filter((a) => a.kind !== 'movie')
    expect(noVideos.assets.map((a) => a.id)).toEqual(expected.map((a) => a.id))
    expect(lib.visibleAssets().some((a) => a.kind === 'movie')).toBe(true)
  })

  it('lists albums by name (three records per asset) and suggests a near name for a typo', async () => {
    const lib = new FakeLibrary({ count: 260, seed: 4 })
    const { client } = await setup(lib)
    const sel = await selectLibrary(client)
    const family = lib.albums.find((a) => a.name === 'Family')!
    const { assets } = await collect(listAssets(client, sel, { albums: ['Family'] }))
    const expected = lib.visibleAssets().filter((a) => a.albums.includes(family.recordName))
    expect(expected.length).toBeGreaterThan(20)
    expect(assets.map((a) => a.id)).toEqual(expected.map((a) => a.id))

    const err = await rejection(collect(listAssets(client, sel, { albums: ['Famly'] })))
    expect(isAppError(err, 'CONFIG_INVALID')).toBe(true)
    expect((err as Error).message).toContain('Famly')
    expect((err as { remediation: string }).remediation).toContain('Did you mean "Family"')
    // Root folders and deleted albums are not albums.
    const names = (await client.albums('private', sel.zone)).map((a) => a.name)
    expect(names).toEqual(['Vacation', 'Family', 'Favourites 2016'])
  })

  it('album names are compared in NFC: `Jörg` typed (NFC) selects the album Apple names in NFD', async () => {
    const lib = new FakeLibrary({ count: 120, seed: 4, albums: ['Jörg', 'Fête 2019'] })
    const { client } = await setup(lib)
    const sel = await selectLibrary(client)
    const jorg = lib.albums.find((a) => a.name === 'Jörg')!
    // What Apple sends is NFD: J o U+0308 r g.
    const raw = (
      await client.query('private', {
        query: { recordType: 'CPLAlbumByPositionLive' },
        zoneID: { zoneName: 'PrimarySync' },
      })
    ).records.find((r) => r.recordName === jorg.recordName)!
    const bytes = Buffer.from(String(raw.fields!.albumNameEnc!.value), 'base64')
    expect(bytes.toString('hex')).toBe('4a6fcc887267')
    const nfc = 'J\u00f6rg'
    expect(nfc.normalize('NFD')).not.toBe(nfc)
    const { assets } = await collect(listAssets(client, sel, { albums: [nfc] }))
    const expected = lib.visibleAssets().filter((a) => a.albums.includes(jorg.recordName))
    expect(expected.length).toBeGreaterThan(5)
    expect(assets.map((a) => a.id)).toEqual(expected.map((a) => a.id))
    // The NFD spelling (as copied from somewhere else) works too.
    const viaNfd = await collect(listAssets(client, sel, { albums: [nfc.normalize('NFD')] }))
    expect(viaNfd.assets.length).toBe(expected.length)
    // The suggestion for a typo is in NFC, so it can be copied into the config as shown.
    const err = await rejection(collect(listAssets(client, sel, { albums: ['Fete 2019'] })))
    expect(isAppError(err, 'CONFIG_INVALID')).toBe(true)
    const remediation = (err as { remediation: string }).remediation
    expect(remediation).toContain(`Did you mean "F\u00eate 2019"?`)
    expect(remediation).not.toContain('e\u0302')
  })

  it('selects the shared library (skipping deleted zones) and rejects unknown libraries', async () => {
    const lib = new FakeLibrary({ count: 50, sharedCount: 30, seed: 2 })
    const { client } = await setup(lib)
    const shared = await selectLibrary(client, 'shared')
    expect(shared).toEqual({
      scope: 'shared',
      zone: expect.objectContaining({ zoneName: lib.sharedZone.name }),
    })
    expect(await selectLibrary(client, lib.sharedZone.name)).toEqual(shared)
    const { assets } = await collect(listAssets(client, shared))
    expect(assets.map((a) => a.id)).toEqual(lib.visibleAssets(lib.sharedZone).map((a) => a.id))
    expect(assets.every((a) => a.filename.startsWith('PXL_'))).toBe(true)

    const err = await rejection(selectLibrary(client, 'SharedSync-NOPE'))
    expect(isAppError(err, 'CONFIG_INVALID')).toBe(true)
    expect((err as { remediation: string }).remediation).toContain(lib.sharedZone.name)
  })

  it('stops when the library is still indexing', async () => {
    const lib = new FakeLibrary({ count: 10 })
    lib.indexingState = 'RUNNING'
    lib.indexingProgress = 42
    const { client } = await setup(lib)
    const err = await rejection(collect(listAssets(client, await selectLibrary(client))))
    expect(isAppError(err, 'INDEXING_NOT_FINISHED')).toBe(true)
    expect((err as Error).message).toContain('42%')
  })
})

describe('CloudKit requests and errors', () => {
  it("sends icloudpd's query string and text/plain bodies", async () => {
    const seen: FakeRequest[] = []
    const { client } = await setup(new FakeLibrary({ count: 5 }), (req) => (seen.push(req), true))
    await collect(listAssets(client, await selectLibrary(client)))
    await client.zonesList('shared')
    const query = seen.find((r) => r.endpoint === 'records/query')!
    const q = query.url.searchParams
    expect(q.get('clientBuildNumber')).toBe('2522Project44')
    expect(q.get('clientMasteringNumber')).toBe('2522B2')
    expect(q.get('clientId')).toBe('auth-5e0c1d1e')
    expect(q.get('dsid')).toBe('12345678901')
    expect(q.get('remapEnums')).toBe('True')
    expect(q.get('getCurrentSyncToken')).toBe('True')
    expect(query.headers['content-type']).toBe('text/plain')
    expect(seen.find((r) => r.endpoint === 'zones/list')!.url.search).toBe('')
  })

  it('the fake also accepts kei-style true and reports the sync token only when asked', async () => {
    const lib = new FakeLibrary({ count: 5 })
    const { fake } = await setup(lib)
    const base = `${fake.databaseUrl}/database/1/com.apple.photos.cloud/production/private/records/query`
    const body = JSON.stringify({
      query: { recordType: 'CheckIndexingState' },
      zoneID: { zoneName: 'PrimarySync' },
    })
    const withToken = (await (
      await fetch(`${base}?getCurrentSyncToken=true`, { method: 'POST', body })
    ).json()) as {
      syncToken?: string
    }
    const without = (await (await fetch(base, { method: 'POST', body })).json()) as { syncToken?: string }
    expect(withToken.syncToken).toBe(lib.zoneToken(lib.privateZone))
    expect(without.syncToken).toBeUndefined()
  })

  it.each([
    [ckError('ACCESS_DENIED', 'private db access disabled for this account'), 'ADP_OR_WEB_ACCESS_DISABLED'],
    [ckError('ZONE_NOT_FOUND', 'Zone does not exist', 404), 'ICLOUD_SETUP_INCOMPLETE'],
    [ckError('AUTHENTICATION_FAILED', 'Authentication failed', 401), 'ICLOUD_SETUP_INCOMPLETE'],
    [
      { status: 401, body: JSON.stringify({ reason: 'Missing X-APPLE-WEBAUTH-TOKEN cookie' }) },
      'MFA_REQUIRED',
    ],
    [{ status: 503, headers: { 'retry-after': '120' } }, 'THROTTLED'],
    [{ status: 421, body: '' }, 'SESSION_INVALID'],
    [{ status: 500, body: '<html>oops</html>' }, 'SESSION_INVALID'],
    [{ malformedJson: true }, 'PROTOCOL_ERROR'],
  ])('maps %j on records/query to %s', async (fault, code) => {
    const { fake, client } = await setup(new FakeLibrary({ count: 5 }))
    fake.server.inject('ck:records/query', fault)
    const err = await rejection(collect(listAssets(client, await selectLibrary(client))))
    expect(isAppError(err, code as never)).toBe(true)
    // Nothing identifying (dsid, client id) leaks into the message.
    expect((err as Error).message).not.toMatch(/12345678901|auth-5e0c1d1e/)
    if (code === 'THROTTLED') expect((err as { retryAfter?: number }).retryAfter).toBe(120)
  })

  it('an unauthenticated call (requireAuth) is a session error', async () => {
    const { client } = await setup(new FakeLibrary({ count: 5 }), () => false)
    const err = await rejection(client.zonesList('private'))
    expect(isAppError(err, 'SESSION_INVALID')).toBe(true)
  })
})

describe('change feeds', () => {
  it('changes/database reports nothing until the library changes', async () => {
    const lib = new FakeLibrary({ count: 20 })
    const { client } = await setup(lib)
    const boot = await client.changesDatabase('private')
    expect(boot.zones.map((z) => z.zone.zoneName)).toEqual(['PrimarySync'])
    expect((await client.changesDatabase('private', boot.syncToken)).zones).toEqual([])
    lib.addAssets(1)
    const after = await client.changesDatabase('private', boot.syncToken)
    expect(after.zones.map((z) => z.zone.zoneName)).toEqual(['PrimarySync'])
    // The shared database is not disturbed by private changes.
    const shared = await client.changesDatabase('shared')
    lib.addAssets(1)
    expect((await client.changesDatabase('shared', shared.syncToken)).zones).toEqual([])
  })

  it('pairs halves split across pages, reports hidden and deleted assets, and refuses unknown tokens', async () => {
    const lib = new FakeLibrary({ count: 30 })
    const { fake, client } = await setup(lib)
    const sel = await selectLibrary(client)
    const token = (await client.changesDatabase('private')).zones[0]!.syncToken!
    const added = lib.addAssets(150) // 150 masters then 150 assets: pairs straddle the 200-record pages
    const existing = lib.visibleAssets().at(-1)!.id
    lib.hideAsset(existing)
    lib.deleteAsset(added[0]!)
    const pages = []
    for await (const p of listChanges(client, sel, token)) pages.push(p)
    // 302 changed records: page 1 = 150 masters + 50 assets, page 2 = 100 assets + hide + delete.
    expect(pages.length).toBe(2)
    expect(fake.server.count('ck:changes/zone')).toBe(2)
    expect(pages[0]!.assets.length).toBe(49) // 50 pairs, one of them deleted since
    const ids = pages.flatMap((p) => p.assets.map((a) => a.id))
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids.sort()).toEqual(added.slice(1).sort())
    expect([...new Set(pages.flatMap((p) => p.removed))].sort()).toEqual([existing, added[0]].sort())

    lib.invalidateTokens()
    const err = await rejection(
      (async () => {
        for await (const _ of listChanges(client, sel, pages.at(-1)!.syncToken!)) void _
      })(),
    )
    expect(err).toBeInstanceOf(SyncTokenExpired)
  })

  it('records/lookup: names in batches of 100 with zoneID and desiredKeys; unknown names are NOT_FOUND', async () => {
    const lib = new FakeLibrary({ count: 150, seed: 9 })
    const { fake, client } = await setup(lib)
    const zone = { zoneName: 'PrimarySync' }
    const masters = Array.from({ length: 150 }, (_, i) => lib.masterId(lib.privateZone, i))
    const r = await client.lookup('private', zone, [...masters, 'AnUnknownMasterRecordName0000'])
    expect(fake.server.count('ck:records/lookup')).toBe(2)
    expect(r.records.map((x) => x.recordName)).toEqual(masters)
    expect(r.records.every((x) => x.recordType === 'CPLMaster')).toBe(true)
    expect(r.errors.get('AnUnknownMasterRecordName0000')).toEqual({
      serverErrorCode: 'NOT_FOUND',
      reason: 'Record not found',
    })
  })

  it('an unhidden asset arrives alone in the feed; its master comes from records/lookup', async () => {
    const lib = new FakeLibrary({ count: 60, seed: 10, hiddenRate: 0.1, deletedRate: 0 })
    const { fake, client } = await setup(lib)
    const sel = await selectLibrary(client)
    const token = lib.zoneToken(lib.privateZone)
    const hidden = lib.hiddenAssets()[0]!
    lib.unhideAsset(hidden.id)
    const pages = []
    for await (const p of listChanges(client, sel, token)) pages.push(p)
    expect(pages.flatMap((p) => p.assets.map((a) => a.id))).toEqual([hidden.id])
    expect(fake.server.count('ck:records/lookup')).toBe(1)
    expect(lib.lookups).toEqual([hidden.masterId])

    // A master Apple no longer has: that asset fails like an unreadable record (tokens may move on).
    const other = lib.hiddenAssets()[0]!
    lib.unhideAsset(other.id)
    fake.server.inject('ck:records/lookup', {
      status: 200,
      body: JSON.stringify({
        records: [{ recordName: other.masterId, reason: 'Record not found', serverErrorCode: 'NOT_FOUND' }],
      }),
    })
    const gone = []
    for await (const p of listChanges(client, sel, pages.at(-1)!.syncToken!)) gone.push(p)
    const errors = gone.flatMap((p) => p.errors)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(AssetParseError)
    expect(errors[0]!.message).toContain(other.id)
    expect((errors[0] as { blocksTokens?: boolean }).blocksTokens).toBeUndefined()

    // A refused lookup: a MasterLookupError per asset, which keeps the tokens.
    fake.server.inject('ck:records/lookup', {
      status: 400,
      body: JSON.stringify({ serverErrorCode: 'BAD_REQUEST', reason: 'nope' }),
    })
    const refused = []
    for await (const p of listChanges(client, sel, pages.at(-1)!.syncToken!)) refused.push(p)
    const blocking = refused.flatMap((p) => p.errors)
    expect(blocking).toHaveLength(1)
    expect(blocking[0]).toBeInstanceOf(MasterLookupError)
    expect(blocking[0]!.message).toMatch(/not backed up/)

    // Throttling is not an asset's problem: it ends the listing.
    fake.server.inject('ck:records/lookup', { status: 503, body: '' })
    const err = await rejection(
      (async () => {
        for await (const _ of listChanges(client, sel, pages.at(-1)!.syncToken!)) void _
      })(),
    )
    expect(isAppError(err, 'THROTTLED')).toBe(true)
  })
})
