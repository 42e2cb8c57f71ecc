/**
 * The destination seam (src/photos/destination.ts): a sync into a destination that is not a
 * directory keeps its lock, state, listings and writes there — nothing lands in the local
 * directory — and its errors mean what the error taxonomy says (DESTINATION retried from Apple,
 * DESTINATION_AUTH stops the run).
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { photosOutcome } from '../src/photos/outcome.js'
import { contentTypeOf } from '../src/photos/sync.js'
import { diskFiles, expectedHashes, photosHarness } from './helpers/photos-harness.js'
import { MemoryDestination } from './helpers/memory-destination.js'

const { tmp, setup } = photosHarness({ threads: 4, retries: 2, clientId: 'auth-dest', dsid: '45' })

describe('sync into a destination', () => {
  it('writes every file, keeps the state and the lock there, and leaves the local directory empty', async () => {
    const { lib, sync } = await setup({ count: 20, seed: 81 })
    const dest = new MemoryDestination()
    const dir = tmp('dest-full-')
    const newList = path.join(tmp('dest-list-'), 'new.txt')
    const r = await sync(dir, {}, { destination: dest, newFilesPath: newList })
    expect(r.failed).toBe(0)
    expect(r.downloaded).toBe(expectedHashes(lib).length)
    expect(dest.hashes()).toEqual(expectedHashes(lib))
    expect(readdirSync(dir)).toEqual([])
    // Absolute paths for a hand-off step only exist for a directory.
    expect(() => readFileSync(newList)).toThrow()
    expect(dest.calls.lock).toBe(1)
    expect(dest.calls.release).toBe(1)
    expect(dest.stateText).toBeDefined()
    const saved = await dest.loadState()
    expect(saved!.manifest.size).toBe(lib.visibleAssets().length)
    expect(saved!.zoneSyncToken).toBeDefined()
    // Each object carries its asset's date and a Content-Type from its extension.
    for (const [key, o] of dest.objects) {
      expect(o.contentType).toBe(contentTypeOf(key))
      expect(o.contentType).not.toBe('application/octet-stream')
    }
    // The next run is answered by the change feed; it never asks the destination for a file (no
    // HEAD per object each run: the write was verified when it happened).
    const stats = dest.calls.stat
    const again = await sync(dir, {}, { destination: dest })
    expect(again.mode).toBe('no-change')
    expect(again.downloaded).toBe(0)
    expect(dest.calls.stat).toBe(stats)
  })

  it('recognises a backup already at the destination from its listing (names and sizes): nothing is written again', async () => {
    const { lib, sync } = await setup({ count: 15, seed: 82 })
    // An icloudpd-layout backup, copied into the bucket with no state.
    const local = tmp('dest-icloudpd-')
    await sync(local)
    const dest = new MemoryDestination()
    for (const [rel] of diskFiles(local)) {
      const bytes = readFileSync(path.join(local, rel))
      dest.objects.set(rel, { bytes, sha256: 'x', mtime: 0 })
    }
    const before = lib.downloadLog.length
    const r = await sync(tmp('dest-pre-'), {}, { destination: dest })
    expect(r.downloaded).toBe(0)
    expect(r.skipped).toBe(expectedHashes(lib).length)
    expect(lib.downloadLog.length).toBe(before)
    expect(dest.calls.openWriter).toBe(0)
    // Sizes came with the listing: no per-file request.
    expect(dest.calls.stat).toBe(0)
    expect((await dest.loadState())!.manifest.size).toBe(lib.visibleAssets().length)
  })

  it('a DESTINATION write error is retried by downloading from Apple again; the run completes', async () => {
    const { lib, sync } = await setup({ count: 8, kinds: ['jpeg'], seed: 83 })
    const dest = new MemoryDestination()
    const r0 = await sync(tmp('dest-names-'), { dryRun: true })
    const rel = r0.newFiles[2]!
    dest.faults.push({ relPath: rel, code: 'DESTINATION', times: 1 })
    const r = await sync(tmp('dest-retry-'), {}, { destination: dest })
    expect(r.failed).toBe(0)
    expect(dest.hashes()).toEqual(expectedHashes(lib))
    const victim = [...r.state.manifest.entries()].find(([, files]) =>
      files.some((f) => f.relPath === rel),
    )![0]
    expect(lib.downloadLog.filter((d) => d.assetId === victim).length).toBe(2)
    expect(r.state.zoneSyncToken).toBeDefined()
  })

  it('a DESTINATION error on every try fails that file (reason destination, code DESTINATION), the others are written', async () => {
    const { lib, sync } = await setup({ count: 8, kinds: ['jpeg'], seed: 84 })
    const dest = new MemoryDestination()
    const r0 = await sync(tmp('dest-names-'), { dryRun: true })
    const rel = r0.newFiles[4]!
    dest.faults.push({ relPath: rel, code: 'DESTINATION', times: Infinity })
    const r = await sync(tmp('dest-fail-'), {}, { destination: dest })
    expect(r.failed).toBe(1)
    expect(r.failures).toEqual([
      expect.objectContaining({ relPath: rel, reason: 'destination', attempts: 3 }),
    ])
    expect(dest.objects.size).toBe(expectedHashes(lib).length - 1)
    expect(r.state.zoneSyncToken).toBeUndefined()
    const out = photosOutcome(r)
    expect(out.status).toBe('failed')
    expect(out.error?.code).toBe('DESTINATION')
    // The next run writes just that one.
    dest.faults.length = 0
    const again = await sync(tmp('dest-fail2-'), {}, { destination: dest })
    expect(again.downloaded).toBe(1)
    expect(dest.hashes()).toEqual(expectedHashes(lib))
  })

  it('DESTINATION_AUTH stops the run like a full disk: nothing new starts, every file left is listed, the state is kept', async () => {
    const { lib, sync } = await setup({ count: 30, kinds: ['jpeg'], seed: 85 })
    const dest = new MemoryDestination()
    dest.faults.push({ code: 'DESTINATION_AUTH', times: Infinity })
    const r = await sync(tmp('dest-auth-'), { threads: 1 }, { destination: dest })
    const total = expectedHashes(lib).length
    expect(r.downloaded).toBe(0)
    expect(r.stopReason).toBe('destination')
    expect(r.diskError?.code).toBe('DESTINATION_AUTH')
    // Only the file in flight was tried (one stream): the rest never started.
    expect(lib.downloadLog.length).toBeLessThan(total)
    expect(r.remaining).toBe(r.failures.length)
    expect(r.failures.length).toBeGreaterThan(0)
    expect(r.failures.every((f) => f.reason === 'destination')).toBe(true)
    expect(r.state.zoneSyncToken).toBeUndefined()
    expect(dest.stateText).toBeDefined()
    const out = photosOutcome(r)
    expect(out.status).toBe('failed')
    expect(out.error?.code).toBe('DESTINATION_AUTH')
    // Fixed credentials: the next run writes everything.
    dest.faults.length = 0
    const again = await sync(tmp('dest-auth2-'), {}, { destination: dest })
    expect(again.failed).toBe(0)
    expect(dest.hashes()).toEqual(expectedHashes(lib))
  })
})
