/**
 * The deletion options against the fake CloudKit (real HTTP): keep-icloud-recent-days and
 * delete-after-download move assets to Recently Deleted with icloudpd's records/modify, only when
 * every requested file is verified in the backup, capped per run, never in hand-off mode, listed
 * (not done) in a dry run; auto-delete removes the backup's files of assets in Recently Deleted.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterEach, describe, expect, it } from 'vitest'
import reportSchema from '../schemas/report.schema.json' with { type: 'json' }
import { writeReport, type RunReport } from '../src/action/report.js'
import { diskFiles, photosHarness } from './helpers/photos-harness.js'
import { ckError } from '../sim/icloud/cloudkit.js'
import type { FakeLibrary } from '../sim/icloud/library.js'
import { resolveConfig } from '../src/cli/options.js'
import { autoDelete } from '../src/photos/auto-delete.js'
import { CloudKitClient } from '../src/photos/cloudkit.js'
import { DirectoryDestination } from '../src/photos/directory-destination.js'
import { resolveOptions } from '../src/photos/options.js'
import type { PhotosOptions } from '../src/photos/sync.js'
import { loadStateFile } from '../src/photos/state.js'

const { tmp, setup } = photosHarness({ threads: 4, retries: 1, clientId: 'delete-test', dsid: '9' })

const DAY = 86_400_000
const NOW = Date.UTC(2026, 5, 1, 12)

/** A log that keeps its lines, for asserting warnings. */
function recordingLog() {
  const lines: string[] = []
  return {
    lines,
    log: {
      info: (m: string) => void lines.push(`info: ${m}`),
      warning: (m: string) => void lines.push(`warning: ${m}`),
    },
  }
}

/** 12 plain photos, one every 3 days, the newest 2 days before NOW (no hidden/deleted ones). */
function recentLibrary(count = 12) {
  return {
    count,
    kinds: ['heic', 'jpeg'] as Array<'heic' | 'jpeg'>,
    hiddenRate: 0,
    deletedRate: 0,
    editedRate: 0,
    startDate: NOW - (2 + 3 * (count - 1)) * DAY - DAY / 2,
    stepMs: 3 * DAY,
  }
}

const ageDays = (lib: FakeLibrary, id: string) => {
  const a =
    lib.visibleAssets().find((x) => x.id === id) ??
    lib.hiddenAssets(undefined, 'deleted').find((x) => x.id === id)
  return Math.floor((NOW - a!.assetDate) / DAY)
}

const recentlyDeletedIds = (lib: FakeLibrary) =>
  lib
    .hiddenAssets(lib.privateZone, 'deleted')
    .map((a) => a.id)
    .sort()

