import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, zstdDecompressSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ActionsCacheBackend } from '../src/session-cache/backend.js'
import {
  BlobError,
  cacheIds,
  decodeExport,
  decryptBundle,
  encodeExport,
  encryptBundle,
  generateSessionKey,
  keyId,
  type SessionBundle,
} from '../src/session-cache/blob.js'
import {
  cacheKeyPrefix,
  cacheKeys,
  legacyCacheKeyPrefix,
  primaryCacheKey,
} from '../src/session-cache/keys.js'
import {
  CACHE_FILE_NAME,
  cacheAccess,
  fingerprint,
  KEEP_ALIVE_MS,
  restoreSession,
  saveSession,
  type CacheLog,
} from '../src/session-cache/session-cache.js'
import { startFakeActionsCache, type FakeActionsCache } from '../sim/actions-cache.js'

const FIXTURE_DIR = join(import.meta.dirname, 'fixtures/pyicloud-session')
const REPO = 'JDoe/photos-backup'
const RANDOM_KEY = 'q0Jb1Hq9o3r6WzT1u8yXc2VfN5mK4sA7dE0gL9pR3tY' // 43 chars base64url = 32 bytes
const PASSPHRASE = 'correct horse battery staple'
/** The Apple ID the fixture's session files are named for. */
const ACCOUNT = 'jdoe@example.com'
const sessionPrefix = (key: string, account = ACCOUNT): string =>
  cacheKeyPrefix({ runnerOs: 'Linux', ...cacheIds(key, account), kind: 'session' })
/** Secret values in the fixture that must never leave the process in plaintext. */
const SECRETS = ['v=1:t=Cw==BST_IAAAAAAABLw5678~~', '2svtoken-1234567890', 'token-1234567890', 'abc123']

async function fixtureBundle(): Promise<SessionBundle> {
  const files: Record<string, Buffer> = {}
  for (const name of ['jdoeexamplecom', 'jdoeexamplecom.session']) {
    files[name] = await readFile(join(FIXTURE_DIR, name))
  }
  return { files, state: { notifiedExpiry: ['2027-02-02'], photos: { syncToken: 'st-1' } } }
}

function forms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)]
}

function expectSameBundle(actual: SessionBundle | undefined, expected: SessionBundle): void {
  expect(actual).toBeDefined()
  expect(Object.keys(actual!.files).sort()).toEqual(Object.keys(expected.files).sort())
  for (const [name, data] of Object.entries(expected.files))
    expect(actual!.files[name]!.equals(data)).toBe(true)
}

