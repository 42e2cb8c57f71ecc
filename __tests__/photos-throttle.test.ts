// Throttling, the throttle budget, honest failure lists, cancellation and checkpoints of the photos
// engine, against the fake CloudKit (real HTTP on 127.0.0.1). No timing asserts: the only times
// compared are the fake's own request times, to check that a Retry-After was honoured.
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isAppError } from '../src/core/errors.js'
import type { HttpClient } from '../src/icloud/http.js'
import { loadStateFile, serializeState, parseState, type SyncState } from '../src/photos/state.js'
import type { FileProblem, SyncResult } from '../src/photos/sync.js'
import {
  AdaptiveLimit,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  ThrottleGovernor,
} from '../src/photos/throttle.js'
import { parseDuration } from '../src/util/duration.js'
import { diskFiles, expectedHashes, expectedResources, photosHarness } from './helpers/photos-harness.js'

const { tmp, setup } = photosHarness({ threads: 4, retries: 1, clientId: 'auth-thr', dsid: '77' })

/** Final files on disk (relPath), `.part` and the state file left out. */
function finals(dir: string): Set<string> {
  return new Set([...diskFiles(dir).keys()].filter((p) => !p.endsWith('.part')))
}

/** Every planned file is either on disk or in `failures`, exactly once. */
function expectAccountedFor(r: SyncResult, dir: string, files: number): void {
  const onDisk = finals(dir)
  const listed = r.failures.map((f) => f.relPath)
  expect(new Set(listed).size).toBe(listed.length)
  for (const p of listed) expect(onDisk.has(p), `${p} is listed as missing but is on disk`).toBe(false)
  expect(onDisk.size + listed.length).toBe(files)
  expect(r.remaining).toBe(r.failures.length)
}

describe('Retry-After and durations', () => {
  it('reads seconds and HTTP dates, caps long waits, ignores garbage', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0)
    expect(parseRetryAfter('1', now)).toBe(1000)
    expect(parseRetryAfter(' 2.5 ', now)).toBe(2500)
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 11:59:00 GMT', now)).toBe(0) // in the past: now
    expect(parseRetryAfter('3600', now)).toBe(MAX_RETRY_AFTER_MS)
    expect(MAX_RETRY_AFTER_MS).toBe(5 * 60_000)
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('-5', now)).toBeUndefined()
  })

  it('parses config durations and refuses anything else with CONFIG_INVALID', () => {
    expect(parseDuration('30m')).toBe(1_800_000)
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('2h')).toBe(7_200_000)
    expect(parseDuration('1h30m')).toBe(5_400_000)
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('0')).toBe(0)
    expect(parseDuration(1234)).toBe(1234)
    for (const bad of ['30', 'm', '1 h', '-1s', '1d', ''])
      expect(() => parseDuration(bad, 'photos.max-throttle-wait')).toThrow(/photos.max-throttle-wait/)
    try {
      parseDuration('soon')
    } catch (err) {
      expect(isAppError(err, 'CONFIG_INVALID')).toBe(true)
    }
  })
})

