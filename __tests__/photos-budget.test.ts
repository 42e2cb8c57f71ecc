/**
 * Run budgets (photos.max-duration, max-bytes, max-files): at the budget the run starts nothing
 * new, finishes what is in flight, saves the state and ends `incomplete` with every file left on
 * the list; the listing stops too and no sync token moves, so the next run continues — each file
 * downloaded exactly once over the runs, none missing.
 */
import { describe, expect, it } from 'vitest'
import { isAppError } from '../src/core/errors.js'
import { parseConfig } from '../src/config/index.js'
import { photosOutcome } from '../src/photos/outcome.js'
import type { SyncResult } from '../src/photos/sync.js'
import { parseSize } from '../src/util/size.js'
import { diskHashes, expectedHashes, photosHarness } from './helpers/photos-harness.js'
import { MemoryDestination } from './helpers/memory-destination.js'

const { tmp, setup } = photosHarness({ threads: 2, retries: 1, clientId: 'auth-budget', dsid: '46' })

/** Downloads per asset id: every asset fetched at most once over all runs. */
function fetchesPerAsset(log: Array<{ assetId: string }>): number[] {
  const n = new Map<string, number>()
  for (const d of log) n.set(d.assetId, (n.get(d.assetId) ?? 0) + 1)
  return [...new Set(n.values())]
}

function expectBudgetStop(r: SyncResult): void {
  expect(r.stopReason).toBe('budget')
  expect(r.failed).toBe(0)
  expect(r.failures.length).toBeGreaterThan(0)
  expect(r.failures.every((f) => f.reason === 'budget' && f.attempts === 0)).toBe(true)
  expect(r.remaining).toBe(r.failures.length)
  expect(r.listingComplete).toBe(false)
  // No token moves past what the run did not back up.
  expect(r.state.zoneSyncToken).toBeUndefined()
  const out = photosOutcome(r)
  expect(out.status).toBe('incomplete')
  expect(out.error).toBeUndefined()
  expect(out.note).toBe(
    `at least ${r.remaining} file${r.remaining === 1 ? '' : 's'} left; the next run continues.`,
  )
}

