// Cancellation of the bundled action (dist/index.js) in the simulated runner: SIGINT, SIGTERM and
// SIGKILL at seeded points of the main step (downloads slowed by the fake so that kills land
// mid-file), then the post step, then the next run — on a fresh hosted runner in hand-off mode
// (the photos of a successful job were uploaded by a later step; those of a killed job are lost
// with the runner; the download state travels in its own cache entry) or on the same disk
// (self-hosted: the state file beside the photos). The whole library must end backed up, nothing
// that was already backed up is downloaded again, and a cancelled run never costs a full re-download.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { FakeLibrary, LibraryOptions } from '../sim/icloud/library.js'
import { createRunner, DIST_INDEX, type Runner, type StepResult } from '../sim/runner-env.js'
import { laptopLoginAndExport, PASSWORD, REPO, startWorld, USER, type World } from '../sim/world.js'
import { startFakeGitHub } from '../sim/github-api.js'
import {
  cacheIds,
  decryptBundle,
  encryptBundle,
  generateSessionKey,
  keyId,
} from '../src/session-cache/blob.js'
import { legacyCacheKeyPrefix } from '../src/session-cache/keys.js'
import { ActionsCacheBackend } from '../src/session-cache/backend.js'
import { decryptStream } from '../src/session-cache/stream-blob.js'
import { parseState } from '../src/photos/state.js'
import { entryFile } from './helpers/cache-entries.js'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { createGunzip } from 'node:zlib'
import { main as cli } from '../src/cli/program.js'
import { consoleLogin, testIo } from './helpers/cli-io.js'
import { expectedHashes, onDisk } from './helpers/photos-harness.js'

const LIB: LibraryOptions = { count: 24, kinds: ['jpeg', 'live'], minBytes: 1500, maxBytes: 3000, seed: 14 }
/** Assets added between the first run and the cancelled one. */
const NEW_ASSETS = 14
/** Slow bodies: a file takes a few hundred ms, so a kill lands while several are in flight. */
const SLOW = { kind: 'slow' as const, chunkBytes: 200, delayMs: 30, times: Infinity }

let cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined)
  cleanups = []
})

beforeAll(() => {
  if (!existsSync(DIST_INDEX)) throw new Error('dist/index.js is missing: run `npm run build`')
})

interface Setup {
  runner: Runner
  world: World
  photos: string
  inputs: Record<string, string>
  env: Record<string, string>
  /** Hand-off: record how the current run's job ended, for the next run to ask (a no-op otherwise). */
  jobEnded(conclusion: 'success' | 'failure' | 'cancelled'): void
}

/** A hosted runner keeps nothing between jobs: hand-off mode, with GitHub's API to ask. */
async function hostedSetup(library: LibraryOptions = LIB): Promise<Setup> {
  const s = await setup(library, '  hand-off: true\n')
  const [owner, repo] = REPO.split('/') as [string, string]
  const github = await startFakeGitHub({ token: 'ghs_handofftoken0123456789', owner, repo })
  cleanups.push(() => github.close())
  s.inputs['github-token'] = github.token
  s.env.GITHUB_API_URL = github.url
  s.jobEnded = (conclusion) => github.setRun(s.runner.runId, 1, { status: 'completed', conclusion })
  return s
}

async function setup(library: LibraryOptions = LIB, photosConfig = ''): Promise<Setup> {
  const runner = await createRunner()
  const world = await startWorld({ library, runnerTemp: runner.runnerTemp })
  cleanups.push(async () => {
    await world.close()
    await runner.cleanup()
  })
  const key = generateSessionKey()
  const seed = await laptopLoginAndExport(world.icloud, { key })
  await mkdir(path.join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    path.join(runner.workspace, '.github/icloud-photos.yml'),
    `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\nphotos:\n  folder-structure: none\n  threads: 4\n${photosConfig}`,
  )
  const photos = path.join(runner.root, 'photos')
  return {
    runner,
    world,
    photos,
    inputs: {
      config: '.github/icloud-photos.yml',
      password: PASSWORD,
      session: seed,
      'session-key': key,
      mode: 'sync',
      directory: photos,
    },
    env: { ...world.env, RUNNER_TEMP: runner.runnerTemp },
    jobEnded: () => undefined,
  }
}