describe('keep-icloud-recent-days / delete-after-download', () => {
  it('moves exactly the assets at least N days old to Recently Deleted, with icloudpd request, after backing them up', async () => {
    const { lib, sync } = await setup(recentLibrary())
    const dir = tmp('del-keep-')
    const before = lib.visibleAssets()
    const old = before
      .filter((a) => Math.floor((NOW - a.assetDate) / DAY) >= 10)
      .map((a) => a.id)
      .sort()
    expect(old.length).toBeGreaterThan(3)
    expect(old.length).toBeLessThan(before.length)
    const tags = new Map(before.map((a) => [a.id, lib.assetChangeTag(lib.privateZone, a.index)]))

    const r = await sync(dir, { keepIcloudRecentDays: 10 }, { now: () => NOW })

    expect(r.failed).toBe(0)
    expect(r.downloaded).toBe(before.length)
    expect(r.deleted.map((d) => d.assetId).sort()).toEqual(old)
    expect(recentlyDeletedIds(lib)).toEqual(old)
    for (const d of r.deleted) expect(ageDays(lib, d.assetId)).toBeGreaterThanOrEqual(10)
    // icloudpd's request: one update per asset, application/json, under the tag the listing saw.
    expect(lib.modifications).toHaveLength(old.length)
    for (const m of lib.modifications) {
      expect(m.outcome).toBe('ok')
      expect(m.contentType).toBe('application/json')
      expect(m.recordChangeTag).toBe(tags.get(m.recordName))
    }
    // The backup keeps every file, the deleted ones included, at their recorded size.
    const state = await loadStateFile(dir)
    for (const d of r.deleted) {
      expect(d.files.length).toBeGreaterThan(0)
      for (const f of d.files) {
        const rec = state!.manifest.get(d.assetId)!.find((x) => x.relPath === f)!
        expect(statSync(path.join(dir, f)).size).toBe(rec.size)
      }
    }
    // The newer ones stay in iCloud.
    expect(
      lib
        .visibleAssets()
        .map((a) => a.id)
        .sort(),
    ).toEqual(
      before
        .map((a) => a.id)
        .filter((id) => !old.includes(id))
        .sort(),
    )
  })

  it('delete-after-download deletes every backed-up asset but never one whose download failed', async () => {
    const { lib, sync } = await setup(recentLibrary(6))
    const dir = tmp('del-after-')
    const assets = lib.visibleAssets()
    const broken = assets[2]!
    lib.downloadFaults.push({ kind: 'status', status: 404, assetId: broken.id, times: Infinity })

    const r = await sync(dir, { deleteAfterDownload: true }, { now: () => NOW })

    expect(r.failed).toBe(1)
    const expected = assets
      .filter((a) => a.id !== broken.id)
      .map((a) => a.id)
      .sort()
    expect(r.deleted.map((d) => d.assetId).sort()).toEqual(expected)
    expect(recentlyDeletedIds(lib)).toEqual(expected)
    expect(lib.visibleAssets().map((a) => a.id)).toEqual([broken.id])
  })

  it('never deletes an asset whose file is missing or the wrong size in the backup', async () => {
    const { lib, sync } = await setup(recentLibrary(4))
    const dir = tmp('del-verify-')
    await sync(dir, {}, { now: () => NOW })
    const state = await loadStateFile(dir)
    const [a, b] = lib.visibleAssets()
    const fa = state!.manifest.get(a!.id)![0]!.relPath
    const fb = state!.manifest.get(b!.id)![0]!.relPath
    // The storage reports one file missing and one at another size than recorded.
    const stat = statOverride(
      dir,
      new Map([
        [fa, 7],
        [fb, undefined],
      ]),
    )
    const r = await sync(
      dir,
      { keepIcloudRecentDays: 0 },
      { now: () => NOW, files: { stat, remove: async () => {} } },
    )
    const deleted = r.deleted.map((d) => d.assetId)
    expect(deleted).not.toContain(a!.id)
    expect(deleted).not.toContain(b!.id)
    expect(deleted).toHaveLength(2)
    expect(recentlyDeletedIds(lib)).toEqual(deleted.sort())
  })

  it('caps the deletions per run with a warning; the next run continues', async () => {
    const { lib, sync } = await setup(recentLibrary(8))
    const dir = tmp('del-cap-')
    const { lines, log } = recordingLog()
    const r1 = await sync(dir, { keepIcloudRecentDays: 0, maxIcloudDeletions: 3 }, { now: () => NOW, log })
    expect(r1.deleted).toHaveLength(3)
    expect(recentlyDeletedIds(lib)).toHaveLength(3)
    expect(lines.some((l) => l.startsWith('warning:') && l.includes('max-icloud-deletions (3)'))).toBe(true)

    const r2 = await sync(dir, { keepIcloudRecentDays: 0, maxIcloudDeletions: 3 }, { now: () => NOW })
    expect(r2.deleted).toHaveLength(3)
    expect(r2.downloaded).toBe(0)
    const r3 = await sync(dir, { keepIcloudRecentDays: 0, maxIcloudDeletions: 3 }, { now: () => NOW })
    expect(r3.deleted).toHaveLength(2)
    expect(lib.visibleAssets()).toHaveLength(0)
    expect(recentlyDeletedIds(lib)).toHaveLength(8)
    // Every file is still in the backup.
    expect(diskFiles(dir).size).toBe(8)
  })

  it('a dry run lists what it would delete and deletes nothing', async () => {
    const { lib, sync } = await setup(recentLibrary(5))
    const dir = tmp('del-dry-')
    const { lines, log } = recordingLog()
    // Nothing downloaded yet: the dry run counts what it would download as backed up.
    const r = await sync(dir, { keepIcloudRecentDays: 0, dryRun: true }, { now: () => NOW, log })
    expect(r.deleted).toHaveLength(5)
    expect(lib.modifications).toHaveLength(0)
    expect(lib.visibleAssets()).toHaveLength(5)
    expect(lines.filter((l) => l.includes('[dry run] would delete') && l.includes('in iCloud'))).toHaveLength(
      5,
    )
    expect(diskFiles(dir).size).toBe(0)
  })

  it('hand-off mode refuses with a clear warning and deletes nothing', async () => {
    const { lib, sync } = await setup(recentLibrary(3))
    const dir = tmp('del-handoff-')
    const { lines, log } = recordingLog()
    const r = await sync(dir, { keepIcloudRecentDays: 0, handOff: true }, { now: () => NOW, log })
    expect(r.downloaded).toBe(3)
    expect(r.deleted).toEqual([])
    expect(lib.modifications).toHaveLength(0)
    expect(lib.visibleAssets()).toHaveLength(3)
    expect(lines.some((l) => l.startsWith('warning:') && l.includes('hand-off mode'))).toBe(true)
  })

  it('refuses when the options leave originals out of the backup (medium only, no Live Photo movie)', async () => {
    const { lib, sync } = await setup({ ...recentLibrary(3), kinds: ['live'] })
    for (const [options, why] of [
      [{ size: ['medium'] }, 'photos.size does not include `original`'],
      [{ skipLivePhotos: true }, 'photos.skip-live-photos is on'],
      [{ livePhotoSize: 'thumb' }, 'photos.live-photo-size is not `original`'],
    ] as Array<[PhotosOptions, string]>) {
      const { lines, log } = recordingLog()
      const r = await sync(
        tmp('del-partial-'),
        { ...options, keepIcloudRecentDays: 0 },
        { now: () => NOW, log },
      )
      expect(r.downloaded).toBeGreaterThan(0)
      expect(r.deleted).toEqual([])
      expect(lines.some((l) => l.startsWith('warning:') && l.includes(why))).toBe(true)
    }
    expect(lib.modifications).toHaveLength(0)
    expect(lib.visibleAssets()).toHaveLength(3)
  })

  it('a refused records/modify is a warning: that photo stays, the others are deleted', async () => {
    const { lib, fake, sync } = await setup(recentLibrary(4))
    const dir = tmp('del-fail-')
    fake.server.inject('ck:records/modify', ckError('BAD_REQUEST', 'refused by test', 400, 1))
    const { lines, log } = recordingLog()
    const r = await sync(dir, { keepIcloudRecentDays: 0 }, { now: () => NOW, log })
    expect(r.deleteFailed).toBe(1)
    expect(r.deleted).toHaveLength(3)
    expect(lib.visibleAssets()).toHaveLength(1)
    expect(lines.some((l) => l.startsWith('warning:') && l.includes('stays in iCloud'))).toBe(true)
  })

  it('an error answer to every modify (HTTP 500) is survived: nothing deleted, the run still returns', async () => {
    const { lib, fake, sync } = await setup(recentLibrary(3))
    const dir = tmp('del-500-')
    fake.server.inject('ck:records/modify', { status: 500, times: Infinity, body: '<html>oops</html>' })
    const { lines, log } = recordingLog()
    const r = await sync(dir, { keepIcloudRecentDays: 0 }, { now: () => NOW, log })
    expect(r.downloaded).toBe(3)
    expect(r.deleted).toEqual([])
    expect(r.deleteFailed).toBe(1)
    expect(lib.visibleAssets()).toHaveLength(3)
    expect(lines.some((l) => l.includes('more are left for the next run'))).toBe(true)
  })

  it('a throttled records/modify slows down and goes through; throttling beyond the budget is survived', async () => {
    const { lib, fake, sync } = await setup(recentLibrary(4))
    const dir = tmp('del-throttle-')
    fake.server.inject('ck:records/modify', { status: 503, times: 2, headers: { 'retry-after': '0' } })
    const r = await sync(dir, { keepIcloudRecentDays: 0 }, { now: () => NOW })
    expect(r.deleted).toHaveLength(4)
    expect(lib.visibleAssets()).toHaveLength(0)
    expect(lib.modifications).toHaveLength(4)
    const modifyLog = fake.server.log.filter((e) => e.endpoint === 'ck:records/modify')
    expect(modifyLog.map((e) => e.status)).toEqual([503, 503, 200, 200, 200, 200])

    const { lib: lib2, fake: fake2, sync: sync2 } = await setup(recentLibrary(3))
    const dir2 = tmp('del-throttle2-')
    fake2.server.inject('ck:records/modify', { status: 503, times: Infinity })
    const { lines, log } = recordingLog()
    const r2 = await sync2(dir2, { keepIcloudRecentDays: 0, maxThrottleWait: '0' }, { now: () => NOW, log })
    expect(r2.downloaded).toBe(3)
    expect(r2.deleted).toEqual([])
    expect(r2.deleteFailed).toBe(1)
    expect(lib2.visibleAssets()).toHaveLength(3)
    expect(lines.some((l) => l.startsWith('warning:') && l.includes('stays in iCloud'))).toBe(true)
    expect(lines.join('\n')).not.toMatch(/https?:\/\//)
  })

  it('an asset edited in iCloud after it was listed is refused (CONFLICT) and kept', async () => {
    const { lib, client, sync } = await setup(recentLibrary(3))
    const dir = tmp('del-conflict-')
    const target = lib.visibleAssets()[1]!
    const racing = raceClient(client, async (recordName) => {
      if (recordName === target.id) lib.setFilename(target.id, 'EDITED.HEIC')
    })
    const r = await sync(dir, { keepIcloudRecentDays: 0 }, { now: () => NOW, client: racing })
    expect(r.deleted.map((d) => d.assetId)).not.toContain(target.id)
    expect(r.deleted).toHaveLength(2)
    expect(r.deleteFailed).toBe(1)
    expect(lib.visibleAssets().map((a) => a.id)).toEqual([target.id])
    expect(lib.modifications.find((m) => m.recordName === target.id)?.outcome).toBe('CONFLICT')
  })

  it('a delete sent twice (a retried request) counts once: the CONFLICT is resolved by a lookup', async () => {
    const { lib, client, sync } = await setup(recentLibrary(2))
    const dir = tmp('del-twice-')
    const twice = Object.create(client) as CloudKitClient
    twice.markDeleted = async (...args) => {
      await client.markDeleted(...args)
      return client.markDeleted(...args)
    }
    const r = await sync(dir, { keepIcloudRecentDays: 0 }, { now: () => NOW, client: twice })
    expect(r.deleted).toHaveLength(2)
    expect(r.deleteFailed).toBe(0)
    expect(lib.modifications.map((m) => m.outcome)).toEqual(['ok', 'CONFLICT', 'ok', 'CONFLICT'])
    expect(lib.visibleAssets()).toHaveLength(0)
  })
})

describe('auto-delete', () => {
  it('is refused with keep-icloud-recent-days or delete-after-download, before anything is downloaded', async () => {
    const { lib, sync } = await setup(recentLibrary(2))
    const dir = tmp('autodel-combo-')
    for (const extra of [{ keepIcloudRecentDays: 30 }, { deleteAfterDownload: true }]) {
      await expect(sync(dir, { autoDelete: true, ...extra }, { now: () => NOW })).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining('auto-delete cannot be combined'),
      })
    }
    expect(diskFiles(dir).size).toBe(0)
    expect(lib.modifications).toHaveLength(0)
  })

  it('deletes every size and the live-photo movie of assets in Recently Deleted, and nothing else', async () => {
    const { lib, sync } = await setup({
      count: 6,
      kinds: ['live', 'heic'],
      hiddenRate: 0,
      deletedRate: 0,
      editedRate: 0,
    })
    const dir = tmp('autodel-')
    const options = { size: ['original', 'medium'] as Array<'original' | 'medium'>, folderStructure: 'none' }
    await sync(dir, options)
    const before = diskFiles(dir)
    const state = await loadStateFile(dir)
    const live = lib.visibleAssets().find((a) => a.fakeKind === 'live')!
    const plain = lib.visibleAssets().find((a) => a.id !== live.id)!
    const liveFiles = state!.manifest.get(live.id)!.map((f) => f.relPath)
    expect(liveFiles.some((f) => f.endsWith('.MOV'))).toBe(true)
    expect(liveFiles.some((f) => f.includes('-medium'))).toBe(true)
    // icloudpd would also delete the thumb and a sidecar; a same-named file of another size is not this asset's.
    const thumbRes = live.resources.find((r) => r.key === 'resJPEGThumb')!
    const [stem] = liveFiles.find((f) => f.endsWith('.HEIC'))!.split('.')
    writeFileSync(path.join(dir, `${stem}-thumb.JPG`), Buffer.alloc(thumbRes.size, 1))
    writeFileSync(path.join(dir, `${stem}.HEIC.xmp`), '<x:xmpmeta/>')
    const movMedium = path.join(dir, `${stem}_HEVC-medium.MOV`)
    writeFileSync(movMedium, 'not the right size')

    lib.deleteAsset(live.id)
    lib.deleteAsset(plain.id)
    const { lines, log } = recordingLog()
    const dry = await sync(dir, { ...options, autoDelete: true, dryRun: true }, { log })
    expect(dry.autoDeleted.length).toBeGreaterThan(liveFiles.length)
    expect(lines.filter((l) => l.includes('[dry run] would delete'))).toHaveLength(dry.autoDeleted.length)
    expect(existsSync(path.join(dir, liveFiles[0]!))).toBe(true)

    const r = await sync(dir, { ...options, autoDelete: true })
    const plainFiles = state!.manifest.get(plain.id)!.map((f) => f.relPath)
    const expected = [...liveFiles, ...plainFiles, `${stem}-thumb.JPG`, `${stem}.HEIC.xmp`].sort()
    expect(r.autoDeleted.sort()).toEqual(expected)
    expect(dry.autoDeleted.sort()).toEqual(expected)
    for (const f of expected) expect(existsSync(path.join(dir, f))).toBe(false)
    // The wrong-sized file is not the asset's: kept. Every other asset's file is untouched.
    expect(readFileSync(movMedium, 'utf8')).toBe('not the right size')
    const after = diskFiles(dir)
    for (const [rel, hash] of before) if (!expected.includes(rel)) expect(after.get(rel)).toBe(hash)
    // Dropped from the manifest; the others stay.
    const st = await loadStateFile(dir)
    expect(st!.manifest.get(live.id)).toBeUndefined()
    expect(st!.manifest.get(plain.id)).toBeUndefined()
    expect(st!.manifest.size).toBe(4)
  })

  it('pages through Recently Deleted (startRank advances by the masters of each page)', async () => {
    const { lib, fake, client, sync } = await setup({
      count: 12,
      kinds: ['heic'],
      hiddenRate: 0,
      deletedRate: 0,
    })
    const dir = tmp('autodel-pages-')
    await sync(dir)
    const gone = lib.visibleAssets().filter((_, k) => k % 2 === 0)
    for (const a of gone) lib.deleteAsset(a.id)
    const state = (await loadStateFile(dir))!
    const expected = gone.flatMap((a) => state.manifest.get(a.id)!.map((f) => f.relPath)).sort()
    const from = fake.server.log.length
    const r = await autoDelete({
      client,
      sel: { scope: 'private', zone: { zoneName: 'PrimarySync' } },
      naming: resolveOptions({}).naming,
      manifest: state.manifest,
      stat: (rel: string) => new DirectoryDestination(dir).stat(rel),
      remove: (rel: string) => new DirectoryDestination(dir).remove(rel),
      dryRun: false,
      log: { info: () => {}, warning: () => {} },
      pageSize: 2,
    })
    expect(r.removed.sort()).toEqual(expected)
    expect(r.assets).toBe(6)
    for (const a of gone) expect(state.manifest.get(a.id)).toBeUndefined()
    expect(state.manifest.size).toBe(6)
    const pages = fake.server.log.slice(from).filter((e) => e.endpoint === 'ck:records/query')
    expect(pages).toHaveLength(3)
    expect(diskFiles(dir).size).toBe(6)
  })

  it("never deletes another asset's file that has the same name", async () => {
    const { lib, sync } = await setup({
      count: 4,
      kinds: ['heic'],
      hiddenRate: 0,
      deletedRate: 0,
      editedRate: 0,
    })
    const dir = tmp('autodel-same-')
    // b is newer, so it is listed first and takes the plain name; a gets icloudpd's `-<size>` name,
    // while icloudpd's auto-delete would compute the plain name (b's file) for a.
    const [b, a] = lib.visibleAssets()
    lib.setFilename(b!.id, a!.filename)
    await sync(dir, { folderStructure: 'none' })
    const state = await loadStateFile(dir)
    const bFiles = state!.manifest.get(b!.id)!.map((f) => f.relPath)
    const aFiles = state!.manifest.get(a!.id)!.map((f) => f.relPath)
    expect(new Set([...aFiles, ...bFiles]).size).toBe(2)
    const bBytes = bFiles.map((f) => readFileSync(path.join(dir, f)))

    lib.deleteAsset(a!.id)
    const r = await sync(dir, { folderStructure: 'none', autoDelete: true })
    expect(r.autoDeleted).toEqual(aFiles)
    bFiles.forEach((f, k) => expect(readFileSync(path.join(dir, f))).toEqual(bBytes[k]))
  })
})