describe('run budgets', () => {
  it('max-files: stops after N files with the rest listed; the next run downloads exactly the rest', async () => {
    const { lib, sync } = await setup({ count: 20, kinds: ['jpeg'], seed: 91 })
    const dir = tmp('budget-files-')
    const total = expectedHashes(lib).length
    const r = await sync(dir, { maxFiles: 5 })
    expect(r.downloaded).toBe(5)
    expectBudgetStop(r)
    expect(diskHashes(dir)).toHaveLength(5)
    // Nothing beyond the budget was even requested.
    expect(lib.downloadLog.length).toBe(5)
    const again = await sync(dir)
    expect(again.failed).toBe(0)
    expect(again.downloaded).toBe(total - 5)
    expect(again.stopReason).toBeUndefined()
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
    expect(fetchesPerAsset(lib.downloadLog)).toEqual([1])
    expect(photosOutcome(again).status).toBe('ok')
  })

  it('max-files spread over several runs reaches the whole library, then the run is complete and earns tokens', async () => {
    const { lib, sync } = await setup({ count: 11, kinds: ['jpeg'], seed: 92, hiddenRate: 0, deletedRate: 0 })
    const dir = tmp('budget-spread-')
    const results: SyncResult[] = []
    for (let i = 0; i < 6; i++) {
      const r = await sync(dir, { maxFiles: 4 })
      results.push(r)
      if (r.stopReason === undefined) break
    }
    const total = expectedHashes(lib).length
    expect(total).toBeGreaterThan(8)
    expect(results.map((r) => r.downloaded)).toEqual([4, 4, total - 8])
    expect(results.at(-1)!.state.zoneSyncToken).toBeDefined()
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
    expect(fetchesPerAsset(lib.downloadLog)).toEqual([1])
  })

  it('a budget stop during a delta keeps the old tokens; the next run deltas from them and fetches the rest', async () => {
    const { lib, sync } = await setup({ count: 6, kinds: ['jpeg'], seed: 93 })
    const dir = tmp('budget-delta-')
    const first = await sync(dir)
    const tokens = [first.state.zoneSyncToken, first.state.dbSyncToken]
    expect(tokens[0]).toBeDefined()
    lib.addAssets(7)
    const cut = await sync(dir, { maxFiles: 2 })
    expect(cut.mode).toBe('delta')
    expect(cut.downloaded).toBe(2)
    expect(cut.stopReason).toBe('budget')
    expect([cut.state.zoneSyncToken, cut.state.dbSyncToken]).toEqual(tokens)
    const rest = await sync(dir)
    expect(rest.mode).toBe('delta')
    expect(rest.downloaded).toBe(5)
    expect(rest.state.zoneSyncToken).not.toBe(tokens[0])
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
    expect(fetchesPerAsset(lib.downloadLog)).toEqual([1])
  })

  it('max-bytes: files start while they fit, the run stops under the budget; the next run fetches the rest', async () => {
    const { lib, sync } = await setup({
      count: 20,
      kinds: ['jpeg'],
      seed: 94,
      minBytes: 1000,
      maxBytes: 2000,
    })
    const dir = tmp('budget-bytes-')
    const r = await sync(dir, { maxBytes: '8KB' })
    expect(r.bytes).toBeLessThanOrEqual(8000)
    // At least four files of at most 2000 bytes fit in 8000.
    expect(r.downloaded).toBeGreaterThanOrEqual(4)
    expectBudgetStop(r)
    // The first file left would not have fitted.
    expect(r.bytes + r.failures[0]!.size!).toBeGreaterThan(8000)
    const again = await sync(dir)
    expect(again.downloaded + r.downloaded).toBe(expectedHashes(lib).length)
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
    expect(fetchesPerAsset(lib.downloadLog)).toEqual([1])
  })

  it('max-bytes smaller than one file still moves the backup on: one file per run', async () => {
    const { lib, sync } = await setup({ count: 3, kinds: ['jpeg'], seed: 95, minBytes: 1000, maxBytes: 2000 })
    const dir = tmp('budget-tiny-')
    const r = await sync(dir, { maxBytes: 10 })
    expect(r.downloaded).toBe(1)
    expectBudgetStop(r)
    expect(lib.downloadLog.length).toBe(1)
  })

  it('max-duration with an injected clock: once the time is up nothing new starts, the files in flight finish', async () => {
    const { lib, sync } = await setup({ count: 30, kinds: ['jpeg'], seed: 96 })
    const dir = tmp('budget-time-')
    let t = 1_000_000
    // The clock jumps past the budget once the third file is in.
    const r = await sync(
      dir,
      { maxDuration: '5h' },
      {
        now: () => t,
        progress: (p) => {
          if (p.downloaded >= 3) t = 1_000_000 + 5 * 3_600_000
        },
      },
    )
    expect(r.downloaded).toBeGreaterThanOrEqual(3)
    expect(r.downloaded).toBeLessThan(expectedHashes(lib).length)
    expectBudgetStop(r)
    // Every file that was started finished: nothing half-done, nothing failed.
    expect(lib.downloadLog.length).toBe(r.downloaded)
    expect(diskHashes(dir)).toHaveLength(r.downloaded)
    const again = await sync(dir)
    expect(again.downloaded).toBe(expectedHashes(lib).length - r.downloaded)
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
    expect(fetchesPerAsset(lib.downloadLog)).toEqual([1])
  })

  it('max-duration: no file starts once the time is up, not even one already queued; the one started finishes', async () => {
    const { lib, sync } = await setup({ count: 20, kinds: ['jpeg'], seed: 99 })
    const dest = new MemoryDestination()
    let t = 0
    // One stream: files start one after the other. The clock passes the budget as the third starts.
    dest.onOpen = (n) => {
      if (n === 3) t = 3_600_000
    }
    const r = await sync(
      tmp('budget-queue-'),
      { maxDuration: '1h', threads: 1 },
      { destination: dest, now: () => t },
    )
    expect(r.downloaded).toBe(3)
    expect(dest.calls.openWriter).toBe(3)
    expect(lib.downloadLog.length).toBe(3)
    expectBudgetStop(r)
    expect(r.failures.length).toBe(expectedHashes(lib).length - 3)
  })

  it('max-duration reached while listing stops the listing (its tokens do not move) even when nothing is to download', async () => {
    const { lib, sync } = await setup({ count: 12, kinds: ['jpeg'], seed: 97 })
    const dir = tmp('budget-list-')
    await sync(dir)
    lib.addAssets(3)
    // Listing after the time is up: the assets of the page are planned, none starts.
    const r = await sync(dir, { maxDuration: 0 })
    expect(r.downloaded).toBe(0)
    expect(r.stopReason).toBe('budget')
    expect(r.listingComplete).toBe(false)
    expect(r.remaining).toBe(3)
    expect(photosOutcome(r).status).toBe('incomplete')
    const again = await sync(dir)
    expect(again.downloaded).toBe(3)
    expect(diskHashes(dir)).toEqual(expectedHashes(lib))
  })

  it('bad budgets are config errors naming the key; sizes parse with decimal and binary units', async () => {
    expect(parseSize('50GB')).toBe(50e9)
    expect(parseSize('500MiB')).toBe(500 * 2 ** 20)
    expect(parseSize('1.5 TB')).toBe(1.5e12)
    expect(parseSize('1000000')).toBe(1e6)
    expect(parseSize(42)).toBe(42)
    const { sync } = await setup({ count: 2, kinds: ['jpeg'], seed: 98 })
    for (const [options, key] of [
      [{ maxBytes: 'lots' }, 'photos.max-bytes'],
      [{ maxBytes: '5 PB' }, 'photos.max-bytes'],
      [{ maxDuration: 'a while' }, 'photos.max-duration'],
      [{ maxFiles: 0 }, 'photos.max-files'],
    ] as const) {
      const err = await sync(tmp('budget-bad-'), options).catch((e: unknown) => e)
      expect(isAppError(err, 'CONFIG_INVALID'), String(err)).toBe(true)
      expect((err as Error).message).toContain(key)
    }
    const base = 'account:\n  username: someone@example.com\nphotos:\n  directory: /tmp/p\n'
    const bad = (yaml: string) => {
      try {
        parseConfig(base + yaml, 'config.yml')
        return undefined
      } catch (err) {
        return err as { issues?: Array<{ path: string }> }
      }
    }
    expect(bad('  max-bytes: lots\n')?.issues?.map((i) => i.path)).toEqual(['photos.max-bytes'])
    expect(bad('  max-duration: 5 hours\n')?.issues?.map((i) => i.path)).toEqual(['photos.max-duration'])
    expect(bad('  max-files: 0\n')?.issues?.map((i) => i.path)).toEqual(['photos.max-files'])
    const ok = parseConfig(base + '  max-bytes: 50GB\n  max-duration: 5h\n  max-files: 100\n', 'config.yml')
    expect([ok.photos.maxBytes, ok.photos.maxDuration, ok.photos.maxFiles]).toEqual(['50GB', '5h', 100])
  })
})
