// The cache layout of issue #18 item 4 and #19 item 6: the session entry stays small, the download
// state (hand-off mode) has its own entry in a streamed, chunked encryption with no size cliff, and
// entry names carry an account tag so two Apple IDs of one repository never share an entry, even
// with the same session key. Through the real @actions/cache against the fake cache service.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { pipeline } from 'node:stream/promises'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ActionsCacheBackend } from '../src/session-cache/backend.js'
import {
  BlobError,
  cacheIds,
  encryptBundle,
  generateSessionKey,
  keyId,
  type SessionBundle,
} from '../src/session-cache/blob.js'
import { legacyCacheKeyPrefix, primaryCacheKey } from '../src/session-cache/keys.js'
import { restoreSession, saveSession, STATE_ACCOUNT } from '../src/session-cache/session-cache.js'
import { restoreStateEntry, saveStateEntry } from '../src/session-cache/state-entry.js'
import { decryptStream, encryptStream, STREAM_HEADER_LEN } from '../src/session-cache/stream-blob.js'
import { withoutSaveStamp } from '../src/action/state-step.js'
import { emptyState, loadStateFile, saveStateFile, serializeState, stamp } from '../src/photos/state.js'
import { startFakeActionsCache, type FakeActionsCache } from '../sim/actions-cache.js'
import { entryFile } from './helpers/cache-entries.js'

const REPO = 'JDoe/photos-backup'
const KEY = generateSessionKey()
const ALICE = 'alice.smith@example.com'
const BOB = 'Bob.Jones@Example.org'
const ROOT = join(import.meta.dirname, '..')

type Line = { level: string; message: string }
function testLog() {
  const lines: Line[] = []
  const at = (level: string) => (message: string) => void lines.push({ level, message })
  return {
    lines,
    of: (level: string) => lines.filter((l) => l.level === level).map((l) => l.message),
    info: at('info'),
    notice: at('notice'),
    warning: at('warning'),
    debug: at('debug'),
  }
}

async function seal(plain: Buffer, key = KEY, repo = REPO, chunk = 16): Promise<Buffer> {
  return buffer(Readable.from([plain]).pipe(encryptStream(key, repo, chunk)))
}
async function unseal(sealed: Buffer, key = KEY, repo = REPO): Promise<Buffer> {
  const out: Buffer[] = []
  await pipeline(Readable.from([sealed]), decryptStream(key, repo), async function (src) {
    for await (const c of src) out.push(c as Buffer)
  })
  return Buffer.concat(out)
}
async function reason(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(BlobError)
  return (e as BlobError).reason
}

describe('chunked stream encryption (the state entry)', () => {
  it('round-trips any length, chunk boundaries included, and fed in odd pieces', async () => {
    for (const n of [0, 1, 15, 16, 17, 32, 33, 1000]) {
      const plain = randomBytes(n)
      const sealed = await seal(plain)
      expect(sealed.length).toBe(STREAM_HEADER_LEN + n + 16 * Math.max(1, Math.ceil(n / 16)))
      // Delivered one byte at a time: the decryptor must not depend on how reads split.
      const out: Buffer[] = []
      await pipeline(
        Readable.from([...sealed].map((b) => Buffer.from([b]))),
        decryptStream(KEY, REPO),
        async (src) => {
          for await (const c of src) out.push(c as Buffer)
        },
      )
      expect(Buffer.concat(out).equals(plain), `length ${n}`).toBe(true)
    }
    // A passphrase works the same way (scrypt parameters in the header).
    const plain = randomBytes(100)
    expect((await unseal(await seal(plain, 'a passphrase'), 'a passphrase')).equals(plain)).toBe(true)
  })

  it('refuses a flipped byte, a stream cut at a chunk boundary, swapped chunks, another key or repository', async () => {
    const plain = randomBytes(64)
    const sealed = await seal(plain) // header + 4 chunks of 16+16, the 4th sealed as last
    const flipped = Buffer.from(sealed)
    flipped[STREAM_HEADER_LEN + 40]! ^= 1
    expect(await reason(unseal(flipped))).toBe('tampered')
    // Cut after two whole chunks: without the last-chunk flag that would pass for a shorter state.
    expect(await reason(unseal(sealed.subarray(0, STREAM_HEADER_LEN + 64)))).toBe('tampered')
    expect(await reason(unseal(sealed.subarray(0, sealed.length - 16)))).toBe('tampered')
    const c = (i: number) => sealed.subarray(STREAM_HEADER_LEN + i * 32, STREAM_HEADER_LEN + (i + 1) * 32)
    const swapped = Buffer.concat([
      sealed.subarray(0, STREAM_HEADER_LEN),
      c(1),
      c(0),
      c(2),
      c(3),
      sealed.subarray(STREAM_HEADER_LEN + 128),
    ])
    expect(await reason(unseal(swapped))).toBe('tampered')
    expect(await reason(unseal(sealed, generateSessionKey()))).toBe('wrong-key')
    expect(await reason(unseal(sealed, 'a passphrase'))).toBe('wrong-key')
    expect(await reason(unseal(sealed, KEY, 'someone/else'))).toBe('repository')
    expect(await reason(unseal(Buffer.from('not a stream at all, really not one')))).toBe('format')
    expect((await unseal(sealed)).equals(plain)).toBe(true)
  })
})