/** Hashes of the files the content host served (in full or resumed) since `mark`. */
function servedSince(lib: FakeLibrary, mark: number): string[] {
  return lib.downloadLog
    .slice(mark)
    .map((d) => lib.sha256(lib.privateZone, lib.locate(d.assetId)!.index, d.res))
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** mulberry32: the kill points are random but the same on every run of the suite. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Kill = 'SIGINT' | 'SIGTERM' | 'SIGKILL'

/**
 * Run main and send `signal` once `ready()` holds; returns the step's result. For SIGINT/SIGTERM
 * a second signal is never sent: the step must end by itself.
 */
async function killedMain(s: Setup, signal: Kill, ready: () => boolean): Promise<StepResult> {
  let child: ChildProcess | undefined
  const step = s.runner.step('main', s.inputs, s.env, {}, { onSpawn: (c) => (child = c) })
  let done = false
  void step.finally(() => (done = true))
  await until('the kill point', () => done || ready())
  expect(done, 'the main step finished before the kill point').toBe(false)
  child!.kill(signal)
  return step
}

function expectCancelled(main: StepResult, signal: Kill): void {
  if (signal === 'SIGKILL') {
    expect(main.code).toBe(-1) // ended by the signal, no exit code
    return
  }
  expect(main.code, main.stdout + main.stderr).toBe(signal === 'SIGINT' ? 130 : 143)
  expect(main.outputs.status).toBe('failed')
  expect(main.outputs['error-code']).toBe('CANCELLED')
  const errors = main.stdout.split('\n').filter((l) => l.startsWith('::error'))
  expect(errors).toHaveLength(1)
  expect(errors[0]).toMatch(/\[CANCELLED\].*cancelled \(SIG(INT|TERM)\)/)
}

describe('cancellation of the bundled action', () => {
  it('SIGINT shortly after the start, then a fresh runner: only the new assets are downloaded, not the whole library', async () => {
    const s = await hostedSetup()
    const first = await s.runner.job(s.inputs, s.env)
    expect(first.main.code, first.main.stdout).toBe(0)
    expect(first.post.stdout).toContain('Session saved to the Actions cache')
    expect(first.post.stdout).toContain('Download state saved to the Actions cache')
    const uploaded = onDisk(s.photos).finals // a later step of the successful job uploads them
    expect(uploaded).toEqual(expectedHashes(s.world.library))
    s.jobEnded('success')
    s.world.library.addAssets(NEW_ASSETS)

    // Run 2, a fresh hosted runner, cancelled while it is still restoring and signing in.
    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    const mark = s.world.icloud.server.log.length
    const main = await killedMain(s, 'SIGINT', () => s.world.icloud.server.log.length > mark)
    expectCancelled(main, 'SIGINT')
    const post = await s.runner.step('post', s.inputs, s.env, main.state)
    expect(post.code, post.stdout).toBe(0)
    s.jobEnded('cancelled')

    // Run 3, another fresh runner: the cached state still knows the first run's library.
    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    const served = s.world.library.downloadLog.length
    const third = await s.runner.job(s.inputs, s.env)
    expect(third.main.code, third.main.stdout).toBe(0)
    expect(third.main.stdout).toContain('Session restored from the Actions cache')
    const again = servedSince(s.world.library, served)
    expect(
      again.filter((h) => uploaded.includes(h)),
      'files already backed up downloaded again',
    ).toEqual([])
    expect([...uploaded, ...onDisk(s.photos).finals].sort()).toEqual(expectedHashes(s.world.library))
  }, 120_000)

  it('SIGINT while Apple holds a request: the grace period forces the exit (130) after the state is written; the next run continues', async () => {
    const s = await hostedSetup()
    const first = await s.runner.job(s.inputs, s.env)
    expect(first.main.code, first.main.stdout).toBe(0)
    const uploaded = onDisk(s.photos).finals
    s.jobEnded('success')
    s.world.library.addAssets(NEW_ASSETS)

    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    // The first CloudKit call of a run with tokens, held far longer than the grace period.
    s.world.icloud.server.inject('ck:changes/database', { delayMs: 30_000 })
    const mark = s.world.icloud.server.log.length
    const main = await killedMain(s, 'SIGINT', () =>
      s.world.icloud.server.log.slice(mark).some((e) => e.path.endsWith('/changes/database')),
    )
    expectCancelled(main, 'SIGINT')
    expect(main.stdout, 'the run got past the held request').not.toMatch(/^Photos: /m)
    const post = await s.runner.step('post', s.inputs, s.env, main.state)
    expect(post.code, post.stdout).toBe(0)
    expect(post.stdout).not.toMatch(/::error::|Session not saved: the main step left no state/)
    s.jobEnded('cancelled')

    s.world.icloud.server.clearFaults()
    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    const served = s.world.library.downloadLog.length
    const third = await s.runner.job(s.inputs, s.env)
    expect(third.main.code, third.main.stdout).toBe(0)
    expect(servedSince(s.world.library, served).filter((h) => uploaded.includes(h))).toEqual([])
    expect([...uploaded, ...onDisk(s.photos).finals].sort()).toEqual(expectedHashes(s.world.library))
  }, 120_000)

  it('SIGKILL before main restored anything: post saves nothing over the cached entries (they would know less); the next run is incremental', async () => {
    const s = await hostedSetup()
    const first = await s.runner.job(s.inputs, s.env)
    expect(first.main.code, first.main.stdout).toBe(0)
    const uploaded = onDisk(s.photos).finals
    s.jobEnded('success')
    const saved = s.world.cache.entries().map((e) => e.key)
    expect(saved.map((k) => k.replace(/^icloud-photos-linux-[0-9a-f]{12}-[0-9a-f]{12}-/, ''))).toEqual([
      'state-1001-1',
      'session-1001-1',
    ])
    s.world.library.addAssets(NEW_ASSETS)

    // Self-hosted: the session files stay in the cookie directory, so post has something to save.
    await s.runner.nextRun({ keepDisk: true })
    s.world.cache.server.inject('twirp:GetCacheEntryDownloadURL', { delayMs: 30_000 })
    const mark = s.world.cache.server.log.length
    const main = await killedMain(s, 'SIGKILL', () =>
      s.world.cache.server.log.slice(mark).some((e) => e.endpoint === 'twirp:GetCacheEntryDownloadURL'),
    )
    expectCancelled(main, 'SIGKILL')
    s.world.cache.server.clearFaults()
    const post = await s.runner.step('post', s.inputs, s.env, main.state)
    expect(post.code, post.stdout).toBe(0)
    expect(post.stdout).toContain('Session not saved: the main step left no state')
    expect(s.world.cache.entries().map((e) => e.key)).toEqual(saved)
    s.jobEnded('failure')

    // Then a fresh hosted runner: the first run's entry still holds its tokens.
    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    const served = s.world.library.downloadLog.length
    const third = await s.runner.job(s.inputs, s.env)
    expect(third.main.code, third.main.stdout).toBe(0)
    expect(third.main.stdout).toContain('Session restored from the Actions cache')
    expect(servedSince(s.world.library, served).filter((h) => uploaded.includes(h))).toEqual([])
    expect([...uploaded, ...onDisk(s.photos).finals].sort()).toEqual(expectedHashes(s.world.library))
  }, 120_000)

  // Two seeded points per signal; the first continues on a fresh hosted runner, the second on the
  // same disk (self-hosted), where the files finished before the kill must not be fetched again.
  const random = prng(0x14)
  const points = (['SIGINT', 'SIGTERM', 'SIGKILL'] as const).flatMap((signal) =>
    (['hosted', 'self-hosted'] as const).map((disk) => ({ signal, disk, at: Math.floor(random() * 16) })),
  )

  it.each(points)(
    '$signal after $at download requests, next run $disk → the library ends complete, nothing backed up is fetched twice',
    async ({ signal, disk, at }) => {
      const s = disk === 'hosted' ? await hostedSetup() : await setup()
      const lib = s.world.library
      const first = await s.runner.job(s.inputs, s.env)
      expect(first.main.code, first.main.stdout).toBe(0)
      const backedUp = onDisk(s.photos).finals
      s.jobEnded('success')
      lib.addAssets(NEW_ASSETS)

      await s.runner.nextRun({ keepDisk: disk === 'self-hosted' })
      if (disk === 'hosted') await rm(s.photos, { recursive: true, force: true })
      lib.downloadFaults.push({ ...SLOW })
      const mark = lib.downloadLog.length
      const main = await killedMain(s, signal, () => lib.downloadLog.length - mark > at)
      expectCancelled(main, signal)
      // SIGINT/SIGTERM: a graceful stop — the engine returned its counts, no forced exit was needed.
      if (signal !== 'SIGKILL') expect(main.stdout).toMatch(/^Photos: \d+ downloaded/m)
      const post = await s.runner.step('post', s.inputs, s.env, main.state)
      expect(post.code, post.stdout).toBe(0)
      expect(post.stdout).not.toMatch(/::error::/)
      s.jobEnded('cancelled')
      lib.downloadFaults.length = 0

      // On the same disk, what the killed run finished is kept (a parked `.part` may be resumed).
      const kept = disk === 'self-hosted' ? onDisk(s.photos).finals : []
      for (const h of kept) expect(expectedHashes(lib)).toContain(h)
      await s.runner.nextRun({ keepDisk: disk === 'self-hosted' })
      if (disk === 'hosted') await rm(s.photos, { recursive: true, force: true })
      const served = lib.downloadLog.length
      const third = await s.runner.job(s.inputs, s.env)
      expect(third.main.code, third.main.stdout).toBe(0)
      expect(third.main.outputs.status).not.toBe('failed')
      const again = servedSince(lib, served)
      expect(
        again.filter((h) => backedUp.includes(h) || kept.includes(h)),
        'fetched twice',
      ).toEqual([])
      expect(again.length, 'a full re-download').toBeLessThan(
        expectedHashes(lib).length - backedUp.length + 1,
      )

      const finals = onDisk(s.photos)
      expect(finals.parts).toEqual([])
      const present = disk === 'hosted' ? [...backedUp, ...finals.finals].sort() : finals.finals
      expect(present).toEqual(expectedHashes(lib))
    },
    120_000,
  )
})

describe('hand-off mode (photos.hand-off): files count once the job that downloaded them succeeded', () => {
  it('success commits the files; failure and an unanswerable API download them again; the uploads end complete', async () => {
    const s = await setup(LIB, '  hand-off: true\n')
    const [owner, repo] = REPO.split('/') as [string, string]
    const github = await startFakeGitHub({ token: 'ghs_handofftoken0123456789', owner, repo })
    cleanups.push(() => github.close())
    s.inputs['github-token'] = github.token
    s.env.GITHUB_API_URL = github.url
    const lib = s.world.library
    const committed: string[] = [] // what later steps of successful jobs uploaded
    const hosted = async (conclusion: 'success' | 'failure' | 'unknown') => {
      const served = lib.downloadLog.length
      const r = await s.runner.job(s.inputs, s.env)
      expect(r.main.code, r.main.stdout).toBe(0)
      // The session only when it changed; the state (new files, a new pending record) every time.
      expect(r.post.stdout).toMatch(/Session (saved to the Actions cache|not saved: unchanged)/)
      expect(r.post.stdout).toContain('Download state saved to the Actions cache')
      const files = onDisk(s.photos).finals
      // The job's later steps: the upload (success) or a failing step (failure); unknown: nothing recorded.
      if (conclusion !== 'unknown') github.setRun(s.runner.runId, 1, { status: 'completed', conclusion })
      if (conclusion === 'success') committed.push(...files)
      await s.runner.nextRun()
      await rm(s.photos, { recursive: true, force: true })
      return { r, files, served: servedSince(lib, served) }
    }

    const one = await hosted('success')
    expect(one.files).toEqual(expectedHashes(lib))
    // Two entries: a small session without the download state, and the state with the pending record.
    const key = s.inputs['session-key']!
    const entry = (kind: string) => s.world.cache.entries().find((e) => e.key.includes(`-${kind}-`))!
    const session = decryptBundle(entryFile(entry('session')), key, REPO)
    expect(Object.keys(session.state).filter((k) => ['photos', 'handoff'].includes(k))).toEqual([])
    expect(entryFile(entry('session')).length).toBeLessThan(8 * 1024)
    const stateText = (
      await buffer(
        Readable.from([entryFile(entry('state'))])
          .pipe(decryptStream(key, REPO))
          .pipe(createGunzip()),
      )
    ).toString('utf8')
    const [head, stateJson] = [
      stateText.slice(0, stateText.indexOf('\n')),
      stateText.slice(stateText.indexOf('\n') + 1),
    ]
    expect(JSON.parse(head).extras.handoff).toMatchObject({ runId: '1001', runAttempt: '1' })
    const recorded = [...parseState(stateJson)!.manifest.entries()].flatMap(([, files]) => files)
    expect(recorded).toHaveLength(one.files.length)

    lib.addAssets(NEW_ASSETS)
    const two = await hosted('failure')
    expect(two.r.main.stdout).toContain('Hand-off: run 1001 (attempt 1) succeeded')
    expect(
      two.served.filter((h) => committed.includes(h)),
      'committed files fetched again',
    ).toEqual([])
    expect(two.files.length).toBeGreaterThan(0)

    // Run 1002's job failed after downloading: its files were never uploaded and come again.
    const three = await hosted('unknown')
    expect(three.r.main.stdout).toMatch(
      /Hand-off: run 1002 \(attempt 1\) ended `failure`; \d+ file\(s\) it downloaded are downloaded again/,
    )
    expect(three.files).toEqual(two.files)
    expect(three.served.filter((h) => committed.includes(h))).toEqual([])

    // GitHub cannot say how run 1003 ended (404): the safe choice, downloading again, with the reason.
    const four = await hosted('success')
    expect(four.r.main.stdout).toMatch(
      /::warning::Hand-off: GitHub could not tell how run 1003 \(attempt 1\) ended.*404.*actions: read/,
    )
    expect(four.files).toEqual(two.files)
    expect(github.requests.filter((q) => q.path.includes('/actions/runs/')).map((q) => q.path)).toEqual(
      [1001, 1002, 1003].map((id) => `/repos/${REPO}/actions/runs/${id}/attempts/1`),
    )
    expect([...committed].sort()).toEqual(expectedHashes(lib))
    // The token is only ever registered as a secret (::add-mask::), never printed.
    for (const step of [one, two, three, four]) {
      const printed = (step.r.main.stdout + step.r.post.stdout)
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
      expect(printed.join('\n')).not.toContain(github.token)
    }
  }, 120_000)
  it('a cancelled job: its files are not committed, the next run downloads them again and fetches nothing committed twice', async () => {
    const s = await setup(LIB, '  hand-off: true\n')
    const [owner, repo] = REPO.split('/') as [string, string]
    const github = await startFakeGitHub({ token: 'ghs_handofftoken0123456789', owner, repo })
    cleanups.push(() => github.close())
    s.inputs['github-token'] = github.token
    s.env.GITHUB_API_URL = github.url
    const lib = s.world.library
    const first = await s.runner.job(s.inputs, s.env)
    expect(first.main.code, first.main.stdout).toBe(0)
    github.setRun(s.runner.runId, 1, { status: 'completed', conclusion: 'success' })
    const committed = onDisk(s.photos).finals
    lib.addAssets(NEW_ASSETS)

    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    lib.downloadFaults.push({ ...SLOW })
    const mark = lib.downloadLog.length
    const main = await killedMain(s, 'SIGINT', () => lib.downloadLog.length - mark > 8)
    expectCancelled(main, 'SIGINT')
    expect((await s.runner.step('post', s.inputs, s.env, main.state)).code).toBe(0)
    github.setRun(s.runner.runId, 1, { status: 'completed', conclusion: 'cancelled' })
    lib.downloadFaults.length = 0

    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    const served = lib.downloadLog.length
    const third = await s.runner.job(s.inputs, s.env)
    expect(third.main.code, third.main.stdout).toBe(0)
    expect(third.main.stdout).toMatch(/Hand-off: run 1002 \(attempt 1\) ended `cancelled`/)
    expect(servedSince(lib, served).filter((h) => committed.includes(h))).toEqual([])
    expect([...committed, ...onDisk(s.photos).finals].sort()).toEqual(expectedHashes(lib))
  }, 120_000)
})

describe('a session entry saved by an earlier release (state inside, no account in its name)', () => {
  it('is read once: nothing is downloaded again, the next save writes the new layout', async () => {
    // Run 1 (self-hosted) leaves a state file beside the photos and the session in the cache.
    const s = await setup()
    const first = await s.runner.job(s.inputs, s.env)
    expect(first.main.code, first.main.stdout).toBe(0)
    const done = onDisk(s.photos).finals
    const session = decryptBundle(entryFile(s.world.cache.entries()[0]!), s.inputs['session-key']!, REPO)
    const stateText = await readFile(path.join(s.photos, '.icloud-photos-state.json'), 'utf8')

    // What an earlier release saved: one blob with the state, under a name without the account
    // (a fresh key, so no new-layout entry exists for it).
    const key = generateSessionKey()
    const legacy = encryptBundle(
      { files: session.files, state: { ...session.state, photos: stateText } },
      key,
      REPO,
    )
    const saved = { ...process.env }
    try {
      Object.assign(process.env, s.world.cache.env, { GITHUB_WORKSPACE: s.runner.workspace })
      const file = path.join(s.runner.runnerTemp, 'icloud-photos-session', 'session.enc')
      await mkdir(path.dirname(file), { recursive: true })
      await writeFile(file, legacy)
      const legacyKey = `${legacyCacheKeyPrefix('Linux', keyId(key))}900-1`
      expect(await new ActionsCacheBackend().save([file], legacyKey)).toBe(true)
      await rm(file)
    } finally {
      process.env = saved
    }

    // Run 2: a fresh hosted runner in hand-off mode with that key.
    await writeFile(
      path.join(s.runner.workspace, '.github/icloud-photos.yml'),
      `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\nphotos:\n  folder-structure: none\n  threads: 4\n  hand-off: true\n`,
    )
    const inputs = { ...s.inputs, 'session-key': key, session: '' }
    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    let served = s.world.library.downloadLog.length
    const two = await s.runner.job(inputs, s.env)
    expect(two.main.code, two.main.stdout).toBe(0)
    expect(two.main.stdout).toContain('Using the session saved by an earlier release')
    expect(servedSince(s.world.library, served), 'downloaded again').toEqual([])
    expect(two.post.stdout).toContain('Download state saved to the Actions cache')
    expect(two.post.stdout).toMatch(/Saved the encrypted session to the Actions cache as \S+ \(changed\)/)
    const ids = cacheIds(key, USER)
    const newSession = s.world.cache.entries().find((e) => e.key.includes(`-${ids.account}-session-`))!
    expect(decryptBundle(entryFile(newSession), key, REPO).state.photos).toBeUndefined()

    // Run 3, fresh again: the new entries; nothing about the old one, still nothing downloaded.
    await s.runner.nextRun()
    await rm(s.photos, { recursive: true, force: true })
    s.world.library.addAssets(3)
    served = s.world.library.downloadLog.length
    const three = await s.runner.job(inputs, s.env)
    expect(three.main.code, three.main.stdout).toBe(0)
    expect(three.main.stdout).not.toContain('earlier release')
    expect(servedSince(s.world.library, served).filter((h) => done.includes(h))).toEqual([])
    expect(onDisk(s.photos).finals.length).toBeGreaterThan(0)
  }, 120_000)
})

describe('the CLI `sync`', () => {
  const ROOT = path.resolve(import.meta.dirname, '..')
  const node = (args: string[], env: Record<string, string>) =>
    spawn(
      process.execPath,
      [
        '--experimental-transform-types',
        '--no-warnings',
        '--import',
        path.join(ROOT, 'sim/ts-loader.mjs'),
        path.join(ROOT, 'src/cli.ts'),
        ...args,
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s mid-download: exit 130/143 with CANCELLED, `.part` kept, and the next `sync` completes without fetching a finished file again',
    async (signal) => {
      const world = await startWorld({ library: { ...LIB, count: 16 } })
      const tmp = await mkdtemp(path.join(tmpdir(), 'cancel-cli-'))
      cleanups.push(async () => {
        await world.close()
        await rm(tmp, { recursive: true, force: true })
      })
      const cookies = path.join(tmp, 'cookies')
      const photos = path.join(tmp, 'photos')
      const io = (o: Parameters<typeof testIo>[0] = {}) =>
        testIo({ env: world.env, now: () => world.icloud.clock.now(), ...o })
      const t = io({ interactive: true })
      await consoleLogin(t, {
        user: USER,
        password: PASSWORD,
        cookies,
        code: () => world.icloud.deviceCode(USER),
      })

      const lib = world.library
      lib.downloadFaults.push({ ...SLOW })
      const child = node(
        ['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos, '--threads', '4'],
        { HOME: tmp, ...world.env },
      )
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
      await until('downloads under way', () => lib.downloadLog.length >= 6)
      child.kill(signal)
      expect(await exited, stderr).toBe(signal === 'SIGINT' ? 130 : 143)
      expect(stderr).toMatch(new RegExp(`error \\[CANCELLED\\]: stopped by ${signal}`))
      lib.downloadFaults.length = 0

      const { finals: kept, parts } = onDisk(photos)
      expect(kept.length).toBeLessThan(expectedHashes(lib).length)
      expect(parts.length, 'the files in flight are parked as .part').toBeGreaterThan(0)
      const served = lib.downloadLog.length
      expect(await cli(['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos], io().io)).toBe(0)
      expect(
        lib.downloadLog.slice(served).filter((d) => (d.rangeStart ?? 0) > 0).length,
        'parked files resumed',
      ).toBeGreaterThan(0)
      expect(
        servedSince(lib, served).filter((h) => kept.includes(h)),
        'fetched twice',
      ).toEqual([])
      expect(onDisk(photos)).toEqual({ finals: expectedHashes(lib), parts: [] })
    },
    60_000,
  )
})
