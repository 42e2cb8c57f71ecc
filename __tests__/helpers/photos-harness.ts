/**
 * Shared set-up of the photos engine tests: a fake CloudKit with a generated library, a client,
 * a `sync()` with short retries, temp dirs cleaned after each test, and the hashes a correct
 * backup must hold.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach } from 'vitest'
import { startFakeCloudKit } from '../../sim/icloud/cloudkit.js'
import { FakeLibrary, type FakeAsset, type LibraryOptions, type ResKey } from '../../sim/icloud/library.js'
import { HttpClient } from '../../src/icloud/http.js'
import { CloudKitClient } from '../../src/photos/cloudkit.js'
import { STATE_FILE } from '../../src/photos/state.js'
import { LOCK_FILE } from '../../src/photos/lock.js'
import { syncPhotos, type PhotosOptions, type SyncOptions } from '../../src/photos/sync.js'

export const quiet = { info: () => {}, warning: () => {} }

/** Call once at the top of a test file: registers the cleanup and returns the helpers. */
export function photosHarness(o: { threads: number; retries: number; clientId: string; dsid: string }) {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  function tmp(prefix: string): string {
    const d = mkdtempSync(path.join(os.tmpdir(), prefix))
    cleanups.push(() => rmSync(d, { recursive: true, force: true }))
    return d
  }

  async function setup(options: LibraryOptions) {
    const lib = new FakeLibrary(options)
    const fake = await startFakeCloudKit(lib)
    const http = new HttpClient({ connections: o.threads })
    const client = new CloudKitClient({
      http,
      databaseUrl: fake.databaseUrl,
      clientId: o.clientId,
      dsid: o.dsid,
    })
    cleanups.push(async () => {
      await http.close()
      await fake.close()
    })
    const sync = (directory: string, options: PhotosOptions = {}, extra: Partial<SyncOptions> = {}) =>
      syncPhotos({
        client,
        http,
        directory,
        options: { threads: o.threads, ...options },
        log: quiet,
        retries: o.retries,
        minRetryMs: 5,
        ...extra,
      })
    /** CloudKit requests (not downloads) the fake saw since `from`. */
    const ckSince = (from: number) =>
      fake.server.log.slice(from).filter((e) => e.endpoint.startsWith('ck:')).length
    return { lib, fake, client, http, sync, ckSince }
  }

  return { cleanups, tmp, setup }
}

/** Resources a default sync downloads: the original, plus the movie of a live photo. */
export function expectedResources(a: FakeAsset): ResKey[] {
  return a.fakeKind === 'live' ? ['resOriginal', 'resOriginalVidCompl'] : ['resOriginal']
}

export function expectedHashes(lib: FakeLibrary, assets = lib.visibleAssets()): string[] {
  return assets
    .flatMap((a) => expectedResources(a).map((k) => lib.sha256(lib.privateZone, a.index, k)))
    .sort()
}

/** Every file under dir (state file excluded): relPath → sha256. */
export function diskFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  if (!existsSync(dir)) return out
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, rel)
    // The engine's own files: its state, and the lock a killed run leaves behind.
    if (rel === STATE_FILE || rel.startsWith(LOCK_FILE) || !statSync(full).isFile()) continue
    out.set(rel.split(path.sep).join('/'), createHash('sha256').update(readFileSync(full)).digest('hex'))
  }
  return out
}

/**
 * The final files and the `.part` files under dir, as a kill leaves them: hashes of the finals
 * (sorted), relative paths of the parts. The engine's own files (state, lock, temp) are left out.
 */
export function onDisk(dir: string): { finals: string[]; parts: string[] } {
  const finals: string[] = []
  const parts: string[] = []
  if (!existsSync(dir)) return { finals, parts }
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, rel)
    if (rel === STATE_FILE || rel.startsWith(LOCK_FILE) || rel.endsWith('.tmp') || !statSync(full).isFile())
      continue
    if (rel.endsWith('.part')) parts.push(rel)
    else finals.push(createHash('sha256').update(readFileSync(full)).digest('hex'))
  }
  return { finals: finals.sort(), parts }
}

export function diskHashes(dir: string): string[] {
  return [...diskFiles(dir).values()].sort()
}