describe('session blob', () => {
  it('round-trips files and state with a random key', async () => {
    const bundle = await fixtureBundle()
    const blob = encryptBundle(bundle, RANDOM_KEY, REPO)
    const back = decryptBundle(blob, RANDOM_KEY, REPO)
    expectSameBundle(back, bundle)
    expect(back.state).toEqual(bundle.state)
    // Repository names are case-insensitive on GitHub.
    expectSameBundle(decryptBundle(blob, RANDOM_KEY, 'jdoe/PHOTOS-BACKUP'), bundle)
  })

  it('never contains the plaintext and never repeats (random salt and IV)', async () => {
    const bundle = await fixtureBundle()
    const a = encryptBundle(bundle, RANDOM_KEY, REPO)
    const b = encryptBundle(bundle, RANDOM_KEY, REPO)
    expect(a.equals(b)).toBe(false)
    for (const s of SECRETS.flatMap(forms)) {
      expect(a.includes(Buffer.from(s))).toBe(false)
      expect(encodeExport(a).includes(s)).toBe(false)
    }
  })

  it('rejects a wrong key without naming it', async () => {
    const blob = encryptBundle(await fixtureBundle(), RANDOM_KEY, REPO)
    const other = generateSessionKey()
    const err = catchBlobError(() => decryptBundle(blob, other, REPO))
    expect(err.reason).toBe('wrong-key')
    expect(err.message).not.toContain(other)
    expect(err.message).not.toContain(RANDOM_KEY)
    expect(catchBlobError(() => decryptBundle(blob, PASSPHRASE, REPO)).reason).toBe('wrong-key')
  })

  it('rejects a blob from another repository', async () => {
    const blob = encryptBundle(await fixtureBundle(), RANDOM_KEY, REPO)
    expect(catchBlobError(() => decryptBundle(blob, RANDOM_KEY, 'jdoe/other-repo')).reason).toBe('repository')
  })

  it('detects a changed byte in every region', async () => {
    const blob = encryptBundle(await fixtureBundle(), RANDOM_KEY, REPO)
    const flip = (offset: number): Buffer => {
      const copy = Buffer.from(blob)
      copy[offset]! ^= 0x01
      return copy
    }
    const cases: [string, number, string][] = [
      ['magic', 0, 'format'],
      ['version', 4, 'format'],
      ['kdf', 5, 'format'],
      ['kdf params', 7, 'format'],
      ['salt', 9, 'wrong-key'],
      ['repository id', 25, 'repository'],
      ['key check', 33, 'wrong-key'],
      ['IV', 41, 'tampered'],
      ['IV end', 52, 'tampered'],
      ['ciphertext start', 53, 'tampered'],
      ['ciphertext middle', Math.floor((53 + blob.length - 16) / 2), 'tampered'],
      ['tag', blob.length - 16, 'tampered'],
      ['tag end', blob.length - 1, 'tampered'],
    ]
    for (const [region, offset, reason] of cases) {
      expect({
        region,
        reason: catchBlobError(() => decryptBundle(flip(offset), RANDOM_KEY, REPO)).reason,
      }).toEqual({
        region,
        reason,
      })
    }
    expect(
      catchBlobError(() => decryptBundle(blob.subarray(0, blob.length - 1), RANDOM_KEY, REPO)).reason,
    ).toBe('tampered')
    expect(catchBlobError(() => decryptBundle(blob.subarray(0, 40), RANDOM_KEY, REPO)).reason).toBe('format')
    expect(
      catchBlobError(() => decryptBundle(Buffer.concat([blob, Buffer.from([0])]), RANDOM_KEY, REPO)).reason,
    ).toBe('tampered')
  })

  it('uses scrypt for a passphrase and HKDF for a 32-byte key in any encoding', async () => {
    const bundle = await fixtureBundle()
    const p = encryptBundle(bundle, PASSPHRASE, REPO)
    expect(p[5]).toBe(2) // scrypt
    expect([p[6], p[7], p[8]]).toEqual([15, 8, 1])
    expectSameBundle(decryptBundle(p, `  ${PASSPHRASE}\n`, REPO), bundle)
    expect(catchBlobError(() => decryptBundle(p, `${PASSPHRASE}!`, REPO)).reason).toBe('wrong-key')
    expect(catchBlobError(() => decryptBundle(p, RANDOM_KEY, REPO)).reason).toBe('wrong-key')

    const r = encryptBundle(bundle, RANDOM_KEY, REPO)
    expect(r[5]).toBe(1) // HKDF
    const raw = Buffer.from(RANDOM_KEY, 'base64url')
    expect(raw.length).toBe(32)
    // The same 32 bytes written as hex or padded standard base64 open the blob.
    expectSameBundle(decryptBundle(r, raw.toString('hex'), REPO), bundle)
    expectSameBundle(decryptBundle(r, raw.toString('base64'), REPO), bundle)
  })

  it('rejects hostile key derivation parameters before deriving', async () => {
    const p = encryptBundle(await fixtureBundle(), PASSPHRASE, REPO)
    const hostile = Buffer.from(p)
    hostile[6] = 30 // N = 2^30 would need 1 TiB
    expect(catchBlobError(() => decryptBundle(hostile, PASSPHRASE, REPO)).reason).toBe('format')
  })

  it('caps the decompressed payload', () => {
    // 65 MiB of zeros compresses to a few hundred KiB: a valid, authenticated zip bomb.
    const bomb: SessionBundle = { files: { big: Buffer.alloc(65 * 1024 * 1024) }, state: {} }
    const blob = encryptBundle(bomb, RANDOM_KEY, REPO)
    expect(blob.length).toBeLessThan(2 * 1024 * 1024)
    expect(catchBlobError(() => decryptBundle(blob, RANDOM_KEY, REPO)).reason).toBe('format')
  })

  it('refuses file names that are not base names', () => {
    expect(() =>
      encryptBundle({ files: { '../evil': Buffer.from('x') }, state: {} }, RANDOM_KEY, REPO),
    ).toThrow(/base name/)
  })

  it('decodes export text with whitespace, line breaks and base64url', async () => {
    const blob = encryptBundle(await fixtureBundle(), RANDOM_KEY, REPO)
    const text = encodeExport(blob)
    expect(text).toMatch(/^[A-Za-z0-9+/]+=*$/)
    const wrapped = `\n  ${text.replace(/(.{60})/g, '$1\r\n')}  \n`
    expect(decodeExport(wrapped).equals(blob)).toBe(true)
    expect(decodeExport(blob.toString('base64url')).equals(blob)).toBe(true)
    expect(catchBlobError(() => decodeExport('not base64!')).reason).toBe('format')
    expect(catchBlobError(() => decodeExport('   ')).reason).toBe('format')
    expect(
      catchBlobError(() => decryptBundle(decodeExport('aGVsbG8gd29ybGQ='), RANDOM_KEY, REPO)).reason,
    ).toBe('format')
  })

  it('derives a stable, short key id that differs per key and hides the key', () => {
    const id = keyId(RANDOM_KEY)
    expect(id).toMatch(/^[0-9a-f]{12}$/)
    expect(keyId(RANDOM_KEY)).toBe(id)
    expect(keyId(`${RANDOM_KEY}\n`)).toBe(id)
    expect(keyId(Buffer.from(RANDOM_KEY, 'base64url').toString('hex'))).toBe(id)
    expect(keyId(generateSessionKey())).not.toBe(id)
    const pid = keyId(PASSPHRASE)
    expect(pid).toMatch(/^[0-9a-f]{12}$/)
    expect(pid).not.toBe(id)
    expect(keyId(`${PASSPHRASE}.`)).not.toBe(pid)
  })

  it('generates random 32-byte base64url keys that use HKDF', () => {
    const a = generateSessionKey()
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(a, 'base64url').length).toBe(32)
    expect(generateSessionKey()).not.toBe(a)
    expect(encryptBundle({ files: {}, state: {} }, a, REPO)[5]).toBe(1)
  })
})