describe('AIMD download streams', () => {
  it('halves on throttling down to 1, once per burst, and grows back by one per window of successes up to the ceiling', () => {
    const l = new AdaptiveLimit(8)
    expect(l.limit).toBe(8)
    // Four requests in flight when the limit was 8 are all throttled: one decrease, not four.
    const epoch = l.mark()
    for (let i = 0; i < 4; i++) l.throttled(epoch)
    expect(l.limit).toBe(4)
    l.throttled(l.mark())
    l.throttled(l.mark())
    l.throttled(l.mark())
    expect(l.limit).toBe(1)
    expect(l.lowest).toBe(1)
    l.succeeded()
    expect(l.limit).toBe(2) // window = current limit (1)
    l.succeeded()
    expect(l.limit).toBe(2)
    l.succeeded()
    expect(l.limit).toBe(3)
    for (let i = 0; i < 100; i++) l.succeeded()
    expect(l.limit).toBe(8) // never above the ceiling
  })

  it('starts below the ceiling and earns streams up to it while nothing is throttled', () => {
    const l = new AdaptiveLimit(16, 8)
    expect(l.limit).toBe(8)
    // Slow start: before any throttling each success adds a stream.
    for (let i = 0; i < 5; i++) l.succeeded()
    expect(l.limit).toBe(13)
    for (let i = 0; i < 1000; i++) l.succeeded()
    expect(l.limit).toBe(16)
    l.throttled(l.mark())
    expect(l.limit).toBe(8)
    // After throttling: one more stream per window of `limit` successes.
    for (let i = 0; i < 7; i++) l.succeeded()
    expect(l.limit).toBe(8)
    l.succeeded()
    expect(l.limit).toBe(9)
    // A start above the ceiling is capped.
    expect(new AdaptiveLimit(4, 8).limit).toBe(4)
  })

  it('acquire waits while the slots are taken', async () => {
    const l = new AdaptiveLimit(2)
    await l.acquire()
    await l.acquire()
    let third = false
    const p = l.acquire().then(() => (third = true))
    await new Promise((r) => setImmediate(r))
    expect(third).toBe(false)
    l.release()
    await p
    expect(third).toBe(true)
    expect(l.active).toBe(2)
  })
})

describe('throttle governor', () => {
  it('backs off exponentially with jitter when there is no Retry-After, and honours one when there is', () => {
    const g = new ThrottleGovernor({ maxWaitMs: 60_000, baseMs: 100, capMs: 1000, random: () => 1 })
    expect([g.delayFor(undefined), g.delayFor(undefined), g.delayFor(undefined)]).toEqual([100, 200, 400])
    expect(g.delayFor(undefined)).toBe(800)
    expect(g.delayFor(undefined)).toBe(1000) // capped
    expect(g.delayFor(2500)).toBe(2500)
    g.noteSuccess()
    expect(g.delayFor(undefined)).toBe(100) // the streak is over
    expect(g.delayFor(undefined, 4)).toBe(800) // …but a request refused 4 times in a row still backs off
    const low = new ThrottleGovernor({ maxWaitMs: 0, baseMs: 100, random: () => 0 })
    expect(low.delayFor(undefined)).toBe(50) // equal jitter: never below half
  })

  it('the budget counts only stalled time: a wait while other requests progress is free; a stall ends at the budget', async () => {
    const g = new ThrottleGovernor({ maxWaitMs: 50 })
    // Busy elsewhere: a 120 ms wait completes and costs nothing.
    let release!: () => void
    const busy = g.working(() => new Promise<void>((r) => (release = r)))
    expect(await g.pause(120)).toBe(true)
    release()
    await busy
    expect(g.spentMs).toBe(0)
    expect(g.exhausted).toBe(false)
    // Nothing else going on: the same wait is a stall, cut short when the 50 ms budget is used up.
    expect(await g.pause(10_000)).toBe(false)
    expect(g.exhausted).toBe(true)
    expect(g.spentMs).toBeGreaterThanOrEqual(50)
    expect(await g.pause(1)).toBe(false)
  })

  it('a cancel ends a wait at once', async () => {
    const ac = new AbortController()
    const g = new ThrottleGovernor({ maxWaitMs: 60_000, signal: ac.signal })
    const p = g.pause(60_000)
    ac.abort()
    expect(await p).toBe(false)
  })
})

