/**
 * Issue 15, defect 4: a persistent directory converges to what iCloud holds. Every sync with a state
 * file stats the manifest's files and fetches what is missing or has the wrong size; `verify`
 * re-hashes them and, with repair, moves damaged files aside for the sync to restore.
 */
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { diskFiles, expectedHashes, photosHarness, quiet } from './helpers/photos-harness.js'
import { STATE_FILE, parseState, serializeState } from '../src/photos/state.js'
import { DAMAGED_SUFFIX, checkDisk, verifyDirectory } from '../src/photos/verify.js'

const { tmp, setup } = photosHarness({ threads: 8, retries: 1, clientId: 'verify', dsid: '16' })

/** Files of the backup proper (no `.damaged` copies). */
function backupFiles(dir: string): Map<string, string> {
  return new Map([...diskFiles(dir)].filter(([p]) => !p.includes(DAMAGED_SUFFIX)))
}

describe('disk check on a persistent directory', () => {
  it('deleted and truncated files are downloaded again, exactly those; the run after is no-change', async () => {
    const { lib, sync } = await setup({ count: 90, seed: 161 })
    const dir = tmp('disk-')
    const first = await sync(dir)
    const before = diskFiles(dir)
    const files = [...first.newFiles].sort()
    const deleted = [files[3]!, files[40]!]
    const truncated = [files[10]!, files[70]!]
    for (const f of deleted) rmSync(path.join(dir, f))
    truncateSync(path.join(dir, truncated[0]!), 0)
    truncateSync(path.join(dir, truncated[1]!), 7)

    const logs: string[] = []
    const r = await sync(dir, {}, { log: { info: () => {}, warning: (m) => logs.push(m) } })
    expect(r.mode).toBe('full')
    expect(r.failed).toBe(0)
    expect([...r.newFiles].sort()).toEqual([...deleted, ...truncated].sort())
    expect(r.listingNote).toBe('4 files missing or damaged on disk')
    expect(logs.join('\n')).toContain(`${deleted[0]} (missing)`)
    expect(backupFiles(dir)).toEqual(before)
    // The truncated copies are kept aside, never deleted.
    for (const f of truncated) expect(existsSync(path.join(dir, f + DAMAGED_SUFFIX))).toBe(true)
    expect([...backupFiles(dir).values()].sort()).toEqual(expectedHashes(lib, lib.visibleAssets()))

    expect(await sync(dir)).toMatchObject({ mode: 'no-change', downloaded: 0 })
  })

  it('a file missing while its asset is only reachable by listing is fetched even when the library did not change', async () => {
    const { sync, fake } = await setup({ count: 30, seed: 162 })
    const dir = tmp('disk-nochange-')
    const first = await sync(dir)
    rmSync(path.join(dir, first.newFiles[0]!))
    const queries = fake.server.count('ck:records/query')
    const r = await sync(dir)
    expect(r.newFiles).toEqual([first.newFiles[0]])
    expect(fake.server.count('ck:records/query')).toBeGreaterThan(queries)
  })

  it('hand-off (no state file in the directory, state from the cache) does not re-download uploaded files', async () => {
    const { sync } = await setup({ count: 40, seed: 163 })
    const first = await sync(tmp('disk-handoff1-'))
    const fresh = tmp('disk-handoff2-')
    const r = await sync(fresh, {}, { state: parseState(serializeState(first.state)) })
    expect(r).toMatchObject({ mode: 'no-change', downloaded: 0 })
    expect(diskFiles(fresh).size).toBe(0)
  })

  it('a dry run reports missing files and changes nothing', async () => {
    const { sync } = await setup({ count: 20, seed: 164 })
    const dir = tmp('disk-dry-')
    const first = await sync(dir)
    rmSync(path.join(dir, first.newFiles[0]!))
    const stateBefore = readFileSync(path.join(dir, STATE_FILE), 'utf8')
    const r = await sync(dir, { dryRun: true })
    expect(r.newFiles).toEqual([first.newFiles[0]])
    expect(readFileSync(path.join(dir, STATE_FILE), 'utf8')).toBe(stateBefore)
    expect(existsSync(path.join(dir, first.newFiles[0]!))).toBe(false)
  })

  it('a manifest path that leaves the directory counts as missing and is never touched', () => {
    const state = parseState(
      JSON.stringify({ v: 2, g: 1, t: new Date(0).toISOString(), m: { a: '../outside.jpg\u00005\u0000' } }),
    )!
    expect(checkDisk(tmp('disk-escape-'), state).problems).toMatchObject([{ problem: 'missing' }])
  })
})

describe('verify', () => {
  it('finds a flipped byte (same size) and a missing file; repair moves the bad one aside and the sync restores both', async () => {
    const { sync } = await setup({ count: 50, seed: 165 })
    const dir = tmp('verify-')
    const first = await sync(dir)
    const before = diskFiles(dir)
    const files = [...first.newFiles].sort()
    const flipped = files[5]!
    const buf = readFileSync(path.join(dir, flipped))
    buf[Math.floor(buf.length / 2)]! ^= 0x01
    writeFileSync(path.join(dir, flipped), buf)
    rmSync(path.join(dir, files[20]!))

    const report = await verifyDirectory({ directory: dir, log: quiet })
    expect(report?.files).toBe(files.length)
    expect(report?.hashed).toBe(files.length - 1)
    expect(report?.problems.map((p) => [p.file.relPath, p.problem]).sort()).toEqual(
      [
        [flipped, 'hash'],
        [files[20], 'missing'],
      ].sort(),
    )
    // Without repair nothing changes.
    expect(readFileSync(path.join(dir, flipped))).toEqual(buf)

    const repaired = await verifyDirectory({ directory: dir, log: quiet, repair: true })
    expect(repaired?.movedAside).toEqual([flipped + DAMAGED_SUFFIX])
    expect(readFileSync(path.join(dir, flipped + DAMAGED_SUFFIX))).toEqual(buf)
    const r = await sync(dir)
    expect([...r.newFiles].sort()).toEqual([flipped, files[20]].sort())
    expect(backupFiles(dir)).toEqual(before)
    expect((await verifyDirectory({ directory: dir, log: quiet }))?.problems).toEqual([])
  })

  it('a directory without a state file has nothing to verify', async () => {
    expect(await verifyDirectory({ directory: tmp('verify-empty-'), log: quiet })).toBeUndefined()
  })
})