describe('cache keys and fingerprint', () => {
  it('builds the prefix and the primary key: OS, key id, account tag, kind', () => {
    const ids = cacheIds(RANDOM_KEY, ACCOUNT)
    expect(ids.keyId).toBe(keyId(RANDOM_KEY))
    expect(ids.account).toMatch(/^[0-9a-f]{12}$/)
    const at = (runnerOs: string, kind: 'session' | 'state') => cacheKeyPrefix({ runnerOs, ...ids, kind })
    expect(at('Linux', 'session')).toBe(`icloud-photos-linux-${ids.keyId}-${ids.account}-session-`)
    expect(at('macOS', 'state')).toBe(`icloud-photos-macos-${ids.keyId}-${ids.account}-state-`)
    const k = cacheKeys({ runnerOs: 'Windows', ...ids, kind: 'session', runId: '123456', runAttempt: '2' })
    expect(k).toEqual({
      prefix: `icloud-photos-windows-${ids.keyId}-${ids.account}-session-`,
      primaryKey: `icloud-photos-windows-${ids.keyId}-${ids.account}-session-123456-2`,
    })
    expect(primaryCacheKey('p-', 'a,b', 1)).toBe('p-a_b-1') // commas are not allowed in cache keys
    // Entries of earlier releases: a prefix that no new key starts with, whatever the ids.
    const legacy = legacyCacheKeyPrefix('Linux', ids.keyId)
    expect(legacy).toBe(`icloud-photos-session-linux-${ids.keyId}-`)
    expect(at('Linux', 'session').startsWith(legacy)).toBe(false)
    expect(at('Linux', 'state').startsWith(at('Linux', 'session'))).toBe(false)
  })

  it('tags the account by Apple ID (case and spaces aside), per session key, without revealing it', () => {
    const a = cacheIds(RANDOM_KEY, ACCOUNT).account
    expect(cacheIds(RANDOM_KEY, ' JDoe@Example.com\n').account).toBe(a)
    expect(cacheIds(RANDOM_KEY, 'jane@example.com').account).not.toBe(a)
    // Keyed with the session key: the same Apple ID under another key gets another tag, so a
    // reader of public logs cannot check a guessed address without the key.
    expect(cacheIds(generateSessionKey(), ACCOUNT).account).not.toBe(a)
    expect(cacheIds(PASSPHRASE, ACCOUNT).account).toMatch(/^[0-9a-f]{12}$/)
    expect(() => cacheIds(RANDOM_KEY, '  ')).toThrow(/Apple ID/)
  })

  it('fingerprints content, not key order or savedAt', async () => {
    const b = await fixtureBundle()
    const f = fingerprint(b)
    const reordered: SessionBundle = {
      files: Object.fromEntries(Object.entries(b.files).reverse()),
      state: {
        photos: { syncToken: 'st-1' },
        notifiedExpiry: ['2027-02-02'],
        savedAt: '2030-01-01T00:00:00Z',
      },
    }
    expect(fingerprint(reordered)).toBe(f)
    const changedFile = { ...b, files: { ...b.files, jdoeexamplecom: Buffer.from('#LWP-Cookies-2.0\n') } }
    expect(fingerprint(changedFile)).not.toBe(f)
    expect(fingerprint({ ...b, state: { ...b.state, photos: { syncToken: 'st-2' } } })).not.toBe(f)
  })

  it('reads ACTIONS_CACHE_MODE with the values @actions/cache knows', () => {
    expect(cacheAccess('')).toMatchObject({ read: true, write: true })
    expect(cacheAccess('read')).toMatchObject({ read: true, write: false })
    expect(cacheAccess('WRITE')).toMatchObject({ read: true, write: true })
    expect(cacheAccess('write-only')).toMatchObject({ read: false, write: true })
    expect(cacheAccess('none')).toMatchObject({ read: false, write: false })
    expect(cacheAccess('something-new')).toMatchObject({ read: true, write: true })
  })
})