describe('throttling in a sync run', () => {
  it('a persistent 503 on one file: the run slows down, then stops at the throttle budget with every missing file listed', async () => {
    const { lib, sync } = await setup({ count: 40, kinds: ['jpeg'], seed: 31 })
    const all = lib.visibleAssets()
    const victim = all[5]!
    lib.downloadFaults.push({ kind: 'status', status: 503, assetId: victim.id, times: Infinity })
    const dir = tmp('thr-budget-')
    const info: string[] = []
    const warn: string[] = []
    const r = await sync(
      dir,
      { maxThrottleWait: '300ms', folderStructure: 'none' },
      { log: { info: (m) => info.push(m), warning: (m) => warn.push(m) } },
    )
    expect(r.stopReason).toBe('throttled')
    expect(r.throttled).toBe(true)
    expect(r.throttleError?.code).toBe('THROTTLED')
    expect(r.throttleError?.message).toMatch(/photos.max-throttle-wait/)
    expect(warn.join('\n')).toMatch(/max-throttle-wait/)
    expect(info.join('\n')).toMatch(
      /throttled \d+ requests?; the run slowed down \(down to 1 download stream/,
    )
    expect(r.failed).toBe(0)
    expectAccountedFor(r, dir, all.length)
    expect(r.failures.length).toBeGreaterThan(0)
    for (const f of r.failures) expect(f.reason).toBe('throttled')
    const v = r.failures.find((f) => f.assetId === victim.id)!
    expect(v).toMatchObject({ reason: 'throttled', relPath: victim.filename })
    expect(v.size).toBe(lib.describe(lib.privateZone, victim.index).resources[0]!.size)
    // The victim was tried again (backoff) but not hammered: every request is in `attempts`.
    const tries = lib.downloadLog.filter((d) => d.assetId === victim.id).length
    expect(tries).toBeGreaterThan(1)
    expect(v.attempts).toBe(tries)
    expect(tries).toBeLessThan(15)
    expect(r.state.zoneSyncToken).toBeUndefined()

    lib.downloadFaults.length = 0
    const rest = await sync(dir, { folderStructure: 'none' })
    expect(rest).toMatchObject({ failures: [], remaining: 0, listingComplete: true })
    expect(rest.downloaded).toBe(r.failures.length)
    expect([...diskFiles(dir).values()].sort()).toEqual(expectedHashes(lib))
  })

  it('a persistent 503 on the listing stops at the budget: listing incomplete, what was downloaded kept, tokens not moved', async () => {
    const { fake, lib, sync } = await setup({ count: 250, kinds: ['jpeg'], seed: 32 })
    const dir = tmp('thr-list-')
    let pages = 0
    const take = fake.server.takeFault.bind(fake.server)
    // Page 2 on (records/query #3: #1 is the indexing check) answers 503 with Retry-After: 1.
    fake.server.takeFault = (ep: string) =>
      ep === 'ck:records/query' && ++pages >= 3
        ? { status: 503, headers: { 'retry-after': '1' }, body: '' }
        : take(ep)
    const r = await sync(dir, { maxThrottleWait: '1500ms', folderStructure: 'none' })
    expect(r).toMatchObject({ stopReason: 'throttled', throttled: true, listingComplete: false })
    expect(r.throttleError?.message).toMatch(/not yet listed/)
    expect(r.throttleError?.retryAfter).toBe(1)
    expect(r.downloaded).toBe(100) // page 1, whole
    expect(finals(dir).size).toBe(100)
    expect(r.failures).toEqual([])
    expect(r.remaining).toBe(0) // a lower bound: listingComplete=false says more may remain
    // Retry-After honoured between the listing's attempts.
    const asks = fake.server.log.filter((e) => e.endpoint === 'ck:records/query').slice(2)
    expect(asks.length).toBeGreaterThanOrEqual(2)
    for (let i = 1; i < asks.length; i++) expect(asks[i]!.at - asks[i - 1]!.at).toBeGreaterThanOrEqual(1000)
    expect((await loadStateFile(dir))?.dbSyncToken).toBeUndefined()

    fake.server.takeFault = take
    const rest = await sync(dir, { folderStructure: 'none' })
    expect(rest).toMatchObject({ listingComplete: true, failures: [] })
    expect(rest.downloaded).toBe(lib.visibleAssets().length - 100)
  })

  it('a failed file is listed with its reason, detail and attempts; the run goes on', async () => {
    const { lib, sync } = await setup({ count: 12, kinds: ['jpeg'], seed: 33 })
    const victim = lib.visibleAssets()[2]!
    lib.downloadFaults.push({ kind: 'status', status: 500, assetId: victim.id, times: Infinity })
    const dir = tmp('thr-fail-')
    const r = await sync(dir, { folderStructure: 'none' })
    expect(r.failures).toEqual([
      {
        relPath: victim.filename,
        assetId: victim.id,
        size: lib.describe(lib.privateZone, victim.index).resources[0]!.size,
        reason: 'failed',
        detail: 'HTTP 500',
        attempts: 2, // 1 + retries (1)
      } satisfies FileProblem,
    ])
    expect(r).toMatchObject({ failed: 1, remaining: 1, listingComplete: true })
    expect(r.stopReason).toBeUndefined()
    expectAccountedFor(r, dir, lib.visibleAssets().length)
  })

  it('a failure detail never carries a URL (signed download links are credentials)', async () => {
    const { lib, sync } = await setup({ count: 3, kinds: ['jpeg'], seed: 37 })
    const secret = 'https://cvws.icloud-content.com/B/AQ-signed/${f}?o=token123&e=9'
    const http = {
      request: async () => {
        throw Object.assign(new Error(`connect ECONNREFUSED ${secret}`), { code: 'ECONNREFUSED' })
      },
    } as unknown as HttpClient
    const r = await sync(tmp('thr-url-'), { folderStructure: 'none' }, { http })
    expect(r.failures.length).toBe(lib.visibleAssets().length)
    for (const f of r.failures) {
      expect(f).toMatchObject({ reason: 'failed', attempts: 2 })
      expect(f.detail).toBe('network error (connect ECONNREFUSED <url>)')
    }
    expect(JSON.stringify(r.failures)).not.toContain('token123')
  })
})

describe('cancellation and checkpoints', () => {
  it('an abort starts nothing new, parks in-flight files as .part, saves the state and lists the rest as cancelled; the rerun finishes without fetching anything twice', async () => {
    const { lib, sync } = await setup({
      count: 60,
      kinds: ['jpeg'],
      seed: 34,
      minBytes: 3000,
      maxBytes: 4000,
    })
    const all = lib.visibleAssets()
    // One slow file, so a download is in flight when the run is cancelled.
    const slow = all[12]!
    lib.downloadFaults.push({ kind: 'slow', assetId: slow.id, chunkBytes: 500, delayMs: 200 })
    const dir = tmp('thr-cancel-')
    const ac = new AbortController()
    const checkpoints: SyncState[] = []
    const r = await sync(
      dir,
      { folderStructure: 'none', threads: 2 },
      {
        signal: ac.signal,
        progress: (p) => {
          if (p.downloaded >= 15 && !ac.signal.aborted) ac.abort()
        },
        onCheckpoint: (s) => void checkpoints.push(parseState(serializeState(s))!),
      },
    )
    expect(r.stopReason).toBe('cancelled')
    expect(r.throttled).toBe(false)
    expect(r.downloaded).toBeGreaterThanOrEqual(15)
    expect(r.downloaded).toBeLessThan(all.length)
    expect(r.failures.length).toBeGreaterThan(0)
    for (const f of r.failures) expect(f.reason).toBe('cancelled')
    expectAccountedFor(r, dir, all.length)
    // Nothing new started after the abort: at most the in-flight ones (2 streams) beyond the finished.
    const requested = new Set(lib.downloadLog.map((d) => d.assetId))
    expect(requested.size).toBeLessThanOrEqual(r.downloaded + 2)
    // In-flight files (the slow one at least) were parked, not thrown away: their .part is there to
    // resume, and each is a listed, started file.
    const parked = readdirSync(dir).filter((f) => f.endsWith('.part'))
    expect(parked).toContain(`${slow.filename}.part`)
    for (const p of parked) {
      expect(r.failures.find((f) => `${f.relPath}.part` === p)).toMatchObject({
        reason: 'cancelled',
        attempts: 1,
      })
    }
    // The state on disk and the last checkpoint know every downloaded file; tokens did not move.
    const saved = (await loadStateFile(dir))!
    expect(saved.running).toBeFalsy()
    expect(saved.zoneSyncToken).toBeUndefined()
    const last = checkpoints.at(-1)!
    for (const rel of finals(dir)) {
      const a = all.find((x) => x.filename === rel)!
      expect(last.manifest.get(a.id)?.map((m) => m.relPath)).toContain(rel)
      expect(saved.manifest.get(a.id)?.map((m) => m.relPath)).toContain(rel)
    }

    lib.downloadFaults.length = 0
    const before = lib.downloadLog.length
    const rest = await sync(dir, { folderStructure: 'none' })
    expect(rest).toMatchObject({ failures: [], listingComplete: true })
    expect(rest.stopReason).toBeUndefined()
    expect(rest.downloaded).toBe(r.failures.length)
    expect([...diskFiles(dir).values()].sort()).toEqual(expectedHashes(lib))
    const again = lib.downloadLog.slice(before)
    const done1 = new Set(all.filter((a) => !r.failures.some((f) => f.assetId === a.id)).map((a) => a.id))
    expect(again.filter((d) => done1.has(d.assetId))).toEqual([]) // nothing fetched twice
    expect(again.find((d) => d.assetId === slow.id)!.rangeStart).toBeGreaterThan(0) // resumed
    expect(existsSync(path.join(dir, `${slow.filename}.part`))).toBe(false)
  })

  it('a cancel during a throttle wait on the listing returns at once as cancelled, not as an error', async () => {
    const { fake, sync } = await setup({ count: 150, kinds: ['jpeg'], seed: 36 })
    let pages = 0
    const take = fake.server.takeFault.bind(fake.server)
    fake.server.takeFault = (ep: string) =>
      ep === 'ck:records/query' && ++pages === 3
        ? { status: 503, headers: { 'retry-after': '120' }, body: '' }
        : take(ep)
    const ac = new AbortController()
    const started = fake.server.log.length
    // Cancel once the 503 has been answered (the run is then waiting out the Retry-After).
    const timer = setInterval(() => {
      if (fake.server.log.slice(started).some((e) => e.status === 503)) ac.abort()
    }, 5)
    try {
      const r = await sync(tmp('thr-cancel-list-'), { folderStructure: 'none' }, { signal: ac.signal })
      expect(r).toMatchObject({ stopReason: 'cancelled', listingComplete: false, throttled: false })
      // Page 1 is accounted for: downloaded, or in flight at the cancel and listed as cancelled.
      expect(r.downloaded + r.failures.length).toBe(100)
      for (const f of r.failures) expect(f.reason).toBe('cancelled')
      expect(r.state.zoneSyncToken).toBeUndefined()
      // The wait was cut short: page 2 was never asked for again.
      expect(fake.server.log.filter((e) => e.endpoint === 'ck:records/query').length).toBe(3)
    } finally {
      clearInterval(timer)
      fake.server.takeFault = take
    }
  })

  it('checkpoints every N files (before the time limit), each knowing every file the one before knew, and once at the end with the tokens', async () => {
    const { lib, sync } = await setup({ count: 45, kinds: ['jpeg', 'live'], seed: 35 })
    const files = lib.visibleAssets().reduce((n, a) => n + expectedResources(a).length, 0)
    const dir = tmp('thr-ckpt-')
    const seen: Array<{ files: number; token?: string; running?: boolean }> = []
    const count = (s: SyncState) => [...s.manifest.entries()].reduce((n, [, fs]) => n + fs.length, 0)
    const r = await sync(
      dir,
      { folderStructure: 'none' },
      {
        checkpointFiles: 10,
        checkpointMs: 3_600_000,
        onCheckpoint: (s) => void seen.push({ files: count(s), token: s.zoneSyncToken, running: s.running }),
      },
    )
    expect(r.failures).toEqual([])
    expect(r.downloaded).toBe(files)
    // The "running" mark, one every 10 downloads, and the end.
    expect(seen.length).toBeGreaterThanOrEqual(1 + Math.floor(files / 10))
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.files).toBeGreaterThanOrEqual(seen[i - 1]!.files)
    const mid = seen.slice(0, -1)
    expect(mid.some((c) => c.files >= 10 && c.files < files)).toBe(true)
    for (const c of mid) expect(c.token).toBeUndefined() // tokens never ahead of unfinished work
    expect(seen.at(-1)).toMatchObject({ files, running: false })
    expect(seen.at(-1)!.token).toBeDefined()
  })
})
