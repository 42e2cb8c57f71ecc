import { spawn } from 'node:child_process'
import { existsSync, promises as fs, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { STATE_FILE, parseState } from '../src/photos/state.js'
import { syncPhotos } from '../src/photos/sync.js'
import { diskFiles, expectedHashes, photosHarness, quiet } from './helpers/photos-harness.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const { cleanups, tmp, setup } = photosHarness({ threads: 4, retries: 2, clientId: 'auth-dl', dsid: '42' })

function finalHashes(dir: string): string[] {
  return [...diskFiles(dir)]
    .filter(([p]) => !p.endsWith('.part'))
    .map(([, h]) => h)
    .sort()
}

describe('verified downloads', () => {
  it('a body of the wrong size is retried, then reported failed for that asset only', async () => {
    const { lib, sync } = await setup({ count: 12, kinds: ['jpeg'], seed: 21 })
    const victim = lib.visibleAssets()[3]!
    const other = lib.visibleAssets()[7]!
    lib.downloadFaults.push({ kind: 'wrong-size', assetId: victim.id, delta: 9, times: Infinity })
    // Once more without Content-Length: the stream itself must notice the extra bytes.
    lib.downloadFaults.push({ kind: 'wrong-size', assetId: other.id, delta: 9, times: 1, hideLength: true })
    const dir = tmp('dl-size-')
    const warnings: string[] = []
    const r = await sync(dir, {}, { log: { info: () => {}, warning: (m) => warnings.push(m) } })
    const all = lib.visibleAssets()
    expect(r.failed).toBe(1)
    expect(r.downloaded).toBe(all.length - 1)
    expect(lib.downloadLog.filter((d) => d.assetId === victim.id).length).toBe(3) // 1 + 2 retries
    expect(lib.downloadLog.filter((d) => d.assetId === other.id).length).toBe(2) // retried once, then right
    expect(finalHashes(dir)).toEqual(
      expectedHashes(
        lib,
        all.filter((a) => a.id !== victim.id),
      ),
    )
    expect([...diskFiles(dir).keys()].some((p) => p.endsWith('.part'))).toBe(false)
    expect(warnings.join('\n')).toMatch(/size|more than the expected/)
    // The failure keeps the run from storing a sync token: the next run retries it.
    expect(r.state.zoneSyncToken).toBeUndefined()
    lib.downloadFaults.length = 0
    const again = await sync(dir)
    expect(again.downloaded).toBe(1)
    expect(finalHashes(dir)).toEqual(expectedHashes(lib))
    expect(again.state.zoneSyncToken).toBeDefined()
  })

  it('a truncated body and a connection reset mid-body are resumed with Range and verified', async () => {
    const { lib, sync } = await setup({
      count: 10,
      kinds: ['jpeg'],
      seed: 22,
      minBytes: 1000,
      maxBytes: 2000,
    })
    const [a, b] = lib.visibleAssets()
    lib.downloadFaults.push({ kind: 'truncate', assetId: a!.id, afterBytes: 300 })
    lib.downloadFaults.push({ kind: 'reset', assetId: b!.id, afterBytes: 400 })
    const dir = tmp('dl-resume-')
    const r = await sync(dir)
    expect(r.failed).toBe(0)
    expect(r.downloaded).toBe(lib.visibleAssets().length)
    expect(finalHashes(dir)).toEqual(expectedHashes(lib))
    const forA = lib.downloadLog.filter((d) => d.assetId === a!.id)
    expect(forA.map((d) => d.rangeStart)).toEqual([0, 300])
    const forB = lib.downloadLog.filter((d) => d.assetId === b!.id)
    expect(forB.length).toBe(2)
    // After a reset the client keeps only what it had written before the error — under load that
    // can be less than the 400 bytes sent, even nothing: it resumes from there or starts over.
    const from = forB[1]!.rangeStart ?? 0
    expect(from).toBeLessThanOrEqual(400)
    if (from > 0) expect(forB[1]!.status).toBe(206)
  })

  // Throttling slows a run down instead of ending it (throttle budget: photos-throttle.test.ts).
  it('a 503 with Retry-After: the file waits that long, is fetched again in the same run, and the run completes', async () => {
    const { lib, sync } = await setup({ count: 30, kinds: ['jpeg'], seed: 23 })
    const all = lib.visibleAssets()
    const victim = all[10]!
    lib.downloadFaults.push({ kind: 'status', status: 503, retryAfter: 1, assetId: victim.id })
    const dir = tmp('dl-503-')
    const r = await sync(dir, { threads: 2 })
    expect(r).toMatchObject({
      throttled: false,
      failed: 0,
      failures: [],
      remaining: 0,
      listingComplete: true,
    })
    expect(r.stopReason).toBeUndefined()
    expect(r.downloaded).toBe(all.length)
    expect(finalHashes(dir)).toEqual(expectedHashes(lib))
    const tries = lib.downloadLog.filter((d) => d.assetId === victim.id)
    expect(tries.map((d) => (d.status === 503 ? 503 : d.status >= 200 && d.status < 300))).toEqual([
      503,
      true,
    ])
    // Retry-After: 1 → the same file is not asked for again within that second.
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(1000)
    expect(r.state.zoneSyncToken).toBeDefined()
  })

  it('a 503 from CloudKit during the listing waits (Retry-After) and asks again; the run completes', async () => {
    const { fake, lib, sync } = await setup({ count: 10, kinds: ['jpeg'] })
    fake.server.inject('ck:records/query/batch', { status: 503, headers: { 'retry-after': '1' } })
    const r = await sync(tmp('dl-ck503-'))
    expect(r).toMatchObject({ throttled: false, failed: 0, listingComplete: true, remaining: 0 })
    expect(r.downloaded).toBe(lib.visibleAssets().length)
    const counts = fake.server.log.filter((e) => e.endpoint === 'ck:records/query/batch')
    expect(counts.map((e) => e.status)).toEqual([503, 200])
    expect(counts[1]!.at - counts[0]!.at).toBeGreaterThanOrEqual(1000)
    expect(r.state.dbSyncToken).toBeDefined()
  })

  it('resumes a .part left behind, and starts over when the server answers 200 to the Range', async () => {
    const { lib, sync } = await setup({ count: 6, kinds: ['jpeg'], seed: 24, minBytes: 1000, maxBytes: 2000 })
    const ref = tmp('dl-ref-')
    await sync(ref)
    const files = [...diskFiles(ref).keys()].sort()
    const dir = tmp('dl-part-')
    const [goodRel, badRel] = files
    await fs.mkdir(path.dirname(path.join(dir, goodRel!)), { recursive: true })
    await fs.mkdir(path.dirname(path.join(dir, badRel!)), { recursive: true })
    writeFileSync(path.join(dir, goodRel! + '.part'), readFileSync(path.join(ref, goodRel!)).subarray(0, 123))
    writeFileSync(path.join(dir, badRel! + '.part'), Buffer.alloc(77, 0x41)) // garbage the server won't continue
    const badAsset = lib.visibleAssets().find((a) => badRel!.endsWith(a.filename))!
    lib.downloadFaults.push({ kind: 'ignore-range', assetId: badAsset.id })
    lib.downloadLog.length = 0
    const r = await sync(dir)
    expect(r.failed).toBe(0)
    expect(diskFiles(dir)).toEqual(diskFiles(ref))
    const goodAsset = lib.visibleAssets().find((a) => goodRel!.endsWith(a.filename))!
    expect(lib.downloadLog.find((d) => d.assetId === goodAsset.id)).toMatchObject({
      rangeStart: 123,
      status: 206,
    })
    expect(lib.downloadLog.find((d) => d.assetId === badAsset.id)).toMatchObject({
      rangeStart: 77,
      status: 200,
    })
  })

  it('hostile server names stay inside the directory', async () => {
    const { lib, sync } = await setup({ count: 8, kinds: ['jpeg'], seed: 25 })
    const parent = tmp('dl-hostile-')
    const dir = path.join(parent, 'photos')
    const marker = `escape-${process.pid}-${Date.now()}`
    const ids = lib.visibleAssets().map((a) => a.id)
    const names = [
      `../../../../${marker}.JPG`,
      `../../etc/passwd`,
      path.join(os.tmpdir(), `${marker}-abs.JPG`),
      'a\0b\x07c.JPG',
      'x'.repeat(300) + '.JPG',
      '..',
      'C:\\Windows\\evil.JPG',
    ]
    names.forEach((n, i) => lib.setFilename(ids[i]!, n))
    const r = await sync(dir, { folderStructure: 'none' })
    expect(r.failed).toBe(0)
    expect(r.downloaded).toBe(ids.length)
    expect(readdirSync(parent)).toEqual(['photos'])
    expect(existsSync(path.join(os.tmpdir(), `${marker}-abs.JPG`))).toBe(false)
    const files = [...diskFiles(dir).keys()]
    expect(files.length).toBe(ids.length)
    for (const rel of files) {
      expect(rel.includes('/')).toBe(false) // flat layout: nothing climbed into a sub-folder or out
      expect([...rel].some((ch) => ch.charCodeAt(0) < 0x20)).toBe(false)
      expect(Buffer.byteLength(rel)).toBeLessThanOrEqual(255)
      expect(path.resolve(dir, rel).startsWith(dir + path.sep)).toBe(true)
    }
    expect(finalHashes(dir)).toEqual(expectedHashes(lib))
  })

  it('an expired download URL (410) fails at once, without retries', async () => {
    const { lib, sync } = await setup({ count: 5, kinds: ['jpeg'], urlTtlSec: -60 })
    const warnings: string[] = []
    const r = await sync(tmp('dl-410-'), {}, { log: { info: () => {}, warning: (m) => warnings.push(m) } })
    expect(r.failed).toBe(lib.visibleAssets().length)
    expect(lib.downloadLog.length).toBe(r.failed)
    expect(lib.downloadLog.every((d) => d.status === 410)).toBe(true)
    expect(warnings[0]).toMatch(/expired/)
  })

  it('a dry run lists and plans but writes nothing', async () => {
    const { lib, fake, sync } = await setup({ count: 15, seed: 26 })
    const out = tmp('dl-dry-')
    const dir = path.join(out, 'photos')
    const list = path.join(out, 'new-files.txt')
    const r = await sync(dir, { dryRun: true }, { newFilesPath: list })
    expect(readFileSync(list, 'utf8')).toBe('')
    expect(r.downloaded).toBe(expectedHashes(lib).length)
    expect(r.newFiles.length).toBe(r.downloaded)
    expect(existsSync(dir)).toBe(false)
    expect(fake.server.count('content:download')).toBe(0)
  })
})

describe('a killed run', () => {
  it('SIGKILL mid-download leaves only .part files; the rerun completes with no corrupt, missing or duplicate file', async () => {
    const { lib, fake, client, http } = await setup({
      count: 24,
      kinds: ['jpeg', 'live'],
      seed: 27,
      minBytes: 2000,
      maxBytes: 4000,
    })
    // ~5 s per file, four at a time: at any moment several files are half-written, with seconds of
    // margin between seeing a half-written file and the kill even on a loaded CI machine.
    lib.downloadFaults.push({ kind: 'slow', chunkBytes: 64, delayMs: 100, times: Infinity })
    const work = tmp('dl-kill-')
    const dir = path.join(work, 'photos')
    const src = (p: string) => pathToFileURL(path.join(here, '..', 'src', p)).href
    const child = path.join(work, 'child.ts')
    writeFileSync(
      child,
      `import { HttpClient } from '${src('icloud/http.js')}'
import { CloudKitClient } from '${src('photos/cloudkit.js')}'
import { syncPhotos } from '${src('photos/sync.js')}'
const http = new HttpClient({ connections: 4 })
const client = new CloudKitClient({ http, databaseUrl: process.env.CK_URL!, clientId: 'auth-child', dsid: '42' })
await syncPhotos({ client, http, directory: process.env.PHOTOS_DIR!, options: { threads: 4 }, log: { info() {}, warning() {} } })
console.log('finished')
`,
    )
    const proc = spawn(
      process.execPath,
      [
        '--experimental-transform-types',
        '--no-warnings',
        '--import',
        path.join(here, '..', 'sim', 'ts-loader.mjs'),
        child,
      ],
      {
        env: { ...process.env, CK_URL: fake.databaseUrl, PHOTOS_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    proc.stdout.on('data', (d) => (output += d))
    proc.stderr.on('data', (d) => (output += d))
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
    cleanups.push(() => void proc.kill('SIGKILL'))

    // Kill once some files are complete and some are half-written.
    const deadline = Date.now() + 60_000
    // The child renames files while we look: a name that vanished between readdir and stat is skipped.
    const sizeOf = (rel: string) => statSync(path.join(dir, rel), { throwIfNoEntry: false })?.size
    for (;;) {
      const files = existsSync(dir)
        ? (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.(JPG|HEIC|MOV|part)$/.test(f))
        : []
      const parts = files.filter((f) => f.endsWith('.part') && (sizeOf(f) ?? 0) > 0)
      // A .part shorter than the smallest resource (minBytes) is certainly mid-body: at 64 bytes per
      // 100 ms it stays that way for seconds, so the kill lands before it completes even under load.
      const midBody = parts.filter((f) => (sizeOf(f) ?? 0) < 1500)
      if (files.length - parts.length >= 3 && midBody.length >= 1) break
      if (Date.now() > deadline) throw new Error(`child made no progress: ${output}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    proc.kill('SIGKILL')
    await exited
    expect(output).not.toContain('finished')

    const expected = expectedHashes(lib)
    const after = diskFiles(dir)
    const finals = [...after].filter(([p]) => !p.endsWith('.part'))
    expect(finals.length).toBeLessThan(expected.length)
    for (const [, h] of finals) expect(expected).toContain(h) // nothing final is corrupt
    expect(parseState(readFileSync(path.join(dir, STATE_FILE), 'utf8'))?.running).toBe(true)
    const parts = new Map(
      [...after.keys()]
        .filter((p) => p.endsWith('.part'))
        .map((p) => [p.slice(0, -'.part'.length), statSync(path.join(dir, p)).size] as const)
        .filter(([, size]) => size > 0),
    )
    expect(parts.size).toBeGreaterThan(0)

    lib.downloadFaults.length = 0
    lib.downloadLog.length = 0
    const r = await syncPhotos({ client, http, directory: dir, options: { threads: 4 }, log: quiet })
    expect(r.failed).toBe(0)
    expect([...diskFiles(dir).keys()].filter((p) => p.endsWith('.part'))).toEqual([])
    expect(finalHashes(dir)).toEqual(expected) // every file exactly once, every byte right
    // Each half-written file was resumed from where the killed run stopped.
    // (A .part that was already complete when the kill came is started afresh, not resumed.)
    const resumable = [...parts].filter(([rel, size]) => size < statSync(path.join(dir, rel)).size)
    const resumed = lib.downloadLog
      .filter((d) => (d.rangeStart ?? 0) > 0 && d.status === 206)
      .map((d) => d.rangeStart)
    expect(resumed.sort()).toEqual(resumable.map(([, size]) => size).sort())
    expect(resumable.length).toBeGreaterThan(0)
    expect(r.state.running).toBe(false)
  }, 90_000)
})