describe('the command line', () => {
  it('sync flags set the deletion keys; a negative day count is a usage error naming the flag', async () => {
    const c = await resolveConfig({
      username: 'me@example.com',
      keepIcloudRecentDays: '30',
      maxIcloudDeletions: '50',
      deleteAfterDownload: true,
    })
    expect(c.photos).toMatchObject({
      keepIcloudRecentDays: 30,
      maxIcloudDeletions: 50,
      deleteAfterDownload: true,
      autoDelete: false,
    })
    expect((await resolveConfig({ username: 'me@example.com', autoDelete: true })).photos.autoDelete).toBe(
      true,
    )
    await expect(resolveConfig({ username: 'me@example.com', keepIcloudRecentDays: '-1' })).rejects.toThrow(
      /--keep-icloud-recent-days/,
    )
  })
})

describe('the report', () => {
  const saved = { s: process.env.GITHUB_STEP_SUMMARY, o: process.env.GITHUB_OUTPUT }
  afterEach(() => {
    process.env.GITHUB_STEP_SUMMARY = saved.s
    process.env.GITHUB_OUTPUT = saved.o
  })

  it('lists the assets deleted in iCloud and the files auto-deleted; the JSON report validates', async () => {
    const { lib, sync } = await setup(recentLibrary(4))
    const dir = tmp('del-report-')
    await sync(dir, {}, { now: () => NOW })
    const gone = lib.visibleAssets()[0]!
    lib.deleteAsset(gone.id)
    const a = await sync(dir, { autoDelete: true }, { now: () => NOW })
    const r = await sync(dir, { keepIcloudRecentDays: 0, maxIcloudDeletions: 2 }, { now: () => NOW })
    expect(r.deleted).toHaveLength(2)
    expect(a.autoDeleted).toHaveLength(1)

    const out = tmp('del-report-out-')
    process.env.GITHUB_STEP_SUMMARY = path.join(out, 'summary.md')
    process.env.GITHUB_OUTPUT = path.join(out, 'output')
    writeFileSync(process.env.GITHUB_STEP_SUMMARY, '')
    writeFileSync(process.env.GITHUB_OUTPUT, '')
    const report: RunReport = {
      version: 1,
      status: 'ok',
      mode: 'sync',
      photos: {
        downloaded: r.downloaded,
        skipped: r.skipped,
        failed: r.failed,
        bytes: r.bytes,
        throttled: r.throttled,
        failures: r.failures,
        remaining: r.remaining,
        listingComplete: r.listingComplete,
        directory: dir,
        deleted: r.deleted,
        deleteFailed: r.deleteFailed,
        autoDeleted: a.autoDeleted,
      },
      startedAt: new Date(NOW).toISOString(),
    }
    const reportPath = await writeReport(report, { runnerTemp: out } as never)
    const written = JSON.parse(readFileSync(reportPath!, 'utf8')) as RunReport
    const validate = new Ajv2020({ validateFormats: false }).compile(reportSchema)
    expect(validate(written), JSON.stringify(validate.errors)).toBe(true)
    expect(written.photos!.deleted!.map((d) => d.assetId)).toEqual(r.deleted.map((d) => d.assetId))
    expect(written.photos!.autoDeleted).toEqual(a.autoDeleted)
    const md = readFileSync(process.env.GITHUB_STEP_SUMMARY, 'utf8')
    expect(md).toMatch(/Moved to Recently Deleted in iCloud<\/td><td>2</)
    expect(md).toMatch(/auto-delete\)<\/td><td>1</)
  })
})

/** `stat` over the directory, with some answers replaced (undefined: missing). */
function statOverride(dir: string, over: Map<string, number | undefined>) {
  return async (rel: string) => {
    if (over.has(rel)) return over.get(rel)
    try {
      return statSync(path.join(dir, rel)).size
    } catch {
      return undefined
    }
  }
}

/** A client that runs `before` just before each delete goes out: an edit racing the run. */
function raceClient(client: CloudKitClient, before: (recordName: string) => Promise<void>): CloudKitClient {
  const c = Object.create(client) as CloudKitClient
  c.markDeleted = async (scope, zone, asset) => {
    await before(asset.recordName)
    return client.markDeleted(scope, zone, asset)
  }
  return c
}
