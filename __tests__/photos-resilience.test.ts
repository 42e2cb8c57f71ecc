/**
 * Issue 15, defects 2 and 3: the change feed is an optimisation (a failing feed falls back to a
 * full listing that earns no tokens), and a listing cut short by recent / until-found earns no
 * tokens, so no later run skips what it left out.
 */
import { cpSync, rmSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { changeFeedFault, type ChangeFeedFaultKind } from '../sim/icloud/cloudkit.js'
import { diskFiles, diskHashes, expectedHashes, photosHarness } from './helpers/photos-harness.js'
import { STATE_FILE } from '../src/photos/state.js'
import { describeListing } from '../src/photos/sync.js'

const { tmp, setup } = photosHarness({ threads: 8, retries: 1, clientId: 'resilience', dsid: '15' })

const DB = 'ck:changes/database' as const
const ZONE = 'ck:changes/zone' as const

describe('change feed failures fall back to a full listing', () => {
  for (const kind of ['404', '400', '500', 'no-zones'] as ChangeFeedFaultKind[]) {
    it(`first sync with changes/database answering ${kind}: complete, same files, no tokens; the next run earns them`, async () => {
      const { lib, fake, sync } = await setup({ count: 140, seed: 151 })
      const reference = tmp('feed-ref-')
      await sync(reference)

      const dir = tmp('feed-first-')
      fake.server.inject(DB, changeFeedFault(DB, kind, Infinity))
      const r = await sync(dir)
      expect(r.mode).toBe('full')
      expect(r.failed).toBe(0)
      expect(r.listingNote).toMatch(/^change feed unavailable: /)
      expect(describeListing(r)).toMatch(/^full \(change feed unavailable: .*changes\/database/)
      expect(diskFiles(dir)).toEqual(diskFiles(reference))
      expect(r.state.dbSyncToken).toBeUndefined()
      expect(r.state.zoneSyncToken).toBeUndefined()

      fake.server.clearFaults()
      const again = await sync(dir)
      expect(again).toMatchObject({ mode: 'full', downloaded: 0, failed: 0 })
      expect(again.listingNote).toBeUndefined()
      expect(again.state.dbSyncToken).toBe(lib.dbToken('private'))
      expect((await sync(dir)).mode).toBe('no-change')
    })
  }

  const deltaCases: Array<[typeof DB | typeof ZONE, ChangeFeedFaultKind]> = [
    [DB, '404'],
    [DB, 'no-zones'],
    [DB, '500'],
    [ZONE, '404'],
    [ZONE, '400'],
    [ZONE, 'no-zones'],
  ]
  for (const [endpoint, kind] of deltaCases) {
    it(`delta sync with ${endpoint} answering ${kind}: the new assets arrive, old tokens stay, the next run moves them on`, async () => {
      const { lib, fake, sync } = await setup({ count: 160, seed: 152 })
      const dir = tmp('feed-delta-')
      const reference = tmp('feed-delta-ref-')
      const first = await sync(dir)
      const before = { db: first.state.dbSyncToken, zone: first.state.zoneSyncToken }
      expect(before.db).toBeDefined()
      lib.addAssets(6)
      await sync(reference)

      fake.server.inject(endpoint, changeFeedFault(endpoint, kind, Infinity))
      const r = await sync(dir)
      expect(r.mode).toBe('full')
      expect(r.failed).toBe(0)
      expect(r.listingNote).toContain(endpoint.slice(3))
      expect(diskFiles(dir)).toEqual(diskFiles(reference))
      expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
      // Nothing from the failed path: the tokens are those of the last complete run.
      expect({ db: r.state.dbSyncToken, zone: r.state.zoneSyncToken }).toEqual(before)

      fake.server.clearFaults()
      const again = await sync(dir)
      expect(again).toMatchObject({ mode: 'delta', downloaded: 0, failed: 0 })
      expect(again.state.dbSyncToken).toBe(lib.dbToken('private'))
      expect((await sync(dir)).mode).toBe('no-change')
    })
  }

  it('a session refusal on the feed is not papered over by a listing', async () => {
    const { fake, sync } = await setup({ count: 20, seed: 153 })
    fake.server.inject(DB, { status: 421, body: '', times: Infinity })
    await expect(sync(tmp('feed-auth-'))).rejects.toMatchObject({ code: 'SESSION_INVALID' })
    expect(fake.server.count('ck:records/query')).toBe(0)
  })
})

describe('recent / until-found leave no gaps', () => {
  it('recent: 5 then a plain run downloads everything', async () => {
    const { lib, sync } = await setup({ count: 38, seed: 154 })
    const dir = tmp('cut-recent-')
    const r = await sync(dir, { recent: 5 })
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets().slice(0, 5)))
    expect(r.state.dbSyncToken).toBeUndefined()
    const plain = await sync(dir)
    expect(plain.mode).toBe('full')
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
    expect((await sync(dir)).mode).toBe('no-change')
  })

  it('recent larger than the library is a complete listing and keeps its tokens', async () => {
    const { lib, sync } = await setup({ count: 12, seed: 155 })
    const dir = tmp('cut-recent-all-')
    const r = await sync(dir, { recent: 500 })
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
    expect(r.state.dbSyncToken).toBe(lib.dbToken('private'))
  })

  it('recent cutting a delta keeps the old tokens, so the next plain run fetches the rest', async () => {
    const { lib, sync } = await setup({ count: 60, seed: 156 })
    const dir = tmp('cut-delta-')
    const first = await sync(dir)
    lib.addAssets(10)
    const r = await sync(dir, { recent: 3 })
    expect(r.mode).toBe('delta')
    expect(r.state.dbSyncToken).toBe(first.state.dbSyncToken)
    const plain = await sync(dir)
    expect(plain.mode).toBe('delta')
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
  })

  it('until-found: 3 then a plain run downloads everything', async () => {
    const { lib, sync } = await setup({ count: 38, seed: 157 })
    // The newest 5 are already here (an older backup without a state file).
    const older = tmp('cut-until-src-')
    await sync(older, { recent: 5 })
    const dir = tmp('cut-until-')
    cpSync(older, dir, { recursive: true })
    rmSync(path.join(dir, STATE_FILE))
    const r = await sync(dir, { untilFound: 3 })
    expect(r.listed).toBe(3)
    expect(r.state.dbSyncToken).toBeUndefined()
    const plain = await sync(dir)
    expect(plain.mode).toBe('full')
    expect(diskHashes(dir)).toEqual(expectedHashes(lib, lib.visibleAssets()))
  })
})