function catchBlobError(fn: () => unknown): BlobError {
  try {
    fn()
  } catch (e) {
    if (e instanceof BlobError) return e
    throw e
  }
  throw new Error('expected a BlobError')
}

interface TestLog extends CacheLog {
  lines: { level: string; message: string }[]
  of(level: string): string[]
}

function testLog(): TestLog {
  const lines: { level: string; message: string }[] = []
  const at = (level: string) => (message: string) => void lines.push({ level, message })
  return {
    lines,
    of: (level) => lines.filter((l) => l.level === level).map((l) => l.message),
    info: at('info'),
    notice: at('notice'),
    warning: at('warning'),
    debug: at('debug'),
  }
}

/** Decompress an uploaded archive (zstd or gzip, whichever the library chose) into the raw tar. */
function untarBytes(archive: Buffer): Buffer {
  if (archive.readUInt32LE(0) === 0xfd2fb528) return zstdDecompressSync(archive)
  if (archive[0] === 0x1f && archive[1] === 0x8b) return gunzipSync(archive)
  throw new Error('unknown archive compression')
}

describe('session cache with the real @actions/cache against the fake v2 service', () => {
  let fake: FakeActionsCache
  let base: string
  let tmpDir: string
  let savedEnv: NodeJS.ProcessEnv
  let stdout: string
  const backend = new ActionsCacheBackend()

  beforeEach(async () => {
    savedEnv = { ...process.env }
    base = await mkdtemp(join(tmpdir(), 'session-cache-test-'))
    fake = await startFakeActionsCache({ runnerTemp: join(base, 'runner-temp') })
    for (const k of ['ACTIONS_CACHE_MODE', 'ACTIONS_CACHE_URL', 'RUNNER_DEBUG']) delete process.env[k]
    // tar runs with -C $GITHUB_WORKSPACE and paths relative to it, as on a runner.
    await mkdir(join(base, 'workspace'))
    Object.assign(process.env, fake.env, { GITHUB_WORKSPACE: join(base, 'workspace') })
    // The same absolute path on every simulated run, as $RUNNER_TEMP is on hosted runners.
    tmpDir = join(base, 'session')
    // @actions/core writes workflow commands to stdout; keep them for the secret scan.
    stdout = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
      return true
    })
  })

  afterEach(async () => {
    vi.restoreAllMocks()
    process.env = savedEnv
    await fake.close()
    await rm(base, { recursive: true, force: true })
  })

  /** A new runner: nothing survives on disk between runs. */
  async function newRunner(): Promise<void> {
    await rm(tmpDir, { recursive: true, force: true })
  }

  const common = () => ({ backend, repository: REPO, account: ACCOUNT, runnerOs: 'Linux', tmpDir })
  const twirpCalls = (method: string) => fake.requests().filter((r) => r.endpoint === `twirp:${method}`)

  async function seedText(key = RANDOM_KEY): Promise<string> {
    return encodeExport(encryptBundle(await fixtureBundle(), key, REPO))
  }

  it('round-trips across two runs: run 1 seeds and saves, run 2 restores by prefix', async () => {
    const seed = await seedText()
    const log1 = testLog()
    const r1 = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 101,
      runAttempt: 1,
      seed,
      log: log1,
    })
    expect(r1).toMatchObject({ source: 'seed', reason: 'cache-miss' })
    expectSameBundle(r1.bundle, await fixtureBundle())
    expect(twirpCalls('GetCacheEntryDownloadURL')).toHaveLength(1)

    const s1 = await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 101,
      runAttempt: 1,
      bundle: r1.bundle!,
      previousFingerprint: r1.fingerprint,
      now: Date.parse('2026-03-01T00:00:00Z'),
      log: log1,
    })
    const prefix = sessionPrefix(RANDOM_KEY)
    expect(s1).toEqual({ saved: true, key: `${prefix}101-1`, reason: 'not-cached' })
    expect(fake.entries().map((e) => e.key)).toEqual([`${prefix}101-1`])
    expect(log1.of('warning')).toEqual([])

    await newRunner()
    const log2 = testLog()
    const r2 = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 102,
      runAttempt: 1,
      seed,
      log: log2,
    })
    expect(r2).toMatchObject({ source: 'cache', cacheKey: `${prefix}101-1`, reason: 'cache-hit' })
    expect(r2.savedAt).toBe(Date.parse('2026-03-01T00:00:00Z'))
    expectSameBundle(r2.bundle, await fixtureBundle())
    expect(r2.bundle!.state).toMatchObject({ photos: { syncToken: 'st-1' } })
    expect(r2.fingerprint).toBe(r1.fingerprint)
    // The restored file is removed once read: the plaintext only lives in memory.
    expect(await readdir(tmpDir)).toEqual([])

    // Run 2 refreshes the cookies and saves under its own key; run 3 gets the newest entry.
    const refreshed: SessionBundle = {
      ...r2.bundle!,
      files: { ...r2.bundle!.files, jdoeexamplecom: Buffer.from('#LWP-Cookies-2.0\nSet-Cookie3: new=1\n') },
    }
    const s2 = await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 102,
      runAttempt: 1,
      bundle: refreshed,
      previousFingerprint: r2.fingerprint,
      restoredAt: r2.cacheKey,
      lastSavedAt: r2.savedAt,
      now: Date.parse('2026-03-02T00:00:00Z'),
      log: log2,
    })
    expect(s2).toEqual({ saved: true, key: `${prefix}102-1`, reason: 'changed' })
    await newRunner()
    const r3 = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 103,
      runAttempt: 1,
      seed,
      log: testLog(),
    })
    expect(r3.cacheKey).toBe(`${prefix}102-1`)
    expectSameBundle(r3.bundle, refreshed)

    // Nothing secret in key names, uploaded archives or anything the library printed.
    expect(stdout).toContain('Cache restored successfully') // the scan below sees the library's output
    const archives = fake.entries().map((e) => untarBytes(e.data))
    for (const tar of archives) expect(tar.includes(Buffer.from('ICPS'))).toBe(true) // the blob is in there
    const keyForms = [RANDOM_KEY, Buffer.from(RANDOM_KEY, 'base64url').toString('hex')].flatMap(forms)
    for (const s of [...SECRETS.flatMap(forms), ...keyForms]) {
      for (const tar of archives) expect(tar.includes(Buffer.from(s))).toBe(false)
      for (const e of fake.entries()) expect(e.key).not.toContain(s)
      expect(stdout).not.toContain(s)
      expect(JSON.stringify(log1.lines) + JSON.stringify(log2.lines)).not.toContain(s)
    }
  })

  it('treats a duplicate key as harmless and keeps the first entry', async () => {
    const first = await fixtureBundle()
    const opts = { ...common(), key: RANDOM_KEY, runId: 201, runAttempt: 1, now: Date.now() }
    expect((await saveSession({ ...opts, bundle: first, log: testLog() })).saved).toBe(true)
    const second: SessionBundle = { files: { jdoeexamplecom: Buffer.from('other') }, state: {} }
    const log = testLog()
    const dup = await saveSession({ ...opts, bundle: second, log })
    expect(dup).toMatchObject({ saved: false, reason: 'not-stored' })
    expect(log.of('warning')).toEqual([])
    expect(twirpCalls('CreateCacheEntry').map((r) => r.status)).toEqual([200, 409])
    expect(fake.entries()).toHaveLength(1)

    await newRunner()
    const r = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 202,
      runAttempt: 1,
      log: testLog(),
    })
    expectSameBundle(r.bundle, first)
  })

  /** Writes `blob` as the cache file and saves it under `key` with the real library (an attacker's entry). */
  async function plantEntry(blob: Buffer, key: string): Promise<void> {
    await mkdir(tmpDir, { recursive: true })
    await writeFile(join(tmpDir, CACHE_FILE_NAME), blob)
    expect(await backend.save([join(tmpDir, CACHE_FILE_NAME)], key)).toBe(true)
    await newRunner()
  }

  it('turns a tampered cache entry into a miss with a warning, then seeds from the input', async () => {
    const prefix = sessionPrefix(RANDOM_KEY)
    await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 301,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: 1,
      log: testLog(),
    })
    const good = encryptBundle(await fixtureBundle(), RANDOM_KEY, REPO)
    const bad = Buffer.from(good)
    bad[bad.length - 40]! ^= 0x80
    await plantEntry(bad, `${prefix}302-1`) // newer than 301: restore picks it

    const log = testLog()
    const r = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 303,
      runAttempt: 1,
      seed: await seedText(),
      log,
    })
    expect(r).toMatchObject({ source: 'seed', reason: 'cache-unusable' })
    expectSameBundle(r.bundle, await fixtureBundle())
    const warnings = log.of('warning')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(`${prefix}302-1`)
    expect(warnings[0]).toMatch(/integrity check/)
    expect(warnings[0]).not.toContain(RANDOM_KEY)

    await newRunner()
    const noSeed = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 304,
      runAttempt: 1,
      log: testLog(),
    })
    expect(noSeed).toEqual({ source: 'none', reason: 'cache-unusable' })
  })

  it('turns an entry under this key id but another key into a miss with a warning and seeds', async () => {
    const prefix = sessionPrefix(RANDOM_KEY)
    await plantEntry(encryptBundle(await fixtureBundle(), generateSessionKey(), REPO), `${prefix}401-1`)
    const log = testLog()
    const r = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 402,
      runAttempt: 1,
      seed: await seedText(),
      log,
    })
    expect(r).toMatchObject({ source: 'seed', reason: 'cache-unusable' })
    expect(log.of('warning')).toHaveLength(1)
    expect(log.of('warning')[0]).toMatch(/different session key/)
  })

  it('with a rotated key, misses the old entries and names the `session` input when it no longer opens', async () => {
    const oldKey = generateSessionKey()
    await saveSession({
      ...common(),
      key: oldKey,
      runId: 501,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: 1,
      log: testLog(),
    })
    await newRunner()
    const log = testLog()
    const r = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 502,
      runAttempt: 1,
      seed: await seedText(oldKey),
      log,
    })
    expect(r).toEqual({ source: 'none', reason: 'seed-invalid' })
    const warnings = log.of('warning')
    expect(warnings).toHaveLength(1) // the old entry is simply not found under the new key id
    expect(warnings[0]).toContain('`session` input')
    expect(warnings[0]).toMatch(/different session key/)
    for (const s of [oldKey, RANDOM_KEY, await seedText(oldKey)]) expect(warnings[0]).not.toContain(s)
  })

  it('skips the cache with a notice when there is no key, and uploads nothing', async () => {
    const log = testLog()
    const r = await restoreSession({
      ...common(),
      key: undefined,
      runId: 601,
      runAttempt: 1,
      seed: await seedText(),
      log,
    })
    expect(r).toEqual({ source: 'none', reason: 'no-key' })
    expect(log.of('notice')).toHaveLength(1)
    expect(log.of('notice')[0]).toMatch(/never cached in plaintext/)
    // The likely cause first (the secret is not passed), then how to set it; forks only after that.
    expect(log.of('notice')[0]).toMatch(
      /^The `session-key` input is empty.*`session-key: \$\{\{ secrets\.ICLOUD_SESSION_KEY \}\}`.*forks and Dependabot/,
    )
    const s = await saveSession({
      ...common(),
      key: '  ',
      runId: 601,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: 1,
      log,
    })
    expect(s).toEqual({ saved: false, reason: 'no-key' })
    expect(fake.uploadCount()).toBe(0)
    expect(fake.requests()).toEqual([])
  })

  it('in read-only cache mode restores but never saves', async () => {
    const prefix = sessionPrefix(RANDOM_KEY)
    await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 701,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: 1,
      log: testLog(),
    })
    await newRunner()
    process.env.ACTIONS_CACHE_MODE = 'read'
    const r = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 702,
      runAttempt: 1,
      log: testLog(),
    })
    expect(r).toMatchObject({ source: 'cache', cacheKey: `${prefix}701-1` })
    const changed: SessionBundle = {
      ...r.bundle!,
      state: { ...r.bundle!.state, photos: { syncToken: 'st-9' } },
    }
    const log = testLog()
    const s = await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 702,
      runAttempt: 1,
      bundle: changed,
      previousFingerprint: r.fingerprint,
      restoredAt: r.cacheKey,
      now: 2,
      log,
    })
    expect(s).toEqual({ saved: false, reason: 'cache-mode' })
    expect(log.of('info').join('\n')).toMatch(/ACTIONS_CACHE_MODE=read/)
    // The library agrees: asked directly, it refuses to write in this mode.
    await plantFileOnly()
    expect(await backend.save([join(tmpDir, CACHE_FILE_NAME)], `${prefix}702-9`)).toBe(false)
    expect(twirpCalls('CreateCacheEntry')).toHaveLength(1)
    expect(fake.entries()).toHaveLength(1)
  })

  async function plantFileOnly(): Promise<void> {
    await mkdir(tmpDir, { recursive: true })
    await writeFile(join(tmpDir, CACHE_FILE_NAME), 'x')
  }

  it('in cache modes none and write-only does not read the cache, and seeds instead', async () => {
    await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 801,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: 1,
      log: testLog(),
    })
    await newRunner()
    for (const mode of ['none', 'write-only']) {
      process.env.ACTIONS_CACHE_MODE = mode
      const r = await restoreSession({
        ...common(),
        key: RANDOM_KEY,
        runId: 802,
        runAttempt: 1,
        seed: await seedText(),
        log: testLog(),
      })
      expect(r).toMatchObject({ source: 'seed', reason: 'cache-miss' })
    }
    expect(twirpCalls('GetCacheEntryDownloadURL')).toHaveLength(0)
    process.env.ACTIONS_CACHE_MODE = 'none'
    const none = await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 802,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: 2,
      log: testLog(),
    })
    expect(none.reason).toBe('cache-mode')
    process.env.ACTIONS_CACHE_MODE = 'write-only'
    const wo = await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 802,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: 2,
      log: testLog(),
    })
    expect(wo.saved).toBe(true)
  })

  it('does not save an unchanged session, but re-saves it after 5 days to keep the entry alive', async () => {
    const prefix = sessionPrefix(RANDOM_KEY)
    const t0 = Date.parse('2026-04-01T00:00:00Z')
    await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 901,
      runAttempt: 1,
      bundle: await fixtureBundle(),
      now: t0,
      log: testLog(),
    })

    await newRunner()
    const r = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 902,
      runAttempt: 1,
      log: testLog(),
    })
    const after = (now: number, runId: number) =>
      saveSession({
        ...common(),
        key: RANDOM_KEY,
        runId,
        runAttempt: 1,
        bundle: r.bundle!,
        previousFingerprint: r.fingerprint,
        restoredAt: r.cacheKey,
        lastSavedAt: r.savedAt,
        now,
        log: testLog(),
      })
    expect(await after(t0 + 24 * 3600_000, 902)).toEqual({ saved: false, reason: 'unchanged' })
    expect(await after(t0 + KEEP_ALIVE_MS - 60_000, 903)).toEqual({ saved: false, reason: 'unchanged' })
    expect(twirpCalls('CreateCacheEntry')).toHaveLength(1)

    expect(await after(t0 + KEEP_ALIVE_MS + 60_000, 904)).toEqual({
      saved: true,
      key: `${prefix}904-1`,
      reason: 'keep-alive',
    })
    await newRunner()
    const r2 = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 905,
      runAttempt: 1,
      log: testLog(),
    })
    expect(r2.cacheKey).toBe(`${prefix}904-1`)
    expect(r2.savedAt).toBe(t0 + KEEP_ALIVE_MS + 60_000)
    expect(r2.fingerprint).toBe(r.fingerprint)
  })

  it('prefers a `session` input that changed since the cached session was seeded', async () => {
    const seedA = await seedText()
    const r1 = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 1001,
      runAttempt: 1,
      seed: seedA,
      log: testLog(),
    })
    await saveSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 1001,
      runAttempt: 1,
      bundle: r1.bundle!,
      previousFingerprint: r1.fingerprint,
      now: 1,
      log: testLog(),
    })
    await newRunner()
    // Same secret: the cache wins.
    const same = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 1002,
      runAttempt: 1,
      seed: seedA,
      log: testLog(),
    })
    expect(same.source).toBe('cache')
    await newRunner()
    // The user exported a fresh session into the secret: it wins over the older cache entry.
    const fresh: SessionBundle = {
      files: { jdoeexamplecom: Buffer.from('#LWP-Cookies-2.0\nfresh\n') },
      state: {},
    }
    const seedB = encodeExport(encryptBundle(fresh, RANDOM_KEY, REPO))
    const updated = await restoreSession({
      ...common(),
      key: RANDOM_KEY,
      runId: 1003,
      runAttempt: 1,
      seed: seedB,
      log: testLog(),
    })
    expect(updated).toMatchObject({ source: 'seed', reason: 'seed-updated' })
    expectSameBundle(updated.bundle, fresh)
  })

  it('works with a passphrase key end to end', async () => {
    const r1 = await restoreSession({
      ...common(),
      key: PASSPHRASE,
      runId: 1101,
      runAttempt: 1,
      seed: await seedText(PASSPHRASE),
      log: testLog(),
    })
    expect(r1.source).toBe('seed')
    await saveSession({
      ...common(),
      key: PASSPHRASE,
      runId: 1101,
      runAttempt: 1,
      bundle: r1.bundle!,
      previousFingerprint: r1.fingerprint,
      now: 1,
      log: testLog(),
    })
    await newRunner()
    const r2 = await restoreSession({
      ...common(),
      key: PASSPHRASE,
      runId: 1102,
      runAttempt: 1,
      log: testLog(),
    })
    expect(r2).toMatchObject({
      source: 'cache',
      cacheKey: `${sessionPrefix(PASSPHRASE)}1101-1`,
    })
    for (const e of fake.entries()) expect(e.key).not.toContain(PASSPHRASE.split(' ')[0])
  })
})

