/**
 * Restore (main step) and save (post step) of the encrypted session, actions/cache style: the
 * logic takes a CacheBackend and a logger so tests can drive it. Caches are readable by fork
 * pull-request runs, so only the encrypted blob ever reaches the cache; without a key the cache is
 * skipped, never used in plaintext.
 *
 * The caller must `core.setSecret` the session key and the `session` input text before calling:
 * nothing here prints them, but the runner only masks what it was told about.
 */
import { createHash } from 'node:crypto'
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Log } from '../core/log.js'
import type { CacheBackend } from './backend.js'
import {
  BlobError,
  cacheIds,
  decodeExport,
  decryptBundle,
  encryptBundle,
  type SessionBundle,
} from './blob.js'
import { cacheKeyPrefix, cacheKeys, legacyCacheKeyPrefix, primaryCacheKey } from './keys.js'

export type CacheLog = Log

/**
 * The file @actions/cache archives. Its absolute path is part of the cache entry's version, so
 * `tmpDir` must be the same on every run (e.g. `$RUNNER_TEMP/icloud-photos-session`).
 */
export const CACHE_FILE_NAME = 'session.enc'

/** GitHub evicts entries not accessed for 7 days; re-save an unchanged session after 5. */
export const KEEP_ALIVE_MS = 5 * 24 * 60 * 60 * 1000

/** `bundle.state` keys this module owns; other modules must carry them through unchanged. */
export const STATE_SAVED_AT = 'savedAt'
export const STATE_SEED_ID = 'seedId'
/** The account tag of the cache key names (never the Apple ID): a restored entry must carry ours. */
export const STATE_ACCOUNT = 'account'

export interface CacheAccess {
  mode: string
  read: boolean
  write: boolean
}

/**
 * `ACTIONS_CACHE_MODE` as the runner exports it and @actions/cache 6.3 reads it (toolkit PR
 * #2447): `read` = restore only, `write` = restore and save, `write-only` = save only, `none` =
 * neither; unset or unknown = both (so old runners behave as before). The library enforces the
 * same lattice itself; checking here too keeps our log honest about what happened.
 */
export function cacheAccess(mode: string | undefined = process.env.ACTIONS_CACHE_MODE): CacheAccess {
  const m = (mode ?? '').trim().toLowerCase()
  switch (m) {
    case 'read':
      return { mode: m, read: true, write: false }
    case 'write':
      return { mode: m, read: true, write: true }
    case 'write-only':
      return { mode: m, read: false, write: true }
    case 'none':
      return { mode: m, read: false, write: false }
    default:
      return { mode: m, read: true, write: true }
  }
}

/**
 * Whether this run may `read` or `write` the Actions cache: refused by ACTIONS_CACHE_MODE
 * (`cache-mode`) or no cache service (`unavailable`), logged as "not <doing>."; undefined when it may.
 */