describe('cache entries with the real @actions/cache against the fake v2 service', () => {
  let fake: FakeActionsCache
  let base: string
  let savedEnv: NodeJS.ProcessEnv
  let stdout: string
  const backend = new ActionsCacheBackend()

  beforeEach(async () => {
    savedEnv = { ...process.env }
    base = await mkdtemp(join(tmpdir(), 'cache-layout-test-'))
    fake = await startFakeActionsCache({ runnerTemp: join(base, 'runner-temp') })
    for (const k of ['ACTIONS_CACHE_MODE', 'ACTIONS_CACHE_URL', 'RUNNER_DEBUG']) delete process.env[k]
    await mkdir(join(base, 'workspace'))
    Object.assign(process.env, fake.env, { GITHUB_WORKSPACE: join(base, 'workspace') })
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

  /** A session as the action packs it: the cookie jar and .session named for the Apple ID. */
  const sessionOf = (appleId: string, marker: string): SessionBundle => {
    const base = appleId.toLowerCase().replace(/[^a-z0-9]/g, '')
    return {
      files: {
        [base]: Buffer.from(`#LWP-Cookies-2.0\n${marker}\n`),
        [`${base}.session`]: Buffer.from(`{"m":"${marker}"}`),
      },
      state: { notifiedExpiry: [marker] },
    }
  }
  const owns = (appleId: string) => (b: SessionBundle) =>
    Object.hasOwn(b.files, appleId.toLowerCase().replace(/[^a-z0-9]/g, ''))
  const common = (account: string) => ({
    backend,
    key: KEY,
    repository: REPO,
    account,
    runnerOs: 'Linux',
    tmpDir: join(base, 'runner-temp', 'icloud-photos-session'),
  })
  /** Every form in which an Apple ID could leak into a key name. */
  const idForms = (id: string) => [
    id,
    id.toLowerCase(),
    encodeURIComponent(id),
    id.split('@')[0]!.toLowerCase(),
    id.toLowerCase().replace(/[^a-z0-9]/g, ''),
  ]

  it('two accounts, one session key, one repository: separate entries, each restores its own', async () => {
    const now = Date.parse('2026-11-01T00:00:00Z')
    // Two steps of the same job (same run id) save their sessions and states.
    for (const [who, run] of [
      [ALICE, 11],
      [BOB, 11],
    ] as const) {
      const log = testLog()
      const s = await saveSession({
        ...common(who),
        runId: run,
        runAttempt: 1,
        bundle: sessionOf(who, `cookie-of-${who}`),
        now,
        log,
      })
      expect(s.saved, JSON.stringify(log.lines)).toBe(true)
      const stateFile = join(base, `${who}.json`)
      await writeFile(stateFile, `{"v":2,"g":1,"t":"x","m":{"${who}":""}}`)
      const t = await saveStateEntry({
        ...common(who),
        runId: run,
        runAttempt: 1,
        stateFile,
        extras: {},
        now,
        log,
      })
      expect(t.saved, JSON.stringify(log.lines)).toBe(true)
    }
    const keys = fake.entries().map((e) => e.key)
    expect(keys).toHaveLength(4)
    expect(new Set(keys).size).toBe(4)
    for (const k of keys)
      for (const form of [...idForms(ALICE), ...idForms(BOB)])
        expect(k.toLowerCase()).not.toContain(form.toLowerCase())

    // The next run of each account finds its own entries, never the other's (newest first: Bob's).
    for (const who of [ALICE, BOB]) {
      const log = testLog()
      const r = await restoreSession({
        ...common(who),
        runId: 12,
        runAttempt: 1,
        log,
        ownsLegacyBundle: owns(who),
      })
      expect(r.source).toBe('cache')
      expect(r.bundle!.files[who.toLowerCase().replace(/[^a-z0-9]/g, '')]!.toString()).toContain(
        `cookie-of-${who}`,
      )
      expect(r.bundle!.state[STATE_ACCOUNT]).toBe(cacheIds(KEY, who).account)
      const out = join(base, `restored-${who}.json`)
      const st = await restoreStateEntry({ ...common(who), runId: 12, runAttempt: 1, outFile: out, log })
      expect(st.found).toBe(true)
      expect(await readFile(out, 'utf8')).toContain(`"${who}"`)
      expect(log.of('warning')).toEqual([])
    }
    // A third account with the same key has nothing to restore.
    const r = await restoreSession({
      ...common('carol@example.net'),
      runId: 12,
      runAttempt: 1,
      log: testLog(),
      ownsLegacyBundle: owns('carol@example.net'),
    })
    expect(r).toMatchObject({ source: 'none', reason: 'cache-miss' })
    expect(stdout).not.toContain(ALICE)
  })

  it('an entry of an earlier release (no account in its name) is read once, and only by its own account', async () => {
    // What releases before the account tag saved: one name for every account with this key.
    const legacyKey = primaryCacheKey(legacyCacheKeyPrefix('Linux', keyId(KEY)), 5, 1)
    const tmp = common(BOB).tmpDir
    await mkdir(tmp, { recursive: true })
    const legacy = sessionOf(BOB, 'old-cookie')
    legacy.state.photos = '{"v":2,"g":3,"t":"2026-01-01T00:00:00.000Z","m":{}}'
    await writeFile(join(tmp, 'session.enc'), encryptBundle(legacy, KEY, REPO))
    expect(await backend.save([join(tmp, 'session.enc')], legacyKey)).toBe(true)

    // Alice shares the key: the old entry is Bob's session, so she must not get it.
    const aliceLog = testLog()
    const a = await restoreSession({
      ...common(ALICE),
      runId: 6,
      runAttempt: 1,
      log: aliceLog,
      ownsLegacyBundle: owns(ALICE),
    })
    expect(a).toMatchObject({ source: 'none', reason: 'cache-miss' })
    expect(aliceLog.of('info').join('\n')).toMatch(/belongs to another account; not using it/)

    const bobLog = testLog()
    const b = await restoreSession({
      ...common(BOB),
      runId: 6,
      runAttempt: 1,
      log: bobLog,
      ownsLegacyBundle: owns(BOB),
    })
    expect(b).toMatchObject({ source: 'cache', cacheKey: legacyKey })
    expect(b.bundle!.state.photos).toBe(legacy.state.photos) // the state is read from it once
    // Saved under the new name even though nothing changed, without the old state.
    const { photos: _p, ...small } = b.bundle!.state
    const s = await saveSession({
      ...common(BOB),
      runId: 6,
      runAttempt: 1,
      bundle: { files: b.bundle!.files, state: b.bundle!.state },
      previousFingerprint: b.fingerprint,
      restoredAt: b.cacheKey,
      lastSavedAt: b.savedAt,
      now: Date.now(),
      log: bobLog,
    })
    expect(s).toMatchObject({ saved: true, reason: 'migrate' })
    expect(s.key).toMatch(new RegExp(`-${cacheIds(KEY, BOB).account}-session-6-1$`))
    const s2 = await saveSession({
      ...common(BOB),
      runId: 7,
      runAttempt: 1,
      bundle: { files: b.bundle!.files, state: small },
      previousFingerprint: b.fingerprint,
      restoredAt: b.cacheKey,
      now: Date.now(),
      log: bobLog,
    })
    expect(s2).toMatchObject({ saved: true, reason: 'changed' })
    const again = await restoreSession({
      ...common(BOB),
      runId: 8,
      runAttempt: 1,
      log: testLog(),
      ownsLegacyBundle: owns(BOB),
    })
    expect(again.cacheKey).toBe(s2.key)
    expect(again.bundle!.state.photos).toBeUndefined()
    // Without an ownership check, old entries are never read.
    const blind = await restoreSession({
      ...common('dave@example.com'),
      runId: 9,
      runAttempt: 1,
      log: testLog(),
    })
    expect(blind.source).toBe('none')
  })

  it('a state entry round-trips into a state file the engine reads, and is saved only when it changed', async () => {
    const dir = join(base, 'photos')
    const s = emptyState()
    for (let i = 0; i < 500; i++)
      s.manifest.set(`asset-${i}`, [
        {
          relPath: `2024/05/17/IMG_${i}.HEIC`,
          size: 1000 + i,
          sha256: createHash('sha256').update(String(i)).digest('hex'),
        },
      ])
    s.zoneSyncToken = 'zone-token-1'
    await saveStateFile(dir, stamp(s))
    const stateFile = join(dir, '.icloud-photos-state.json')
    const log = testLog()
    const extras = { handoff: { runId: '21', runAttempt: '1', base: {}, files: ['2024/05/17/IMG_1.HEIC'] } }
    const saved = await saveStateEntry({
      ...common(ALICE),
      runId: 21,
      runAttempt: 1,
      stateFile,
      extras,
      now: 1_000,
      log,
    })
    expect(saved).toMatchObject({ saved: true, reason: 'changed' })
    // Encrypted: nothing of the state is readable in what was uploaded.
    const uploaded = entryFile(fake.entries()[0]!)
    expect(uploaded.subarray(0, 4).toString()).toBe('ICPT')
    expect(uploaded.includes(Buffer.from('IMG_1'))).toBe(false)
    expect(uploaded.includes(Buffer.from('zone-token-1'))).toBe(false)

    const out = join(base, 'fresh', 'state.json')
    await mkdir(join(base, 'fresh'))
    const r = await restoreStateEntry({ ...common(ALICE), runId: 22, runAttempt: 1, outFile: out, log })
    if (!r.found) throw new Error('not found')
    expect(r.extras).toEqual(extras)
    expect((await readFile(out)).equals(await readFile(stateFile))).toBe(true)
    await rm(dir, { recursive: true })
    await mkdir(dir)
    await writeFile(join(dir, '.icloud-photos-state.json'), await readFile(out))
    expect(serializeState((await loadStateFile(dir))!)).toBe(serializeState(s))

    // Unchanged: not saved; a changed record or state: saved; an old entry: re-saved to keep it.
    const next = {
      ...common(ALICE),
      runId: 22,
      runAttempt: 1,
      stateFile,
      previousFingerprint: r.fingerprint,
      restoredAt: r.cacheKey,
      lastSavedAt: r.savedAt,
      log,
    }
    await saveStateFile(dir, (await loadStateFile(dir))!) // same bytes again
    const same = { ...next, stateFile: join(dir, '.icloud-photos-state.json') }
    expect(await saveStateEntry({ ...same, extras, now: 2_000 })).toMatchObject({
      saved: false,
      reason: 'unchanged',
    })
    expect(await saveStateEntry({ ...same, extras: {}, now: 2_000 })).toMatchObject({
      saved: true,
      reason: 'changed',
    })
    expect(await saveStateEntry({ ...same, runId: 23, extras, now: 1_000 + 6 * 86_400_000 })).toMatchObject({
      saved: true,
      reason: 'keep-alive',
    })
    // The engine stamps every save (generation, time) even when nothing changed, as on a fresh
    // runner that found nothing new: the action leaves the stamp out and uploads nothing.
    const withRule = await restoreStateEntry({
      ...common(ALICE),
      runId: 26,
      runAttempt: 1,
      outFile: out,
      log,
      normalizeHead: withoutSaveStamp,
    })
    if (!withRule.found) throw new Error('not found')
    const restamped = (await loadStateFile(dir))!
    await saveStateFile(dir, stamp(restamped, 5_000))
    const stampOnly = {
      ...same,
      runId: 26,
      extras,
      now: withRule.savedAt! + 1_000,
      previousFingerprint: withRule.fingerprint,
      restoredAt: withRule.cacheKey,
      lastSavedAt: withRule.savedAt,
    }
    expect(await saveStateEntry({ ...stampOnly, normalizeHead: withoutSaveStamp })).toMatchObject({
      saved: false,
      reason: 'unchanged',
    })
    // The rule is live: without it the stamp alone counts as a change; so does a new file.
    expect(await saveStateEntry({ ...stampOnly, runId: 27 })).toMatchObject({
      saved: true,
      reason: 'changed',
    })
    restamped.manifest.set('asset-new', [{ relPath: 'new.HEIC', size: 1, sha256: '' }])
    await saveStateFile(dir, stamp(restamped, 6_000))
    expect(await saveStateEntry({ ...stampOnly, runId: 28, normalizeHead: withoutSaveStamp })).toMatchObject({
      saved: true,
      reason: 'changed',
    })
    // No state file (the engine never ran): nothing saved over the cached entry.
    expect(
      await saveStateEntry({ ...same, runId: 24, stateFile: join(base, 'none.json'), extras, now: 3_000 }),
    ).toMatchObject({ saved: false, reason: 'no-state' })
    // Another key cannot open it: a warning and a miss, never a wrong state.
    const other = await restoreStateEntry({
      ...common(ALICE),
      key: generateSessionKey(),
      runId: 25,
      runAttempt: 1,
      outFile: join(base, 'x.json'),
      log,
    })
    expect(other.found).toBe(false)
  })

  it('2 million files: the state entry saves and restores through @actions/cache with flat memory', async () => {
    // A synthetic state in the engine's format: 1M assets × (photo + live-photo video) = 2M files.
    const ASSETS = 1_000_000
    const stateFile = join(base, 'state-2m.json')
    const sha = () => randomBytes(32).toString('base64url')
    async function* pieces() {
      yield '{"v":2,"g":7,"t":"2026-11-01T00:00:00.000Z","zt":"zone-token","m":{'
      let batch = ''
      for (let i = 0; i < ASSETS; i++) {
        const d = `20${10 + (i % 15)}/${String(1 + (i % 12)).padStart(2, '0')}/${String(1 + (i % 28)).padStart(2, '0')}`
        const packed = `${d}/IMG_${i}.HEIC\0${2_000_000 + i}\0${sha()}\0${d}/IMG_${i}_HEVC.MOV\0${3_000_000 + i}\0${sha()}`
        batch += `${i ? ',' : ''}${JSON.stringify(`A${randomBytes(18).toString('base64url')}`)}:${JSON.stringify(packed)}`
        if (batch.length > 1 << 20) {
          yield batch
          batch = ''
        }
      }
      yield `${batch}}}`
    }
    await pipeline(Readable.from(pieces()), createWriteStream(stateFile))
    const plainBytes = (await stat(stateFile)).size
    const restoreTo = join(base, 'restored-2m.json')
    const child = spawn(
      process.execPath,
      [
        '--experimental-transform-types',
        '--no-warnings',
        '--import',
        join(ROOT, 'sim/ts-loader.mjs'),
        join(ROOT, '__tests__/helpers/state-entry-child.ts'),
        stateFile,
        restoreTo,
        join(base, 'child-tmp'),
      ],
      { env: { ...process.env, ICLOUD_TEST_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code, err).toBe(0)
    const result = JSON.parse(out.trim().split('\n').pop()!) as {
      save: { saved: boolean; key: string }
      restore: { found: boolean; cacheKey: string }
      baseline: number
      maxRssBytes: number
    }
    expect(result.save.saved, err).toBe(true)
    expect(result.restore).toMatchObject({ found: true, cacheKey: result.save.key })
    // Byte for byte the same state came back.
    const digest = async (f: string) => {
      const h = createHash('sha256')
      for await (const c of createReadStream(f)) h.update(c as Buffer)
      return h.digest('hex')
    }
    expect(await digest(restoreTo)).toBe(await digest(stateFile))
    const stored = fake.entries()[0]!.sizeBytes
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`
    console.info(
      `2M-file state: ${mib(plainBytes)} plain, ${mib(stored)} cached; child RSS ${mib(result.baseline)} after imports, peak ${mib(result.maxRssBytes)} (${JSON.stringify(result)})`,
    )
    // Flat memory: what save and restore add to the process stays far below the state's size (the
    // old single-blob format held it several times over, and refused anything above 64 MiB).
    const BOUND = 128 * 1024 * 1024
    expect(plainBytes).toBeGreaterThan(BOUND)
    expect(result.maxRssBytes - result.baseline).toBeLessThan(BOUND)
  }, 600_000)
})