describe('fake Actions cache service protocol', () => {
  let fake: FakeActionsCache
  beforeEach(async () => {
    fake = await startFakeActionsCache()
  })
  afterEach(async () => {
    await fake.close()
  })

  const twirp = (method: string, body: unknown, token = fake.env.ACTIONS_RUNTIME_TOKEN) =>
    fetch(`${fake.env.ACTIONS_RESULTS_URL}twirp/github.actions.results.api.v1.CacheService/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    })

  it('accepts staged blocks from the Azure SDK, serves ranges, and keeps entries immutable', async () => {
    // The Azure SDK is what @actions/cache uploads with; archives above 128 MiB go up in blocks.
    const { BlockBlobClient } = await import('@azure/storage-blob')
    expect((await twirp('CreateCacheEntry', { key: 'k-1', version: 'v' }, 'wrong')).status).toBe(401)
    const created = (await (await twirp('CreateCacheEntry', { key: 'k-1', version: 'v' })).json()) as {
      ok: boolean
      signed_upload_url: string
    }
    expect(created.ok).toBe(true)
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251))
    await new BlockBlobClient(created.signed_upload_url).uploadData(data, {
      blockSize: 1024,
      maxSingleShotSize: 1024,
      concurrency: 2,
    })
    expect(fake.requests().filter((r) => r.endpoint === 'blob:put-block')).toHaveLength(5)
    expect(fake.requests().filter((r) => r.endpoint === 'blob:put-blocklist')).toHaveLength(1)
    // Not visible before it is finalized.
    expect(await (await twirp('GetCacheEntryDownloadURL', { key: 'k-1', version: 'v' })).json()).toEqual({
      ok: false,
    })
    const fin = await twirp('FinalizeCacheEntryUpload', { key: 'k-1', version: 'v', size_bytes: '5000' })
    expect(await fin.json()).toEqual({ ok: true, entry_id: '1' })
    expect(fake.entries()[0]!.data.equals(data)).toBe(true)

    const dup = await twirp('CreateCacheEntry', { key: 'k-1', version: 'v' })
    expect(dup.status).toBe(409)
    expect(await dup.json()).toMatchObject({ code: 'already_exists' })

    // Prefix match, version must match, newest first.
    await twirp('CreateCacheEntry', { key: 'k-2', version: 'v' }).then(async (r) => {
      const { signed_upload_url } = (await r.json()) as { signed_upload_url: string }
      await new BlockBlobClient(signed_upload_url).uploadData(Buffer.from('two'))
      await twirp('FinalizeCacheEntryUpload', { key: 'k-2', version: 'v', size_bytes: '3' })
    })
    const other = await twirp('GetCacheEntryDownloadURL', {
      key: 'k-9',
      restore_keys: ['k-'],
      version: 'other',
    })
    expect(await other.json()).toEqual({ ok: false })
    const found = (await (
      await twirp('GetCacheEntryDownloadURL', { key: 'k-9', restore_keys: ['x-', 'k-'], version: 'v' })
    ).json()) as { ok: boolean; signed_download_url: string; matched_key: string }
    expect(found).toMatchObject({ ok: true, matched_key: 'k-2' })
    const exact = (await (
      await twirp('GetCacheEntryDownloadURL', { key: 'k-1', restore_keys: ['k-'], version: 'v' })
    ).json()) as {
      signed_download_url: string
      matched_key: string
    }
    expect(exact.matched_key).toBe('k-1')
    const part = await fetch(exact.signed_download_url, { headers: { range: 'bytes=1000-1999' } })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true)
    // A download URL does not allow writing, and the upload URL is dead once finalized.
    expect((await fetch(exact.signed_download_url, { method: 'PUT', body: 'x' })).status).toBe(403)
    expect(
      (
        await fetch(created.signed_upload_url, {
          method: 'PUT',
          body: 'x',
          headers: { 'x-ms-blob-type': 'BlockBlob' },
        })
      ).status,
    ).toBe(403)
  })
})