export function cacheBlocked(
  o: { cacheMode?: string; backend: CacheBackend; log: Pick<Log, 'info'> },
  op: 'read' | 'write',
  doing: string,
): 'cache-mode' | 'unavailable' | undefined {
  const access = cacheAccess(o.cacheMode)
  if (!access[op]) {
    o.log.info(`ACTIONS_CACHE_MODE=${access.mode} does not permit cache ${op}s; not ${doing}.`)
    return 'cache-mode'
  }
  if (!o.backend.isAvailable()) {
    o.log.info(`The Actions cache service is not available to this run; not ${doing}.`)
    return 'unavailable'
  }
  return undefined
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/**
 * SHA-256 over the files (sorted by name) and the state as canonical JSON, without `savedAt` and
 * `account` (bookkeeping added on save would make every session look changed).
 */
export function fingerprint(bundle: SessionBundle): string {
  const h = createHash('sha256')
  for (const name of Object.keys(bundle.files).sort()) {
    const data = bundle.files[name]
    h.update(`file:${name}:${data.length}\n`)
    h.update(data)
  }
  const { [STATE_SAVED_AT]: _savedAt, [STATE_ACCOUNT]: _account, ...state } = bundle.state
  h.update(`state:${canonicalJson(state)}`)
  return h.digest('hex')
}

export function parseSavedAt(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  const t = typeof value === 'number' ? value : Date.parse(value)
  return Number.isFinite(t) ? t : undefined
}

/** Identifies a `session` input without revealing anything: a hash of its (encrypted) bytes. */
function seedIdOf(blob: Buffer): string {
  return createHash('sha256').update(blob).digest('hex').slice(0, 16)
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

export interface RestoreOptions {
  backend: CacheBackend
  /** The `session-key` input; undefined or empty (fork PR, Dependabot) skips the cache. */
  key?: string
  /** `owner/name` (GITHUB_REPOSITORY); the blob is bound to it. */
  repository: string
  /** The Apple ID: its tag (never the ID) is part of the key names. */
  account: string
  /**
   * Whether a session from an entry written before key names carried the account belongs to this
   * account (its files are named for it). Without it those entries are not read at all.
   */
  ownsLegacyBundle?: (bundle: SessionBundle) => boolean
  /** RUNNER_OS. */
  runnerOs: string
  /** GITHUB_RUN_ID / GITHUB_RUN_ATTEMPT: the primary key looked up first (absent: the prefix). */
  runId?: string | number
  runAttempt?: string | number
  /** Exported blob text from the `session` input. */
  seed?: string
  tmpDir: string
  log: CacheLog
  /** Defaults to process.env.ACTIONS_CACHE_MODE. */
  cacheMode?: string
}

export interface RestoreResult {
  bundle?: SessionBundle
  source: 'cache' | 'seed' | 'none'
  /** The cache key restored (source 'cache'); pass to saveSession as `restoredAt`. */
  cacheKey?: string
  /** Pass to saveSession as `previousFingerprint`. */
  fingerprint?: string
  /** When the restored entry was saved (epoch ms); pass to saveSession as `lastSavedAt`. */
  savedAt?: number
  /**
   * cache: 'cache-hit'. seed: 'cache-miss' | 'cache-unusable' | 'seed-updated'.
   * none: 'no-key' | 'cache-miss' | 'cache-unusable' | 'seed-invalid'.
   */
  reason?: string
}

interface Restored {
  bundle: SessionBundle
  key: string
}

async function restoreFromCache(o: RestoreOptions, key: string): Promise<Restored | 'miss' | 'unusable'> {
  if (cacheBlocked(o, 'read', 'restoring the session from the cache')) return 'miss'
  const ids = cacheIds(key, o.account)
  const prefix = cacheKeyPrefix({ runnerOs: o.runnerOs, ...ids, kind: 'session' })
  const primaryKey = o.runId === undefined ? prefix : primaryCacheKey(prefix, o.runId, o.runAttempt ?? 1)
  const found = await restoreBlob(o, key, primaryKey, prefix)
  if (typeof found === 'object') {
    const tag = found.bundle.state[STATE_ACCOUNT]
    if (tag !== undefined && tag !== ids.account) {
      o.log.warning(`The cached session ${found.key} belongs to another account; not using it.`)
      return 'unusable'
    }
    return found
  }
  if (found === 'unusable' || !o.ownsLegacyBundle) return found
  // Once, after an upgrade: the newest entry from before key names carried the account. Accounts
  // sharing a session key shared those names, so it is used only if its session is this account's.
  const legacy = legacyCacheKeyPrefix(o.runnerOs, ids.keyId)
  const old = await restoreBlob(o, key, legacy, legacy)
  if (typeof old !== 'object') return 'miss'
  if (!o.ownsLegacyBundle(old.bundle)) {
    o.log.info(
      `The cached session ${old.key} (from an earlier release) belongs to another account; not using it.`,
    )
    return 'miss'
  }
  o.log.info(
    `Using the session saved by an earlier release (${old.key}); this run saves it under the new name.`,
  )
  return old
}

/** One lookup: restore the newest entry under `prefix` and open it. */
async function restoreBlob(
  o: RestoreOptions,
  key: string,
  primaryKey: string,
  prefix: string,
): Promise<Restored | 'miss' | 'unusable'> {
  const file = join(o.tmpDir, CACHE_FILE_NAME)
  let hit: string | undefined
  try {
    // A full or read-only disk here is a cache miss like any other: the seed can still be used.
    await mkdir(o.tmpDir, { recursive: true, mode: 0o700 })
    // A leftover from an earlier step must not pass for what the cache restored.
    await rm(file, { force: true })
    hit = await o.backend.restore([file], primaryKey, [prefix])
  } catch (e) {
    o.log.warning(
      `Restoring the session from the Actions cache failed (${errorText(e)}); continuing without it.`,
    )
    return 'unusable'
  }
  if (!hit) {
    o.log.info(`No cached session under ${prefix}*.`)
    return 'miss'
  }
  try {
    const blob = await readFile(file)
    const bundle = decryptBundle(blob, key, o.repository)
    o.log.info(`Restored the encrypted session from the Actions cache (${hit}).`)
    return { bundle, key: hit }
  } catch (e) {
    const why = e instanceof BlobError ? e.message : 'the restored file could not be read or decrypted.'
    o.log.warning(
      `The cached session ${hit} could not be used: ${why} Treating it as a cache miss; the next saved session replaces it.`,
    )
    return 'unusable'
  } finally {
    await rm(file, { force: true })
  }
}

function openSeed(
  o: RestoreOptions,
  key: string,
  text: string,
): { bundle: SessionBundle; seedId: string } | undefined {
  try {
    const blob = decodeExport(text)
    const bundle = decryptBundle(blob, key, o.repository)
    return { bundle, seedId: seedIdOf(blob) }
  } catch (e) {
    const why = e instanceof BlobError ? e.message : 'it could not be decoded.'
    o.log.warning(
      `The \`session\` input could not be opened with \`session-key\`: ${why} ` +
        'Export the session again (`icloud-photos-action session export`) with the same key and repository, and update the secret.',
    )
    return undefined
  }
}

export async function restoreSession(o: RestoreOptions): Promise<RestoreResult> {
  const key = o.key?.trim()
  if (!key) {
    o.log.notice(
      'The `session-key` input is empty, so the encrypted session cache and the `session` input are skipped ' +
        '(the session is never cached in plaintext). Set it from the repository secret made by `session export`: ' +
        '`session-key: ${{ secrets.ICLOUD_SESSION_KEY }}`. (Runs for pull requests from forks and Dependabot get no secrets, so there it is empty by design.)',
    )
    return { source: 'none', reason: 'no-key' }
  }
  const seedText = o.seed?.trim() ? o.seed : undefined

  const cached = await restoreFromCache(o, key)

  if (typeof cached === 'object') {
    const fromCache: RestoreResult = {
      bundle: cached.bundle,
      source: 'cache',
      cacheKey: cached.key,
      fingerprint: fingerprint(cached.bundle),
      savedAt: parseSavedAt(cached.bundle.state[STATE_SAVED_AT]),
      reason: 'cache-hit',
    }
    if (!seedText) return fromCache
    const seed = openSeed(o, key, seedText)
    // The secret was updated since the cached session was seeded: the user exported a fresh
    // session (e.g. after the 2FA trust expired), so it wins over the older cache entry.
    const cachedSeedId = cached.bundle.state[STATE_SEED_ID]
    if (seed && typeof cachedSeedId === 'string' && cachedSeedId !== seed.seedId) {
      o.log.info('The `session` input changed since the cached session was saved; using the input.')
      return fromSeed(seed, 'seed-updated')
    }
    return fromCache
  }

  const reason = cached === 'miss' ? 'cache-miss' : 'cache-unusable'
  if (!seedText) return { source: 'none', reason }
  const seed = openSeed(o, key, seedText)
  if (!seed) return { source: 'none', reason: 'seed-invalid' }
  o.log.info('Seeded the session from the `session` input.')
  return fromSeed(seed, reason)
}

function fromSeed(seed: { bundle: SessionBundle; seedId: string }, reason: string): RestoreResult {
  // Remember which input this session came from, so a later change of the secret is noticed.
  const bundle: SessionBundle = {
    files: seed.bundle.files,
    state: { ...seed.bundle.state, [STATE_SEED_ID]: seed.seedId },
  }
  return { bundle, source: 'seed', fingerprint: fingerprint(bundle), reason }
}

export interface SaveOptions {
  backend: CacheBackend
  key?: string
  repository: string
  /** The Apple ID (see RestoreOptions.account). */
  account: string
  runnerOs: string
  runId: string | number
  runAttempt: string | number
  bundle: SessionBundle
  /** RestoreResult.fingerprint. */
  previousFingerprint?: string
  /** RestoreResult.cacheKey: the entry this run restored, if any. */
  restoredAt?: string
  /** RestoreResult.savedAt (epoch ms); falls back to bundle.state.savedAt. */
  lastSavedAt?: number
  /** Epoch ms (a test clock in tests). */
  now: number
  tmpDir: string
  log: CacheLog
  /** Defaults to process.env.ACTIONS_CACHE_MODE. */
  cacheMode?: string
}

export interface SaveResult {
  saved: boolean
  key?: string
  /**
   * saved: 'changed' | 'not-cached' (the session did not come from the cache) | 'keep-alive' |
   * 'migrate' (restored from an entry named before the account tag).
   * not saved: 'no-key' | 'cache-mode' | 'unavailable' | 'unchanged' | 'not-stored' | 'error'.
   */
  reason: string
}

export async function saveSession(o: SaveOptions): Promise<SaveResult> {
  const key = o.key?.trim()
  if (!key) {
    o.log.debug('No session-key: not saving the session to the cache.')
    return { saved: false, reason: 'no-key' }
  }
  const blocked = cacheBlocked(o, 'write', 'saving the session')
  if (blocked) return { saved: false, reason: blocked }

  const ids = cacheIds(key, o.account)
  const { prefix, primaryKey } = cacheKeys({
    runnerOs: o.runnerOs,
    ...ids,
    kind: 'session',
    runId: o.runId,
    runAttempt: o.runAttempt,
  })
  let why: 'changed' | 'not-cached' | 'keep-alive' | 'migrate'
  const lastSavedAt = o.lastSavedAt ?? parseSavedAt(o.bundle.state[STATE_SAVED_AT])
  if (o.previousFingerprint === undefined || fingerprint(o.bundle) !== o.previousFingerprint) why = 'changed'
  else if (!o.restoredAt) why = 'not-cached'
  else if (!o.restoredAt.startsWith(prefix)) why = 'migrate'
  else if (lastSavedAt === undefined || o.now - lastSavedAt >= KEEP_ALIVE_MS) why = 'keep-alive'
  else {
    o.log.info(`The session is unchanged since ${o.restoredAt} was saved; not saving.`)
    return { saved: false, reason: 'unchanged' }
  }

  const bundle: SessionBundle = {
    files: o.bundle.files,
    state: {
      ...o.bundle.state,
      [STATE_SAVED_AT]: new Date(o.now).toISOString(),
      [STATE_ACCOUNT]: ids.account,
    },
  }
  const file = join(o.tmpDir, CACHE_FILE_NAME)
  try {
    const blob = encryptBundle(bundle, key, o.repository)
    await mkdir(o.tmpDir, { recursive: true, mode: 0o700 })
    const tmp = `${file}.${process.pid}.tmp`
    await writeFile(tmp, blob, { mode: 0o600 })
    await chmod(tmp, 0o600)
    await rename(tmp, file)
    const stored = await o.backend.save([file], primaryKey)
    if (!stored) {
      o.log.info(
        `The session was not stored as ${primaryKey}: the entry already exists or the cache refused it.`,
      )
      return { saved: false, key: primaryKey, reason: 'not-stored' }
    }
  } catch (e) {
    o.log.warning(`Saving the session to the Actions cache failed: ${errorText(e)}`)
    return { saved: false, reason: 'error' }
  } finally {
    await rm(file, { force: true })
  }
  o.log.info(`Saved the encrypted session to the Actions cache as ${primaryKey} (${why}).`)
  return { saved: true, key: primaryKey, reason: why }
}
