/**
 * The download state's own cache entry, for hand-off mode: an ephemeral runner keeps no directory
 * between runs, so the state file that normally lives beside the photos travels through the cache.
 * It is kept apart from the session (which stays a few KB) and streamed through gzip and the
 * chunked encryption of stream-blob.ts, so its size has no limit and memory stays flat whatever
 * the library's size. A destination that keeps the state itself (a bucket) needs no such entry.
 *
 * Plaintext: one JSON line `{"v":1,"savedAt":…,"extras":{…}}` (small records that must change
 * together with the state, e.g. hand-off's pending files), then the state file's bytes unchanged.
 * The entry is opaque to this module: the caller says which file to save and where to restore.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import type { CacheBackend } from './backend.js'
import { BlobError, cacheIds } from './blob.js'
import { cacheKeyPrefix, cacheKeys, primaryCacheKey } from './keys.js'
import {
  cacheBlocked,
  canonicalJson,
  errorText,
  KEEP_ALIVE_MS,
  parseSavedAt,
  type CacheLog,
  type SaveResult,
} from './session-cache.js'
import { decryptStream, encryptStream } from './stream-blob.js'

/** The file @actions/cache archives (its absolute path is part of the entry's version). */
export const STATE_CACHE_FILE = 'state.enc'
const FORMAT = 1
/** The first line is small records; a longer one is not ours. */
const MAX_HEAD_LINE = 64 * 1024 * 1024

interface EntryCommon {
  backend: CacheBackend
  key: string
  /** The Apple ID (its tag names the entry). */
  account: string
  repository: string
  runnerOs: string
  runId: string | number
  runAttempt: string | number
  /** Same path on every run (part of the entry's version). */
  tmpDir: string
  log: CacheLog
  cacheMode?: string
  normalizeHead?: NormalizeHead
}

export type StateRestore =
  | { found: false; reason: 'cache-mode' | 'unavailable' | 'cache-miss' | 'unusable' }
  | {
      found: true
      cacheKey: string
      extras: Record<string, unknown>
      /** Pass to saveStateEntry as previousFingerprint. */
      fingerprint: string
      savedAt?: number
    }

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The caller may leave bookkeeping out of the fingerprint: it gets the first HEAD_BYTES of the state
 * (all of it when shorter) and returns what to hash instead (e.g. without a save counter and time
 * that every save bumps, so an unchanged state is not uploaded again).
 */
export type NormalizeHead = (head: Buffer) => Buffer
const HEAD_BYTES = 64 * 1024

/** SHA-256 over the extras and the state bytes: what decides whether a save is needed. */
class Fingerprint {
  private readonly h = createHash('sha256')
  private head: Buffer[] | undefined = []
  private headLen = 0
  constructor(
    extras: Record<string, unknown>,
    private readonly normalize: NormalizeHead = (b) => b,
  ) {
    this.h.update(`extras:${canonicalJson(extras)}\n`)
  }
  update(chunk: Buffer): void {
    if (!this.head) {
      this.h.update(chunk)
      return
    }
    const take = Math.min(chunk.length, HEAD_BYTES - this.headLen)
    this.head.push(chunk.subarray(0, take))
    this.headLen += take
    if (this.headLen === HEAD_BYTES) {
      this.flushHead()
      if (take < chunk.length) this.h.update(chunk.subarray(take))
    }
  }
  private flushHead(): void {
    if (!this.head) return
    this.h.update(this.normalize(Buffer.concat(this.head)))
    this.head = undefined
  }
  digest(): string {
    this.flushHead()
    return this.h.digest('hex')
  }
}

/**
 * Restore the newest state entry and decrypt its state into `outFile` (written whole, then renamed:
 * a reader never sees a partial file). Nothing is written on a miss or a damaged entry.
 */
export async function restoreStateEntry(o: EntryCommon & { outFile: string }): Promise<StateRestore> {
  const blocked = cacheBlocked(o, 'read', 'restoring the download state')
  if (blocked) return { found: false, reason: blocked }
  const prefix = cacheKeyPrefix({ runnerOs: o.runnerOs, ...cacheIds(o.key, o.account), kind: 'state' })
  const file = join(o.tmpDir, STATE_CACHE_FILE)
  let hit: string | undefined
  try {
    await mkdir(o.tmpDir, { recursive: true, mode: 0o700 })
    await rm(file, { force: true })
    hit = await o.backend.restore([file], primaryCacheKey(prefix, o.runId, o.runAttempt), [prefix])
  } catch (e) {
    o.log.warning(
      `Restoring the download state from the Actions cache failed (${errorText(e)}); continuing without it.`,
    )
    return { found: false, reason: 'unusable' }
  }
  if (!hit) {
    o.log.info(`No cached download state under ${prefix}*.`)
    return { found: false, reason: 'cache-miss' }
  }
  const tmp = `${o.outFile}.${process.pid}.restore`
  try {
    let head: { savedAt?: unknown; extras: Record<string, unknown> } | undefined
    let h: Fingerprint | undefined
    await pipeline(
      createReadStream(file),
      decryptStream(o.key, o.repository),
      createGunzip(),
      async function* (source: AsyncIterable<Buffer>) {
        const pending: Buffer[] = []
        let pendingLen = 0
        for await (const chunk of source) {
          if (head) {
            h!.update(chunk)
            yield chunk
            continue
          }
          const nl = chunk.indexOf(0x0a)
          if (nl < 0) {
            pending.push(chunk)
            pendingLen += chunk.length
            if (pendingLen > MAX_HEAD_LINE)
              throw new BlobError('format', 'The cached state has no valid header line.')
            continue
          }
          pending.push(chunk.subarray(0, nl))
          head = parseHead(Buffer.concat(pending).toString('utf8'))
          h = new Fingerprint(head.extras, o.normalizeHead)
          const rest = chunk.subarray(nl + 1)
          h.update(rest)
          if (rest.length) yield rest
        }
        if (!head) throw new BlobError('format', 'The cached state has no valid header line.')
      },
      createWriteStream(tmp, { mode: 0o600 }),
    )
    await rename(tmp, o.outFile)
    o.log.info(`Restored the encrypted download state from the Actions cache (${hit}).`)
    return {
      found: true,
      cacheKey: hit,
      extras: head!.extras,
      fingerprint: h!.digest(),
      savedAt: parseSavedAt(head!.savedAt),
    }
  } catch (e) {
    const why = e instanceof BlobError ? e.message : `it could not be read or decompressed (${errorText(e)}).`
    o.log.warning(
      `The cached download state ${hit} could not be used: ${why} Continuing without it; the next saved state replaces it.`,
    )
    await rm(tmp, { force: true })
    return { found: false, reason: 'unusable' }
  } finally {
    await rm(file, { force: true })
  }
}

function parseHead(line: string): { savedAt?: unknown; extras: Record<string, unknown> } {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    throw new BlobError('format', 'The cached state has no valid header line.')
  }
  if (!isPlainObject(v) || v.v !== FORMAT || !isPlainObject(v.extras))
    throw new BlobError('format', 'The cached state has an unknown layout; update icloud-photos-action.')
  return { savedAt: v.savedAt, extras: v.extras }
}

/** The fingerprint of what an entry would hold (see Fingerprint). */
export async function stateFingerprint(
  stateFile: string,
  extras: Record<string, unknown>,
  normalizeHead?: NormalizeHead,
): Promise<string> {
  const h = new Fingerprint(extras, normalizeHead)
  for await (const chunk of createReadStream(stateFile)) h.update(chunk as Buffer)
  return h.digest()
}

/**
 * Save `stateFile` (with `extras`) as a new entry when it differs from the restored one (or the
 * restored one is getting old: GitHub evicts entries unused for 7 days). A missing state file
 * saves nothing: the entry restored stays the newest.
 */
export async function saveStateEntry(
  o: EntryCommon & {
    stateFile: string
    extras: Record<string, unknown>
    previousFingerprint?: string
    restoredAt?: string
    lastSavedAt?: number
    now: number
  },
): Promise<SaveResult> {
  const blocked = cacheBlocked(o, 'write', 'saving the download state')
  if (blocked) return { saved: false, reason: blocked }
  try {
    await stat(o.stateFile)
  } catch {
    o.log.info('No download state was written in this run; the cached one stays as it was.')
    return { saved: false, reason: 'no-state' }
  }
  const { primaryKey } = cacheKeys({
    runnerOs: o.runnerOs,
    ...cacheIds(o.key, o.account),
    kind: 'state',
    runId: o.runId,
    runAttempt: o.runAttempt,
  })
  const file = join(o.tmpDir, STATE_CACHE_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  let why: 'changed' | 'keep-alive'
  try {
    const fp = await stateFingerprint(o.stateFile, o.extras, o.normalizeHead)
    if (fp !== o.previousFingerprint || !o.restoredAt) why = 'changed'
    else if (o.lastSavedAt === undefined || o.now - o.lastSavedAt >= KEEP_ALIVE_MS) why = 'keep-alive'
    else {
      o.log.info(`The download state is unchanged since ${o.restoredAt} was saved; not saving.`)
      return { saved: false, reason: 'unchanged' }
    }
    await mkdir(o.tmpDir, { recursive: true, mode: 0o700 })
    const headLine = JSON.stringify({ v: FORMAT, savedAt: new Date(o.now).toISOString(), extras: o.extras })
    const stateFile = o.stateFile
    await pipeline(
      async function* () {
        yield Buffer.from(`${headLine}\n`, 'utf8')
        for await (const chunk of createReadStream(stateFile)) yield chunk as Buffer
      },
      createGzip(),
      encryptStream(o.key, o.repository),
      createWriteStream(tmp, { mode: 0o600 }),
    )
    await rename(tmp, file)
    const stored = await o.backend.save([file], primaryKey)
    if (!stored) {
      o.log.info(
        `The download state was not stored as ${primaryKey}: the entry already exists or the cache refused it.`,
      )
      return { saved: false, key: primaryKey, reason: 'not-stored' }
    }
  } catch (e) {
    o.log.warning(`Saving the download state to the Actions cache failed: ${errorText(e)}`)
    return { saved: false, reason: 'error' }
  } finally {
    await rm(tmp, { force: true })
    await rm(file, { force: true })
  }
  o.log.info(`Saved the encrypted download state to the Actions cache as ${primaryKey} (${why}).`)
  return { saved: true, key: primaryKey, reason: why }
}
