// The fault matrix: each phase of a run × each fault the fakes or the environment can inject, with
// the outcome a user relies on — the right error code, at most one SRP per run, no corrupt or
// duplicate file, the session kept, and a rerun that completes.
//
// Most rows drive the real modules in-process (authenticate → CloudKit → syncPhotos, the session
// cache with the real @actions/cache, notifyAll with the real channels) against the fakes. A few
// rows run the bundled action (dist/index.js) in the simulated runner. Faults:
// - 503 / reset / truncated body / malformed JSON: injected by the fakes (FakeServer.inject, the
//   library's download faults), a truncated body being a 200 whose JSON stops half-way.
// - disk full: `node:fs` and `node:fs/promises` are mocked for this file so that writes (or renames)
//   under chosen paths fail with a real-looking ENOSPC error; everything else passes through. (Read-only
//   directories would not do: the suite runs as root in some environments, and root writes anyway.)
// - process abort: the run is a child process (TypeScript via the test loader), SIGKILLed while the
//   fake holds the phase's request open, then rerun.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Fault, FakeServer } from '../sim/icloud/core.js'
import type { FakeLibrary, LibraryOptions } from '../sim/icloud/library.js'
import { startWebhookSink } from '../sim/webhook-sink.js'
import { startFakeGitHub } from '../sim/github-api.js'
import { createRunner, DIST_INDEX, type Runner, type StepResult } from '../sim/runner-env.js'
import {
  deviceCodeReader,
  laptopLoginAndExport,
  PASSWORD,
  REPO,
  startWorld,
  USER,
  type World,
} from '../sim/world.js'
import { authenticate, type AuthResult } from '../src/icloud/auth.js'
import type { Endpoints } from '../src/icloud/endpoints.js'
import { AppError, type ErrorCode } from '../src/core/errors.js'
import { HttpClient } from '../src/icloud/http.js'
import { loadSession, sessionPaths } from '../src/icloud/session-store.js'
import { CloudKitClient } from '../src/photos/cloudkit.js'
import { loadStateFile } from '../src/photos/state.js'
import { syncPhotos, type PhotosOptions, type SyncResult } from '../src/photos/sync.js'
import { photosOutcome } from '../src/photos/outcome.js'
import { readSessionFiles } from '../src/icloud/session-files.js'
import type { RunReport } from '../src/action/report.js'
import { ActionsCacheBackend } from '../src/session-cache/backend.js'
import { encodeExport, encryptBundle, generateSessionKey } from '../src/session-cache/blob.js'
import { restoreSession, saveSession, type CacheLog } from '../src/session-cache/session-cache.js'
import { notifyAll, type Channel } from '../src/notify/dispatch.js'
import type { NotificationEvent } from '../src/notify/event.js'
import { webhookChannel } from '../src/notify/webhook.js'
import { emailChannel } from '../src/notify/email.js'
import { githubIssueChannel } from '../src/notify/github-issue.js'
import type { MfaProvider } from '../src/icloud/ports.js'
import { expectedHashes, onDisk } from './helpers/photos-harness.js'

// ---- disk full ---------------------------------------------------------------------------------

const disk = vi.hoisted(() => {
  type Op = 'write' | 'mkdir' | 'rename'
  const state = { fails: undefined as undefined | ((op: Op, file: string) => boolean), hits: 0 }
  const hit = (op: Op, file: unknown): boolean => {
    if (typeof file !== 'string' && !(file instanceof URL)) return false
    const yes = state.fails?.(op, String(file)) === true
    if (yes) state.hits++
    return yes
  }
  const enospc = (syscall: string, file: string): Error =>
    Object.assign(new Error(`ENOSPC: no space left on device, ${syscall} '${file}'`), {
      code: 'ENOSPC',
      errno: -28,
      syscall,
      path: file,
    })
  const writes = (flags: unknown): boolean => typeof flags === 'string' && /[wa+]/.test(flags)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Any = any
  function wrapPromises(real: Any, exists: (p: Any) => boolean): Any {
    return {
      ...real,
      mkdir: async (p: Any, o: Any) => {
        // An existing directory is fine on a full disk; creating one is not.
        if (!exists(p) && hit('mkdir', p)) throw enospc('mkdir', String(p))
        return real.mkdir(p, o)
      },
      writeFile: async (p: Any, d: Any, o: Any) => {
        if (hit('write', p)) throw enospc('write', String(p))
        return real.writeFile(p, d, o)
      },
      open: async (p: Any, flags: Any, mode: Any) => {
        const fh = await real.open(p, flags, mode)
        if (!writes(flags) || !hit('write', p)) return fh
        // Creating the file works; writing to it does not (as on a full disk).
        return new Proxy(fh, {
          get(t, k) {
            if (k === 'writeFile' || k === 'write') {
              return async () => {
                throw enospc('write', String(p))
              }
            }
            const v = Reflect.get(t, k)
            return typeof v === 'function' ? v.bind(t) : v
          },
        })
      },
      rename: async (a: Any, b: Any) => {
        if (hit('rename', b)) throw enospc('rename', String(b))
        return real.rename(a, b)
      },
    }
  }
  function failingStream(real: Any, p: Any, o: Any): Any {
    const s = real.createWriteStream(p, o)
    const fail = (_c: Any, _e: Any, cb: (e: Error) => void) => cb(enospc('write', String(p)))
    s._write = fail
    s._writev = (_chunks: Any, cb: (e: Error) => void) => cb(enospc('write', String(p)))
    return s
  }
  return { state, hit, wrapPromises, failingStream }
})

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>()
  const { existsSync: exists } = await vi.importActual<typeof import('node:fs')>('node:fs')
  const wrapped = disk.wrapPromises(real, exists)
  return { ...wrapped, default: wrapped }
})
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  const promises = disk.wrapPromises(real.promises, real.existsSync)
  const createWriteStream = (p: string, o: unknown) =>
    disk.hit('write', p) ? disk.failingStream(real, p, o) : real.createWriteStream(p, o as never)
  const m = { ...real, promises, createWriteStream }
  return { ...m, default: m }
})

/** Everything under `dir` (a prefix) is on a full disk for `ops`. */
function diskFull(dir: string, ops: Array<'write' | 'mkdir' | 'rename'> = ['write', 'mkdir']): void {
  disk.state.fails = (op, file) => ops.includes(op) && path.resolve(file).startsWith(path.resolve(dir))
}

// ---- harness -----------------------------------------------------------------------------------

const DAY = 86_400_000
const here = path.dirname(fileURLToPath(import.meta.url))
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  disk.state.fails = undefined
  disk.state.hits = 0
  for (const c of cleanups.splice(0).reverse()) await c()
})

const quiet = { info: () => undefined, warning: () => undefined, debug: () => undefined }

interface Outcome {
  error?: unknown
  method?: AuthResult['method']
  sync?: SyncResult
  /** signin/complete requests the fake saw during this run (SRP attempts, faulted ones included). */
  srp: number
}

interface H {
  world: World
  lib: FakeLibrary
  server: FakeServer
  root: string
  cookies: string
  photos: string
  endpoints: Endpoints
  /** One run: sign in, then sync (unless `authOnly`) with extra photos options. */
  run(o?: { mfa?: MfaProvider; authOnly?: boolean; photos?: PhotosOptions }): Promise<Outcome>
  /** Signs in "on the laptop" (password + device code) into the cookie directory. */
  login(): Promise<void>
  /** Makes the stored web session and session token unusable, keeping the trust token: SRP is needed. */
  needSrp(): void
}

const LIB: LibraryOptions = { count: 150, kinds: ['jpeg', 'live'], minBytes: 1500, maxBytes: 3000, seed: 91 }

async function harness(o: { library?: LibraryOptions } = {}): Promise<H> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fault-'))
  const world = await startWorld({ library: { ...LIB, ...o.library } })
  // A long trust window, so "SRP needed" can be made by ageing the session token alone.
  world.icloud.trustDays = 365
  cleanups.push(async () => {
    await world.close()
    rmSync(root, { recursive: true, force: true })
  })
  const endpoints: Endpoints = {
    domain: 'com',
    auth: world.icloud.authEndpoint,
    authRoot: world.icloud.url,
    home: 'https://www.icloud.com',
    setup: world.icloud.setupEndpoint,
  }
  const h: H = {
    world,
    lib: world.library,
    server: world.icloud.server,
    root,
    cookies: path.join(root, 'cookies'),
    photos: path.join(root, 'photos'),
    endpoints,
    async run(r = {}) {
      const before = world.icloud.count('auth:signin/complete')
      const out: Outcome = { srp: 0 }
      try {
        const auth = await authenticate({
          username: USER,
          cookieDirectory: h.cookies,
          endpoints,
          passwordProviders: [{ name: 'parameter', get: async () => PASSWORD }],
          mfa: r.mfa,
          log: quiet,
        })
        out.method = auth.method
        try {
          if (!r.authOnly) out.sync = await sync(h, auth, r.photos)
        } finally {
          await auth.session.close()
        }
      } catch (err) {
        out.error = err
      }
      out.srp = world.icloud.count('auth:signin/complete') - before
      return out
    },
    async login() {
      const r = await h.run({ mfa: deviceCodeReader(world.icloud), authOnly: true })
      if (r.error) throw r.error
    },
    needSrp() {
      world.icloud.revokeWebSessions()
      world.icloud.clock.advance(61 * DAY) // past the 60-day session token, inside the trust
    },
  }
  return h
}

async function sync(h: H, auth: AuthResult, photos: PhotosOptions = {}): Promise<SyncResult> {
  const client = new CloudKitClient({
    http: auth.session.http,
    databaseUrl: auth.account.webservices.ckdatabasews!,
    clientId: auth.session.clientId,
    dsid: auth.account.dsid,
    home: auth.session.endpoints.home,
  })
  const downloads = new HttpClient({ connections: 4 })
  try {
    return await syncPhotos({
      client,
      http: downloads,
      directory: h.photos,
      options: { threads: 4, folderStructure: 'none', ...photos },
      log: { info: () => undefined, warning: () => undefined },
      retries: 2,
      minRetryMs: 5,
    })
  } finally {
    await downloads.close()
  }
}

/** Fault on the n-th request to `endpoint` (1-based), e.g. the second listing page. */
function injectNth(server: FakeServer, endpoint: string, n: number, fault: Fault): void {
  let seen = 0
  const take = server.takeFault.bind(server)
  server.takeFault = (ep: string) => (ep === endpoint && ++seen === n ? fault : take(ep))
}

/** The same fault on every request to `endpoint` from the n-th on (persistent throttling); returns the undo. */
function injectFrom(server: FakeServer, endpoint: string, n: number, fault: Fault): () => void {
  let seen = 0
  const take = server.takeFault.bind(server)
  server.takeFault = (ep: string) => (ep === endpoint && ++seen >= n ? fault : take(ep))
  return () => void (server.takeFault = take)
}

/** CloudKit and download requests the fake saw since `mark` (the sync's requests). */
function syncRequests(server: FakeServer, mark: number): number {
  return server.log
    .slice(mark)
    .filter((e) => e.endpoint.startsWith('ck:') || e.endpoint.startsWith('content:')).length
}

/** A 200 whose JSON stops half-way (the connection ended cleanly, the body is short). */
const TRUNCATED: Fault = { status: 200, body: '{"dsInfo":{"dsid":"12345","fullName":"J' }
const MALFORMED: Fault = { malformedJson: true }
const RESET: Fault = { reset: true }
const UNAVAILABLE: Fault = { status: 503, body: '' }

// ---- outcome checks ------------------------------------------------------------------------------

function expectCode(o: Outcome, code: ErrorCode): AppError {
  expect(o.error, `expected ${code}`).toBeInstanceOf(AppError)
  expect((o.error as AppError).code).toBe(code)
  return o.error as AppError
}

/**
 * A disk error stops the run, which still returns: DISK in the result and in its outcome, every
 * file listed (reason disk) missing from the disk, none listed twice.
 */
function expectDiskStop(h: H, o: Outcome): AppError {
  expect(o.error, String(o.error)).toBeUndefined()
  const r = o.sync!
  expect(r.stopReason).toBe('disk')
  expect(r.diskError?.code).toBe('DISK')
  expect(r.failures.length).toBeGreaterThan(0)
  expect(r.remaining).toBe(r.failures.length)
  for (const f of r.failures) {
    expect(f.reason).toBe('disk')
    expect(existsSync(path.join(h.photos, f.relPath)), f.relPath).toBe(false)
  }
  expect(new Set(r.failures.map((f) => f.relPath)).size).toBe(r.failures.length)
  const out = photosOutcome(r)
  expect([out.status, out.error?.code]).toEqual(['failed', 'DISK'])
  return out.error!
}

/** Every final file is a right one, and none is there twice. */
function expectNoCorruptOrDuplicate(h: H): void {
  expectNoCorruptOrDuplicateIn(h.photos, h.lib)
}

function expectNoCorruptOrDuplicateIn(dir: string, lib: FakeLibrary): void {
  const expected = new Set(expectedHashes(lib))
  const { finals } = onDisk(dir)
  for (const f of finals) expect(expected.has(f), 'a final file with wrong bytes').toBe(true)
  expect(new Set(finals).size, 'a file downloaded twice').toBe(finals.length)
}

function expectComplete(h: H): void {
  const { finals, parts } = onDisk(h.photos)
  expect(parts).toEqual([])
  expect(finals).toEqual(expectedHashes(h.lib))
}

async function expectSessionKept(h: H): Promise<void> {
  const s = await loadSession(h.cookies, USER)
  expect(s.status).toBe('ok')
  expect(s.data.trust_token).toBeTruthy()
}

/** The rerun with the fault gone completes the backup; `srp` is what that rerun may cost. */
async function expectRerunCompletes(h: H, srp: 0 | 1, mfa?: MfaProvider): Promise<Outcome> {
  h.server.clearFaults()
  h.lib.downloadFaults.length = 0
  disk.state.fails = undefined
  const again = await h.run({ mfa })
  expect(again.error).toBeUndefined()
  expect(again.srp).toBe(srp)
  if (srp === 0) expect(again.method).not.toBe('srp')
  expect(again.sync?.failed).toBe(0)
  expectComplete(h)
  return again
}

// ---- process abort ---------------------------------------------------------------------------

/** Runs one sign-in + sync in a child process; returns a handle to kill it. */
function spawnRun(h: H): { killed: Promise<string>; kill(): void; output(): string } {
  const src = (p: string) => pathToFileURL(path.join(here, '..', 'src', p)).href
  const script = path.join(h.root, 'child-run.ts')
  writeFileSync(
    script,
    `import { authenticate } from '${src('icloud/auth.js')}'
import { HttpClient } from '${src('icloud/http.js')}'
import { CloudKitClient } from '${src('photos/cloudkit.js')}'
import { syncPhotos } from '${src('photos/sync.js')}'
const e = process.env
const log = { info() {}, warning() {}, debug() {} }
const auth = await authenticate({ username: e.APPLE_ID!, cookieDirectory: e.COOKIES!, endpoints: JSON.parse(e.ENDPOINTS!),
  passwordProviders: [{ name: 'parameter', get: async () => e.APPLE_PASSWORD! }], log })
const client = new CloudKitClient({ http: auth.session.http, databaseUrl: auth.account.webservices.ckdatabasews!,
  clientId: auth.session.clientId, dsid: auth.account.dsid })
const downloads = new HttpClient({ connections: 4 })
await syncPhotos({ client, http: downloads, directory: e.PHOTOS!, options: { threads: 4, folderStructure: 'none' },
  log: { info() {}, warning() {} } })
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
      script,
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        APPLE_ID: USER,
        APPLE_PASSWORD: PASSWORD,
        COOKIES: h.cookies,
        PHOTOS: h.photos,
        ENDPOINTS: JSON.stringify(h.endpoints),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (out += d))
  const killed = new Promise<string>((resolve) => proc.on('exit', () => resolve(out)))
  cleanups.push(() => void proc.kill('SIGKILL'))
  return { killed, kill: () => void proc.kill('SIGKILL'), output: () => out }
}

async function until(what: string, ok: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${output()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** SIGKILL the run while the fake holds `endpoint` open (a long delay on it). */
async function abortDuring(h: H, endpoint: string, n = 1): Promise<void> {
  injectNth(h.server, endpoint, n, { delayMs: 20_000 })
  const mark = h.server.log.length
  const child = spawnRun(h)
  // CloudKit requests are logged under their raw path until answered: match on the path too.
  const [mount, rest] = endpoint.split(':') as [string, string]
  const seen = () =>
    h.server.log
      .slice(mark)
      .filter(
        (e) => e.endpoint === endpoint || (e.endpoint.startsWith(`${mount}:`) && e.path.endsWith(`/${rest}`)),
      ).length
  await until(`${endpoint} #${n}`, () => seen() >= n, child.output)
  child.kill()
  expect(await child.killed).not.toContain('finished')
}

// ---- rows ------------------------------------------------------------------------------------

type Phase =
  | 'session restore'
  | 'validate'
  | 'SRP'
  | '2FA'
  | 'listing page'
  | 'download body'
  | 'whole sync'
  | 'rename'
  | 'cache save'
  | 'notification'
type FaultName =
  | '503'
  | '503 persistent'
  | '503 one in five'
  | 'Retry-After'
  | 'reset'
  | 'truncated body'
  | 'disk full'
  | 'process abort'
  | 'malformed JSON'

interface Row {
  phase: Phase
  fault: FaultName
  /** What happens at that fault, in a few words (shows in the test name). */
  outcome: string
  run(): Promise<void>
}

/** A signed-in session on disk (one SRP, on the "laptop"), then the faulted run. */
async function signedIn(library?: LibraryOptions): Promise<H> {
  const h = await harness({ library })
  await h.login()
  return h
}

const validateRows: Row[] = (
  [
    ['503', UNAVAILABLE, 'THROTTLED'],
    ['reset', RESET, 'NETWORK'],
    ['truncated body', TRUNCATED, 'PROTOCOL_ERROR'],
    ['malformed JSON', MALFORMED, 'PROTOCOL_ERROR'],
  ] as const
).map(([fault, f, code]) => ({
  phase: 'validate',
  fault,
  outcome: `${code}, no SRP, session kept`,
  async run() {
    const h = await signedIn()
    h.server.inject('setup:validate', f)
    const r = await h.run()
    expectCode(r, code)
    expect(r.srp).toBe(0)
    await expectSessionKept(h)
    await expectRerunCompletes(h, 0)
  },
}))

const srpRows: Row[] = [
  {
    phase: 'SRP',
    fault: '503',
    outcome: 'THROTTLED at signin/init with a long Retry-After: no proof sent, no retry',
    async run() {
      const h = await signedIn()
      h.needSrp()
      h.server.inject('auth:signin/init', { status: 503, headers: { 'retry-after': '3600' } })
      const r = await h.run()
      expectCode(r, 'THROTTLED')
      expect(r.srp).toBe(0)
      expect(h.world.icloud.count('auth:signin/init')).toBe(2) // the login's, and this run's one
      await expectSessionKept(h)
      await expectRerunCompletes(h, 1)
    },
  },
  {
    phase: 'SRP',
    fault: '503',
    outcome: 'THROTTLED at signin/complete, exactly one SRP attempt',
    async run() {
      const h = await signedIn()
      h.needSrp()
      h.server.inject('auth:signin/complete', UNAVAILABLE)
      const r = await h.run()
      expectCode(r, 'THROTTLED')
      expect(r.srp).toBe(1)
      await expectSessionKept(h)
      await expectRerunCompletes(h, 1)
    },
  },
  {
    phase: 'SRP',
    fault: 'reset',
    outcome: 'NETWORK at signin/complete, no second attempt',
    async run() {
      const h = await signedIn()
      h.needSrp()
      h.server.inject('auth:signin/complete', RESET)
      const r = await h.run()
      expectCode(r, 'NETWORK')
      expect(r.srp).toBe(1)
      await expectSessionKept(h)
      await expectRerunCompletes(h, 1)
    },
  },
  ...(
    [
      ['truncated body', TRUNCATED],
      ['malformed JSON', MALFORMED],
    ] as const
  ).map(([fault, f]): Row => ({
    phase: 'SRP',
    fault,
    outcome: 'PROTOCOL_ERROR at signin/init, no proof sent',
    async run() {
      const h = await signedIn()
      h.needSrp()
      h.server.inject('auth:signin/init', f)
      const r = await h.run()
      expectCode(r, 'PROTOCOL_ERROR')
      expect(r.srp).toBe(0)
      await expectSessionKept(h)
      await expectRerunCompletes(h, 1)
    },
  })),
  {
    phase: 'SRP',
    fault: 'disk full',
    outcome: 'DISK naming the cookie directory; the old session files stay whole',
    async run() {
      const h = await signedIn()
      h.needSrp()
      const before = await readSessionFiles(h.cookies, USER)
      diskFull(h.cookies)
      const r = await h.run()
      const e = expectCode(r, 'DISK')
      expect(e.message).toContain(sessionPaths(h.cookies, USER).dir)
      expect(r.srp).toBe(1)
      expect(await readSessionFiles(h.cookies, USER)).toEqual(before)
      expect(readdirSync(h.cookies).filter((f) => f.endsWith('.tmp'))).toEqual([])
      await expectRerunCompletes(h, 1)
    },
  },
  {
    phase: 'SRP',
    fault: 'process abort',
    outcome: 'killed during signin/complete; the session still loads and the rerun signs in once',
    async run() {
      const h = await signedIn()
      h.needSrp()
      await abortDuring(h, 'auth:signin/complete')
      await expectSessionKept(h)
      await expectRerunCompletes(h, 1)
    },
  },
]

const validateMore: Row[] = [
  {
    phase: 'validate',
    fault: 'disk full',
    outcome: 'DISK when the refreshed session cannot be saved; old files whole, rerun without SRP',
    async run() {
      const h = await signedIn()
      const before = await readSessionFiles(h.cookies, USER)
      diskFull(h.cookies)
      const r = await h.run()
      expectCode(r, 'DISK')
      expect(r.srp).toBe(0)
      expect(await readSessionFiles(h.cookies, USER)).toEqual(before)
      await expectRerunCompletes(h, 0)
    },
  },
  {
    phase: 'validate',
    fault: 'process abort',
    outcome: 'killed during validate; the session still loads, rerun without SRP',
    async run() {
      const h = await signedIn()
      await abortDuring(h, 'setup:validate')
      await expectSessionKept(h)
      await expectRerunCompletes(h, 0)
    },
  },
]

/** A first sign-in on the laptop: SRP, then the device code (which the person reads off their phone). */
async function fresh(): Promise<H & { mfa: MfaProvider }> {
  const h = await harness()
  return Object.assign(h, { mfa: deviceCodeReader(h.world.icloud) })
}

const twoFaRows: Row[] = [
  {
    phase: '2FA',
    fault: '503',
    outcome: 'THROTTLED at the code push; one SRP; rerun signs in with a code',
    async run() {
      const h = await fresh()
      h.server.inject('auth:verify/trusteddevice/securitycode', UNAVAILABLE) // the PUT trigger
      const r = await h.run({ mfa: h.mfa })
      expectCode(r, 'THROTTLED')
      expect(r.srp).toBe(1)
      await expectRerunCompletes(h, 1, h.mfa)
    },
  },
  {
    phase: '2FA',
    fault: '503',
    outcome: 'THROTTLED at 2sv/trust after a good code; one SRP',
    async run() {
      const h = await fresh()
      h.server.inject('auth:2sv/trust', UNAVAILABLE)
      const r = await h.run({ mfa: h.mfa })
      expectCode(r, 'THROTTLED')
      expect(r.srp).toBe(1)
      await expectRerunCompletes(h, 1, h.mfa)
    },
  },
  {
    phase: '2FA',
    fault: 'reset',
    outcome: 'NETWORK when the code is submitted; one SRP',
    async run() {
      const h = await fresh()
      injectNth(h.server, 'auth:verify/trusteddevice/securitycode', 2, RESET) // the POST of the code
      const r = await h.run({ mfa: h.mfa })
      expectCode(r, 'NETWORK')
      expect(r.srp).toBe(1)
      await expectRerunCompletes(h, 1, h.mfa)
    },
  },
  {
    phase: '2FA',
    fault: 'truncated body',
    outcome: 'a cut-off answer to the code is not taken for trust: MFA_FAILED or PROTOCOL_ERROR, one SRP',
    async run() {
      const h = await fresh()
      injectNth(h.server, 'auth:verify/trusteddevice/securitycode', 2, {
        status: 200,
        body: '{"securityCode":{"co',
      })
      const r = await h.run({ mfa: h.mfa })
      expect(r.error).toBeInstanceOf(AppError)
      expect(['MFA_FAILED', 'PROTOCOL_ERROR']).toContain((r.error as AppError).code)
      expect(r.srp).toBe(1)
      await expectRerunCompletes(h, 1, h.mfa)
    },
  },
  {
    phase: '2FA',
    fault: 'malformed JSON',
    outcome: 'unreadable auth options (phones) do not stop a device-code sign-in',
    async run() {
      const h = await fresh()
      h.server.inject('auth:', MALFORMED) // GET {auth}: the trusted phones
      const r = await h.run({ mfa: h.mfa })
      expect(r.error).toBeUndefined()
      expect(r.srp).toBe(1)
      expect(r.sync?.failed).toBe(0)
      expectComplete(h)
    },
  },
  {
    phase: '2FA',
    fault: 'disk full',
    outcome: 'DISK when the trusted session cannot be saved; nothing half-written',
    async run() {
      const h = await fresh()
      diskFull(h.cookies)
      const r = await h.run({ mfa: h.mfa })
      expectCode(r, 'DISK')
      expect(r.srp).toBe(1)
      expect(existsSync(h.cookies) ? readdirSync(h.cookies).filter((f) => f.endsWith('.tmp')) : []).toEqual(
        [],
      )
      await expectRerunCompletes(h, 1, h.mfa)
    },
  },
]

/** Page 2 of the listing is records/query #3 (#1 is the indexing check, #2 page 1). */
const PAGE_2 = 3

const listingRows: Row[] = [
  {
    phase: 'listing page',
    fault: '503',
    outcome: 'throttled once: waits (backoff) and asks again; the run completes in one go, tokens advance',
    async run() {
      const h = await signedIn()
      const mark = h.server.log.length
      injectNth(h.server, 'ck:records/query', PAGE_2, UNAVAILABLE)
      const r = await h.run()
      expect(r.error).toBeUndefined()
      expect(r.sync).toMatchObject({
        throttled: false,
        failed: 0,
        failures: [],
        remaining: 0,
        listingComplete: true,
      })
      expect(r.sync!.stopReason).toBeUndefined()
      const pages = h.server.log.slice(mark).filter((e) => e.endpoint === 'ck:records/query')
      expect(pages.map((e) => e.status)).toEqual([200, 200, 503, 200]) // indexing, page 1, page 2 twice
      expectComplete(h)
      expect((await loadStateFile(h.photos))?.dbSyncToken).toBeDefined()
    },
  },
  {
    phase: 'listing page',
    fault: '503 persistent',
    outcome:
      'stops when the throttle budget is used up: THROTTLED, listing incomplete, tokens not advanced; the rerun fetches only the rest',
    async run() {
      const h = await signedIn()
      const stop = injectFrom(h.server, 'ck:records/query', PAGE_2, UNAVAILABLE)
      const r = await h.run({ photos: { maxThrottleWait: '200ms' } })
      stop()
      expect(r.error).toBeUndefined()
      expect(r.sync).toMatchObject({
        throttled: true,
        stopReason: 'throttled',
        listingComplete: false,
        failed: 0,
      })
      expect(r.sync!.throttleError?.code).toBe('THROTTLED')
      expect(r.sync!.failures).toEqual([]) // page 1 was whole; the rest was never listed
      const total = expectedHashes(h.lib).length
      expect(r.sync!.downloaded).toBeGreaterThan(0)
      expect(r.sync!.downloaded).toBeLessThan(total)
      expect((await loadStateFile(h.photos))?.dbSyncToken).toBeUndefined()
      expectNoCorruptOrDuplicate(h)
      const again = await expectRerunCompletes(h, 0)
      expect(again.sync!.downloaded).toBe(total - r.sync!.downloaded)
    },
  },
  ...(
    [
      ['reset', RESET, 'NETWORK'],
      ['truncated body', { status: 200, body: '{"records":[{"recordName":"AXY' }, 'PROTOCOL_ERROR'],
      ['malformed JSON', MALFORMED, 'PROTOCOL_ERROR'],
    ] as const
  ).map(([fault, f, code]): Row => ({
    phase: 'listing page',
    fault,
    outcome: `${code}; page 1's files are whole; the rerun fetches only the rest`,
    async run() {
      const h = await signedIn()
      injectNth(h.server, 'ck:records/query', PAGE_2, f)
      const r = await h.run()
      expectCode(r, code)
      expect(r.srp).toBe(0)
      expectNoCorruptOrDuplicate(h)
      const got = onDisk(h.photos).finals.length
      expect(got).toBeGreaterThan(0)
      await expectSessionKept(h)
      const again = await expectRerunCompletes(h, 0)
      expect(again.sync!.downloaded).toBe(expectedHashes(h.lib).length - got)
    },
  })),
  {
    phase: 'listing page',
    fault: 'process abort',
    outcome: 'killed while page 2 is in flight; no corrupt file, the rerun completes',
    async run() {
      const h = await signedIn()
      await abortDuring(h, 'ck:records/query', PAGE_2)
      expectNoCorruptOrDuplicate(h)
      await expectSessionKept(h)
      await expectRerunCompletes(h, 0)
    },
  },
]

const downloadRows: Row[] = [
  {
    phase: 'download body',
    fault: '503',
    outcome:
      'throttled once: the file waits and is fetched again in the same run; nothing fails, no retry storm',
    async run() {
      const h = await signedIn()
      const victim = h.lib.visibleAssets()[20]!
      h.lib.downloadFaults.push({ kind: 'status', status: 503, assetId: victim.id, res: 'resOriginal' })
      const r = await h.run()
      expect(r.error).toBeUndefined()
      expect(r.sync).toMatchObject({ throttled: false, failed: 0, failures: [], listingComplete: true })
      const tries = h.lib.downloadLog.filter((d) => d.assetId === victim.id && d.res === 'resOriginal')
      expect(tries.map((d) => d.status === 503)).toEqual([true, false])
      expectComplete(h)
      expect((await loadStateFile(h.photos))?.dbSyncToken).toBeDefined()
    },
  },
  {
    phase: 'download body',
    fault: '503 persistent',
    outcome:
      'stops at the throttle budget: THROTTLED, every file not on disk listed (throttled), tokens kept; the rerun completes',
    async run() {
      const h = await signedIn()
      const victim = h.lib.visibleAssets()[20]!
      h.lib.downloadFaults.push({ kind: 'status', status: 503, assetId: victim.id, times: Infinity })
      const r = await h.run({ photos: { maxThrottleWait: '200ms' } })
      expect(r.error).toBeUndefined()
      expect(r.sync).toMatchObject({ throttled: true, stopReason: 'throttled', failed: 0 })
      const s = r.sync!
      expect(s.failures.length).toBeGreaterThan(0)
      expect(s.remaining).toBe(s.failures.length)
      for (const f of s.failures) expect(f.reason).toBe('throttled')
      expect(s.failures.some((f) => f.assetId === victim.id && f.attempts > 1)).toBe(true)
      // None listed is on disk; with the listing complete, on disk + listed = the library.
      const names = new Set(readdirSync(h.photos))
      for (const f of s.failures) expect(names.has(f.relPath)).toBe(false)
      const total = expectedHashes(h.lib).length
      if (s.listingComplete) expect(s.downloaded + s.failures.length).toBe(total)
      else expect(s.downloaded + s.failures.length).toBeLessThan(total)
      expect((await loadStateFile(h.photos))?.dbSyncToken).toBeUndefined()
      expectNoCorruptOrDuplicate(h)
      const again = await expectRerunCompletes(h, 0)
      expect(again.sync!.downloaded).toBe(expectedHashes(h.lib).length - s.downloaded)
    },
  },
  ...(
    [
      ['reset', 'reset'],
      ['truncated body', 'truncate'],
    ] as const
  ).map(([fault, kind]): Row => ({
    phase: 'download body',
    fault,
    outcome: 'resumed with Range in the same run and verified',
    async run() {
      const h = await signedIn()
      const victim = h.lib.visibleAssets()[5]!
      h.lib.downloadFaults.push({ kind, assetId: victim.id, res: 'resOriginal', afterBytes: 700 })
      const r = await h.run()
      expect(r.error).toBeUndefined()
      expect(r.sync!.failed).toBe(0)
      expectComplete(h)
      const tries = h.lib.downloadLog.filter((d) => d.assetId === victim.id && d.res === 'resOriginal')
      expect(tries).toHaveLength(2)
      expect(tries[0]!.rangeStart ?? 0).toBe(0)
      if (kind === 'truncate') {
        // A clean short body: all 700 bytes reached the .part, so the retry asks for the rest.
        expect(tries[1]!.rangeStart).toBe(700)
        expect(tries[1]!.status).toBe(206)
      } else {
        // After a reset the client keeps what it had written before the error, which under load
        // may be less than what the server sent (or nothing): resume from there, or start over.
        const from = tries[1]!.rangeStart ?? 0
        expect(from).toBeLessThanOrEqual(700)
        if (from > 0) expect(tries[1]!.status).toBe(206)
      }
    },
  })),
  {
    phase: 'download body',
    fault: 'disk full',
    outcome:
      'DISK stops the run, which returns the files it left (reason disk); no final file is partial; the rerun completes',
    async run() {
      const h = await signedIn()
      await mkdir(h.photos, { recursive: true })
      let allowed = 40
      disk.state.fails = (op, file) => op === 'write' && file.endsWith('.part') && allowed-- <= 0
      const r = await h.run()
      const e = expectDiskStop(h, r)
      expect(e.message).toMatch(/ENOSPC/)
      expect(e.remediation).toMatch(/disk space/)
      expectNoCorruptOrDuplicate(h)
      expect(onDisk(h.photos).finals.length).toBeLessThan(expectedHashes(h.lib).length)
      expect((await loadStateFile(h.photos))?.dbSyncToken).toBeUndefined()
      await expectRerunCompletes(h, 0)
    },
  },
  {
    phase: 'whole sync',
    fault: 'disk full',
    outcome:
      'the state file cannot be saved either: still DISK with the files listed; the saved state is kept whole; the rerun fetches nothing twice',
    async run() {
      const h = await signedIn({ ...LIB, count: 40 })
      const first = await h.run()
      expect(first.error).toBeUndefined()
      const saved = await loadStateFile(h.photos)
      expect(saved?.manifest.size).toBeGreaterThan(0)
      const known = new Set(h.lib.visibleAssets().map((a) => a.id))
      h.lib.addAssets(30)
      // The disk fills up a few files into the run: downloads, the state file, its temp file, all of it.
      let allowed = 8
      disk.state.fails = (op, file) =>
        op === 'write' && path.resolve(file).startsWith(h.photos) && allowed-- <= 0
      const r = await h.run()
      const e = expectDiskStop(h, r)
      expect(e.message).toMatch(/ENOSPC/)
      // The state file is the last good one, whole: nothing the first run saved is lost.
      const after = await loadStateFile(h.photos)
      expect(after).toBeDefined()
      for (const [id, packed] of saved!.manifest.packedEntries())
        expect([...after!.manifest.packedEntries()]).toContainEqual([id, packed])
      expect(readdirSync(h.photos).filter((f) => f.endsWith('.tmp'))).toEqual([])
      expectNoCorruptOrDuplicate(h)
      const missing = r.sync!.failures.length
      expect(missing).toBeGreaterThan(0)
      h.lib.downloadLog.length = 0
      await expectRerunCompletes(h, 0)
      const fetched = h.lib.downloadLog.filter((d) => d.status === 200 || d.status === 206)
      expect(fetched.filter((d) => known.has(d.assetId))).toEqual([])
      expect(new Set(fetched.map((d) => `${d.assetId}/${d.res}`)).size).toBe(fetched.length)
      // Only what the full disk left behind (the listed files) and what it never listed.
      expect(fetched.length).toBeGreaterThanOrEqual(missing)
    },
  },
  {
    phase: 'download body',
    fault: 'process abort',
    outcome: 'SIGKILL mid-body leaves only .part files; the rerun resumes and completes',
    async run() {
      const h = await signedIn()
      h.lib.downloadFaults.push({ kind: 'slow', chunkBytes: 256, delayMs: 20, times: Infinity })
      const child = spawnRun(h)
      await until(
        'some finished and some half-written files',
        () => {
          if (!existsSync(h.photos)) return false
          const names = readdirSync(h.photos)
          const parts = names.filter((n) => n.endsWith('.part') && statSync(path.join(h.photos, n)).size > 0)
          return parts.length > 0 && names.length - parts.length > 3
        },
        child.output,
      )
      child.kill()
      expect(await child.killed).not.toContain('finished')
      expectNoCorruptOrDuplicate(h)
      expect(onDisk(h.photos).parts.length).toBeGreaterThan(0)
      h.lib.downloadLog.length = 0
      await expectRerunCompletes(h, 0)
      expect(h.lib.downloadLog.some((d) => (d.rangeStart ?? 0) > 0 && d.status === 206)).toBe(true)
    },
  },
  {
    phase: 'whole sync',
    fault: '503 one in five',
    outcome: 'a 100-asset library completes in one run with at most 1.6× the requests of a clean run',
    async run() {
      const lib: LibraryOptions = { count: 100 }
      const clean = await signedIn(lib)
      const cleanMark = clean.server.log.length
      const c = await clean.run()
      expect(c.sync).toMatchObject({ failures: [], throttled: false })
      const cleanRequests = syncRequests(clean.server, cleanMark)

      const h = await signedIn(lib)
      const mark = h.server.log.length
      h.server.injectEvery(5) // CloudKit and downloads, counted together
      const r = await h.run()
      expect(r.error).toBeUndefined()
      expect(r.sync).toMatchObject({
        throttled: false,
        failed: 0,
        failures: [],
        remaining: 0,
        listingComplete: true,
      })
      expect(r.sync!.stopReason).toBeUndefined()
      expectComplete(h)
      expect((await loadStateFile(h.photos))?.dbSyncToken).toBeDefined()
      const requests = syncRequests(h.server, mark)
      const refused = h.server.log.slice(mark).filter((e) => e.status === 503).length
      expect(refused).toBe(Math.floor(requests / 5))
      expect(requests).toBeLessThanOrEqual(1.6 * cleanRequests)
      // Every refused request was asked again, nothing more: the clean run's requests plus the 503s.
      expect(requests).toBe(cleanRequests + refused)
    },
  },
  {
    phase: 'whole sync',
    fault: 'Retry-After',
    outcome: 'honoured on a listing page and on a download: the same request is not sent again sooner',
    async run() {
      const h = await signedIn({ count: 150 })
      const victim = h.lib.visibleAssets()[3]!
      h.lib.downloadFaults.push({
        kind: 'status',
        status: 429,
        retryAfter: 1,
        assetId: victim.id,
        res: 'resOriginal',
      })
      const mark = h.server.log.length
      injectNth(h.server, 'ck:records/query', PAGE_2, {
        status: 503,
        headers: { 'retry-after': '1' },
        body: '',
      })
      const r = await h.run()
      expect(r.error).toBeUndefined()
      expect(r.sync).toMatchObject({ failures: [], throttled: false })
      expectComplete(h)
      const page2 = h.server.log
        .slice(mark)
        .filter((e) => e.endpoint === 'ck:records/query')
        .slice(2)
      expect(page2[0]!.status).toBe(503)
      expect(page2[1]!.at - page2[0]!.at).toBeGreaterThanOrEqual(1000)
      const dl = h.lib.downloadLog.filter((d) => d.assetId === victim.id && d.res === 'resOriginal')
      expect(dl[0]!.status).toBe(429)
      expect(dl[1]!.at - dl[0]!.at).toBeGreaterThanOrEqual(1000)
    },
  },
]

const renameRows: Row[] = [
  {
    phase: 'rename',
    fault: 'disk full',
    outcome: 'the .part is not renamed over the final name: DISK, no final file for it',
    async run() {
      const h = await signedIn()
      const victim = h.lib.visibleAssets()[10]!
      disk.state.fails = (op, file) => op === 'rename' && path.basename(file) === victim.filename
      const r = await h.run()
      expectDiskStop(h, r)
      expect(disk.state.hits).toBe(1)
      expect(existsSync(path.join(h.photos, victim.filename))).toBe(false)
      const failed = r.sync!.failures.filter((f) => f.detail)
      expect(failed).toMatchObject([{ relPath: victim.filename, assetId: victim.id, reason: 'disk' }])
      expect(failed[0]!.detail).toMatch(/ENOSPC/)
      expectNoCorruptOrDuplicate(h)
      await expectRerunCompletes(h, 0)
    },
  },
]

/** The real @actions/cache against the fake cache service, configured through process.env. */
async function cacheEnv(
  h: H,
): Promise<{ tmpDir: string; key: string; log: CacheLog & { warnings: string[] } }> {
  const saved = { ...process.env }
  const workspace = path.join(h.root, 'workspace')
  await mkdir(workspace, { recursive: true })
  Object.assign(process.env, h.world.cache.env, { GITHUB_WORKSPACE: workspace })
  delete process.env.ACTIONS_CACHE_MODE
  // @actions/core prints workflow commands; they are not what these rows check.
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  cleanups.push(() => {
    vi.restoreAllMocks()
    process.env = saved
  })
  const warnings: string[] = []
  return {
    tmpDir: path.join(h.root, 'runner-temp', 'icloud-photos-session'),
    key: generateSessionKey(),
    log: {
      info: () => undefined,
      notice: () => undefined,
      debug: () => undefined,
      warning: (m) => warnings.push(m),
      warnings,
    },
  }
}

/** Run 1 saved the signed-in session to the cache; returns what run 2 needs to restore it. */
async function cachedSession(h: H) {
  const c = await cacheEnv(h)
  const files = await readSessionFiles(h.cookies, USER)
  const seed = encodeExport(encryptBundle({ files, state: {} }, c.key, REPO))
  const common = {
    backend: new ActionsCacheBackend(),
    key: c.key,
    repository: REPO,
    account: USER,
    runnerOs: 'Linux',
    tmpDir: c.tmpDir,
    log: c.log,
  }
  const saved = await saveSession({
    ...common,
    runId: 1,
    runAttempt: 1,
    bundle: { files, state: {} },
    now: Date.now(),
  })
  expect(saved.saved).toBe(true)
  /** Run 2 on a fresh runner: an empty cookie directory, the session comes from the cache or the seed. */
  const restoreAndSignIn = async () => {
    rmSync(h.cookies, { recursive: true, force: true })
    const r = await restoreSession({ ...common, runId: 2, runAttempt: 1, seed })
    if (r.bundle) {
      await mkdir(h.cookies, { recursive: true })
      for (const [name, data] of Object.entries(r.bundle.files))
        await writeFile(path.join(h.cookies, name), data)
    }
    return { restored: r, run: await h.run() }
  }
  return { ...c, common, seed, files, restoreAndSignIn }
}

const restoreRows: Row[] = [
  {
    phase: 'session restore',
    fault: '503',
    outcome: 'the cache client retries once and restores; no SRP',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cachedSession(h)
      h.world.cache.server.inject('twirp:GetCacheEntryDownloadURL', {
        status: 503,
        body: JSON.stringify({ code: 'unavailable', msg: 'try again' }),
      })
      const { restored, run } = await c.restoreAndSignIn()
      expect(restored.source).toBe('cache')
      expect(run.error).toBeUndefined()
      expect(run.srp).toBe(0)
    },
  },
  {
    phase: 'session restore',
    fault: 'reset',
    outcome: 'a cache miss with a warning; the seed is used; no SRP',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cachedSession(h)
      h.world.cache.server.inject('twirp:GetCacheEntryDownloadURL', RESET)
      const { restored, run } = await c.restoreAndSignIn()
      expect(restored.source).toBe('seed')
      expect(run.error).toBeUndefined()
      expect(run.srp).toBe(0)
    },
  },
  {
    phase: 'session restore',
    fault: 'truncated body',
    outcome: 'a cut-off cache archive is never used: the seed is used; no SRP',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cachedSession(h)
      const entry = h.world.cache.entries()[0]!
      h.world.cache.replaceData(entry.key, entry.data.subarray(0, Math.floor(entry.data.length / 2)))
      const { restored, run } = await c.restoreAndSignIn()
      expect(restored.source).toBe('seed')
      expect(run.error).toBeUndefined()
      expect(run.srp).toBe(0)
    },
  },
  {
    phase: 'session restore',
    fault: 'malformed JSON',
    outcome: 'the cache client retries once and restores; no SRP',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cachedSession(h)
      h.world.cache.server.inject('twirp:GetCacheEntryDownloadURL', MALFORMED)
      const { restored, run } = await c.restoreAndSignIn()
      expect(restored.source).toBe('cache')
      expect(run.error).toBeUndefined()
      expect(run.srp).toBe(0)
    },
  },
  {
    phase: 'session restore',
    fault: 'disk full',
    outcome: 'the cache cannot be unpacked: a warning, the seed is used; no SRP',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cachedSession(h)
      rmSync(c.tmpDir, { recursive: true, force: true })
      diskFull(c.tmpDir)
      const { restored, run } = await c.restoreAndSignIn()
      expect(restored.source).toBe('seed')
      expect(c.log.warnings.join('\n')).toMatch(/ENOSPC/)
      expect(run.error).toBeUndefined()
      expect(run.srp).toBe(0)
    },
  },
]

const saveRows: Row[] = [
  {
    phase: 'cache save',
    fault: 'reset',
    outcome: 'not stored, no throw; the next run seeds from the input without SRP',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cacheEnv(h)
      const files = await readSessionFiles(h.cookies, USER)
      h.world.cache.server.inject('twirp:CreateCacheEntry', RESET)
      const common = {
        backend: new ActionsCacheBackend(),
        key: c.key,
        repository: REPO,
        account: USER,
        runnerOs: 'Linux',
        tmpDir: c.tmpDir,
        log: c.log,
      }
      const r = await saveSession({
        ...common,
        runId: 1,
        runAttempt: 1,
        bundle: { files, state: {} },
        now: Date.now(),
      })
      expect(r.saved).toBe(false)
      expect(h.world.cache.entries()).toEqual([])
      expect(existsSync(path.join(c.tmpDir, 'session.enc'))).toBe(false)
      await expectSessionKept(h)
      const seed = encodeExport(encryptBundle({ files, state: {} }, c.key, REPO))
      const next = await restoreSession({ ...common, runId: 2, runAttempt: 1, seed })
      expect(next.source).toBe('seed')
    },
  },
  {
    phase: 'cache save',
    fault: '503',
    outcome: 'the cache client retries once and stores the entry',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cacheEnv(h)
      const files = await readSessionFiles(h.cookies, USER)
      h.world.cache.server.inject('twirp:CreateCacheEntry', {
        status: 503,
        body: JSON.stringify({ code: 'unavailable', msg: 'try again' }),
      })
      const r = await saveSession({
        backend: new ActionsCacheBackend(),
        key: c.key,
        repository: REPO,
        account: USER,
        runnerOs: 'Linux',
        tmpDir: c.tmpDir,
        log: c.log,
        runId: 1,
        runAttempt: 1,
        bundle: { files, state: {} },
        now: Date.now(),
      })
      expect(r.saved).toBe(true)
      expect(h.world.cache.entries().map((e) => e.key)).toEqual([r.key])
    },
  },
  {
    phase: 'cache save',
    fault: 'disk full',
    outcome: 'the blob cannot be written: a warning, not a failure; nothing left behind',
    async run() {
      const h = await signedIn({ count: 20 })
      const c = await cacheEnv(h)
      const files = await readSessionFiles(h.cookies, USER)
      diskFull(c.tmpDir)
      const r = await saveSession({
        backend: new ActionsCacheBackend(),
        key: c.key,
        repository: REPO,
        account: USER,
        runnerOs: 'Linux',
        tmpDir: c.tmpDir,
        log: c.log,
        runId: 1,
        runAttempt: 1,
        bundle: { files, state: {} },
        now: Date.now(),
      })
      expect(r).toMatchObject({ saved: false, reason: 'error' })
      expect(c.log.warnings.join('\n')).toMatch(/ENOSPC/)
      expect(h.world.cache.entries()).toEqual([])
      expect(existsSync(c.tmpDir) ? readdirSync(c.tmpDir) : []).toEqual([])
    },
  },
]

/** What run.ts sends when a run needs a person: the event the channels get. */
const MFA_EVENT: NotificationEvent = {
  kind: 'mfa-required',
  username: USER,
  errorCode: 'MFA_REQUIRED',
  message: 'Apple asks for a two-factor code.',
  remediation: ['Renew the session.'],
  repository: REPO,
}

/** A server that accepts connections and drops them at once. */
async function resettingServer(): Promise<string> {
  const server = http.createServer()
  server.on('connection', (s) => s.destroy())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function expectNotifyWarns(channel: Channel, pattern: RegExp, secret: string): Promise<void> {
  const warnings: string[] = []
  const results = await notifyAll([channel], MFA_EVENT, {
    info: () => undefined,
    warning: (m) => warnings.push(m),
  })
  expect(results).toHaveLength(1)
  expect(results[0]!.ok).toBe(false)
  expect(warnings).toHaveLength(1)
  expect(warnings[0]).toMatch(pattern)
  expect(warnings[0]).not.toContain(secret)
}

const notificationRows: Row[] = [
  {
    phase: 'notification',
    fault: '503',
    outcome: 'the webhook is retried a bounded number of times, then a warning without the URL',
    async run() {
      const sink = await startWebhookSink({ defaultStatus: 503 })
      cleanups.push(() => sink.close())
      const url = `${sink.url}/hooks/secret-token-123`
      await expectNotifyWarns(
        webhookChannel({ url, retries: 2, minRetryDelayMs: 5 }),
        /HTTP 503 after 3 attempts/,
        url,
      )
      expect(sink.requests).toHaveLength(3)
    },
  },
  {
    phase: 'notification',
    fault: 'reset',
    outcome: 'an SMTP server that drops the connection: a warning, no throw',
    async run() {
      const url = new URL(await resettingServer())
      await expectNotifyWarns(
        emailChannel({
          smtpHost: url.hostname,
          smtpPort: Number(url.port),
          smtpNoTls: true,
          smtpUsername: 'owner@example.com',
          smtpPassword: 'smtp-secret-pw',
          timeoutMs: 5_000,
        }),
        /Cannot reach the SMTP server/,
        'smtp-secret-pw',
      )
    },
  },
  {
    phase: 'notification',
    fault: 'malformed JSON',
    outcome: 'a GitHub API answering garbage: a warning without the token, no throw',
    async run() {
      const server = http.createServer((req, res) => {
        req.resume()
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"this is": not json')
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
      const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      await expectNotifyWarns(
        githubIssueChannel({
          token: 'ghs_secret0123456789',
          repository: REPO,
          apiUrl,
          retries: 0,
          minRetryDelayMs: 5,
        }),
        /GitHub issue notification failed: .*not JSON/,
        'ghs_secret0123456789',
      )
    },
  },
]

const rows: Row[] = [
  ...restoreRows,
  ...validateRows,
  ...validateMore,
  ...srpRows,
  ...twoFaRows,
  ...listingRows,
  ...downloadRows,
  ...renameRows,
  ...saveRows,
  ...notificationRows,
]

describe('fault matrix, in-process', () => {
  it.each(rows)('$phase × $fault → $outcome', async (row) => row.run(), 60_000)
})

// ---- whole runs of the bundled action -----------------------------------------------------------

describe('fault matrix, whole runs of the bundled action', () => {
  let runner: Runner
  let world: World
  let seed: string
  const key = generateSessionKey()

  beforeAll(() => {
    if (!existsSync(DIST_INDEX)) throw new Error('dist/index.js is missing: run `npm run bundle`')
  })

  async function setup(library: LibraryOptions = LIB): Promise<void> {
    runner = await createRunner()
    world = await startWorld({ library, runnerTemp: runner.runnerTemp })
    cleanups.push(async () => {
      await world.close()
      await runner.cleanup()
    })
    seed = await laptopLoginAndExport(world.icloud, { key })
    await mkdir(path.join(runner.workspace, '.github'), { recursive: true })
    await writeFile(
      path.join(runner.workspace, '.github/icloud-photos.yml'),
      `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\nphotos:\n  folder-structure: none\n  threads: 4\n`,
    )
  }

  const inputs = (over: Record<string, string> = {}) => ({
    config: '.github/icloud-photos.yml',
    password: PASSWORD,
    session: seed,
    'session-key': key,
    mode: 'sync',
    directory: path.join(runner.root, 'photos'),
    ...over,
  })
  const env = () => ({ ...world.env, RUNNER_TEMP: runner.runnerTemp })
  const photos = () => path.join(runner.root, 'photos')

  it('listing page × 503 → the run waits (backoff), asks again and completes in one go; post saves the session; the next run has nothing to do', async () => {
    await setup()
    const mark = world.icloud.server.log.length
    injectNth(world.icloud.server, 'ck:records/query', PAGE_2, UNAVAILABLE)
    const srp = world.icloud.srpAttempts()
    const r = await runner.job(inputs(), env())
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.outputs.status).toBe('ok')
    const total = world.library.visibleAssets().reduce((n, a) => n + (a.fakeKind === 'live' ? 2 : 1), 0)
    expect(Number(r.main.outputs.downloaded)).toBe(total)
    expect(r.main.outputs.failed).toBe('0')
    expect(r.main.stdout).not.toMatch(/::warning::.*(throttl|temporarily refusing)/i)
    expect(r.main.stdout).toMatch(/Apple throttled 1 request; the run slowed down/)
    const pages = world.icloud.server.log.slice(mark).filter((e) => e.endpoint === 'ck:records/query')
    expect(pages.map((e) => e.status)).toEqual([200, 200, 503, 200])
    expect(onDisk(photos()).finals).toEqual(expectedHashes(world.library))
    expect(r.post.code).toBe(0)
    expect(r.post.stdout).toContain('Session saved to the Actions cache')
    expect(world.cache.entries()).toHaveLength(1)

    await runner.nextRun()
    const again = await runner.job(inputs(), env())
    expect(again.main.code, again.main.stdout).toBe(0)
    expect(again.main.stdout).toContain('Session restored from the Actions cache')
    expect(again.main.outputs.downloaded).toBe('0')
    expect(world.icloud.srpAttempts()).toBe(srp)
    expect(onDisk(photos()).finals).toEqual(expectedHashes(world.library))
  }, 90_000)

  /** A small one-page library of single-file assets: a file's name is its path (folder-structure none). */
  const SMALL: LibraryOptions = {
    count: 12,
    sharedCount: 0,
    seed: 21,
    kinds: ['jpeg'],
    hiddenRate: 0,
    deletedRate: 0,
  }
  const fetched = (d: { status: number }) => d.status === 200 || d.status === 206

  /** The report of a step, and the library's files not on disk (names, which are paths here). */
  function reportAndMissing(r: StepResult): { report: RunReport; missing: string[]; present: string[] } {
    const report = JSON.parse(readFileSync(r.outputs.report!, 'utf8')) as RunReport
    const names = world.library.visibleAssets().map((a) => a.filename)
    expect(new Set(names).size).toBe(names.length)
    const present = names.filter((n) => existsSync(path.join(photos(), n)))
    return { report, missing: names.filter((n) => !present.includes(n)).sort(), present }
  }

  it('download body × disk full → exit 1 with DISK; the report lists exactly the files not on disk (reason disk); post saves the session; the rerun fetches only those', async () => {
    await setup(SMALL)
    // A few files (and the first state checkpoint) fit; then every write under the photos directory fails.
    const full = {
      ...env(),
      NODE_OPTIONS: `--import ${pathToFileURL(path.join(here, 'helpers', 'disk-full-preload.mjs')).href}`,
      DISK_FULL_DIR: photos(),
      DISK_FULL_AFTER: '5',
    }
    const r = await runner.job(inputs(), full)
    expect(r.main.code, r.main.stdout).toBe(1)
    expect(r.main.outputs.status).toBe('failed')
    expect(r.main.outputs['error-code']).toBe('DISK')
    const errors = r.main.stdout.split('\n').filter((l) => l.startsWith('::error'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/\[DISK\] .*ENOSPC.*free disk space/)
    const { report, missing, present } = reportAndMissing(r.main)
    expect(missing.length).toBeGreaterThan(0)
    expect(present.length).toBeGreaterThan(0)
    const failures = report.photos!.failures
    expect(failures.map((f) => f.relPath).sort()).toEqual(missing)
    for (const f of failures) expect(f.reason).toBe('disk')
    expect(failures.some((f) => /ENOSPC/.test(f.detail ?? ''))).toBe(true)
    expect(r.main.outputs.remaining).toBe(String(missing.length))
    expect(r.main.outputs.downloaded).toBe(String(present.length))
    expectNoCorruptOrDuplicateIn(photos(), world.library)
    expect(r.post.code).toBe(0)
    expect(r.post.stdout).toContain('Session saved to the Actions cache')

    // Room again: the next run fetches the missing files and nothing else.
    await runner.nextRun()
    world.library.downloadLog.length = 0
    const again = await runner.job(inputs(), env())
    expect(again.main.code, again.main.stdout).toBe(0)
    expect(again.main.stdout).toContain('Session restored from the Actions cache')
    expect(again.main.outputs.downloaded).toBe(String(missing.length))
    const byName = new Map(world.library.visibleAssets().map((a) => [a.id, a.filename]))
    const got = world.library.downloadLog.filter(fetched).map((d) => byName.get(d.assetId))
    expect(got.sort()).toEqual(missing)
    expect(onDisk(photos()).finals).toEqual(expectedHashes(world.library))
  }, 120_000)

  it('download × 503 persistent with photos.max-throttle-wait 1s → exit 1 with THROTTLED, `remaining` and the files listed (reason throttled); post saves the session; the next run finishes without fetching anything twice', async () => {
    await setup(SMALL)
    await writeFile(
      path.join(runner.workspace, '.github/icloud-photos.yml'),
      `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\n` +
        `photos:\n  folder-structure: none\n  threads: 4\n  max-throttle-wait: 1s\n`,
    )
    // Apple keeps refusing a third of the files: the run slows down, then stops once its budget is spent.
    const victims = world.library.visibleAssets().filter((_, i) => i % 3 === 0)
    for (const v of victims)
      world.library.downloadFaults.push({ kind: 'status', status: 503, assetId: v.id, times: Infinity })
    const r = await runner.job(inputs(), env())
    expect(r.main.code, r.main.stdout).toBe(1)
    expect(r.main.outputs.status).toBe('failed')
    expect(r.main.outputs['error-code']).toBe('THROTTLED')
    const { report, missing, present } = reportAndMissing(r.main)
    for (const v of victims) expect(missing).toContain(v.filename)
    const failures = report.photos!.failures
    expect(failures.map((f) => f.relPath).sort()).toEqual(missing)
    for (const f of failures) expect(f.reason).toBe('throttled')
    expect(Number(r.main.outputs.remaining)).toBe(missing.length)
    expect(r.main.outputs.downloaded).toBe(String(present.length))
    expect(r.main.stdout).toMatch(/::error::\[THROTTLED\]/)
    expect(r.post.code).toBe(0)
    expect(r.post.stdout).toContain('Session saved to the Actions cache')

    world.library.downloadFaults.length = 0
    await runner.nextRun()
    world.library.downloadLog.length = 0
    const again = await runner.job(inputs(), env())
    expect(again.main.code, again.main.stdout).toBe(0)
    expect(again.main.outputs.status).toBe('ok')
    expect(again.main.outputs.remaining).toBe('0')
    const byName = new Map(world.library.visibleAssets().map((a) => [a.id, a.filename]))
    const got = world.library.downloadLog.filter(fetched).map((d) => byName.get(d.assetId))
    expect(got.sort()).toEqual(missing)
    expect(onDisk(photos()).finals).toEqual(expectedHashes(world.library))
  }, 120_000)

  it('cache save × reset → post warns and does not fail the job; the next run seeds without SRP', async () => {
    await setup({ ...LIB, count: 20 })
    // At finalize: the archive was uploaded but the entry never becomes visible.
    world.cache.server.inject('twirp:FinalizeCacheEntryUpload', { ...RESET, times: Infinity })
    const srp = world.icloud.srpAttempts()
    const r = await runner.job(inputs(), env())
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.post.code).toBe(0)
    expect(r.post.stdout).toMatch(/::warning::Failed to save/)
    expect(r.post.stdout).not.toMatch(/::error::/)
    expect(r.post.stdout).toMatch(/Session not saved/)
    expect(world.cache.entries()).toEqual([])

    world.cache.server.clearFaults()
    await runner.nextRun()
    const again = await runner.job(inputs(), env())
    expect(again.main.code, again.main.stdout).toBe(0)
    expect(again.main.stdout).toContain('Session restored from the `session` input')
    expect(again.main.outputs.downloaded).toBe('0')
    expect(world.icloud.srpAttempts()).toBe(srp)
  }, 90_000)

  it('cache save × process abort → post killed mid-upload; the next run restores the earlier entry without SRP', async () => {
    await setup({ ...LIB, count: 20 })
    const srp = world.icloud.srpAttempts()
    const first = await runner.job(inputs(), env())
    expect(first.post.stdout).toContain('Session saved to the Actions cache')
    const saved = world.cache.entries().map((e) => e.key)

    // Run 2: main changes the session (a new web session); its post is killed while uploading.
    await runner.nextRun()
    world.icloud.revokeWebSessions()
    const main = await runner.step('main', inputs(), env())
    expect(main.code, main.stdout).toBe(0)
    world.cache.server.inject('twirp:CreateCacheEntry', { delayMs: 30_000 })
    const mark = world.cache.server.log.length
    const post = runner.step('post', inputs(), env(), main.state)
    await until(
      'the post step reaching the cache',
      () => world.cache.server.log.slice(mark).some((e) => e.endpoint === 'twirp:CreateCacheEntry'),
      () => '',
    )
    killChildOf(DIST_INDEX)
    const killed = await post
    expect(killed.code).not.toBe(0)
    expect(world.cache.entries().map((e) => e.key)).toEqual(saved)

    world.cache.server.clearFaults()
    await runner.nextRun()
    const third = await runner.job(inputs(), env())
    expect(third.main.code, third.main.stdout).toBe(0)
    expect(third.main.stdout).toContain('Session restored from the Actions cache')
    expect(world.icloud.srpAttempts()).toBe(srp)
  }, 90_000)

  it('notification × reset and refusal → the run keeps its own error code, one ::error, warnings for the channels', async () => {
    await setup({ ...LIB, count: 5 })
    const github = await startFakeGitHub({
      token: 'ghs_fakefaultmatrix0123',
      owner: 'octo',
      repo: 'photos-backup',
    })
    cleanups.push(() => github.close())
    github.inject({ status: 401, times: Infinity })
    const smtpUrl = new URL(await resettingServer())
    const sink = await startWebhookSink({ defaultStatus: 404 })
    cleanups.push(() => sink.close())
    await writeFile(
      path.join(runner.workspace, '.github/icloud-photos.yml'),
      `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\n` +
        `notifications:\n  email:\n    smtp-host: 127.0.0.1\n    smtp-port: ${smtpUrl.port}\n    smtp-no-tls: true\n    smtp-username: owner@example.com\n` +
        `  github-issue:\n    enabled: true\n`,
    )
    // The trust is gone: a code would be needed, and nobody can type it in CI.
    world.icloud.revokeTrust(USER)
    const r = await runner.job(
      inputs({ 'webhook-url': `${sink.url}/hook/abc`, 'github-token': 'ghs_fakefaultmatrix0123' }),
      { ...env(), GITHUB_API_URL: github.url },
    )
    expect(r.main.code).toBe(1)
    expect(r.main.outputs['error-code']).toBe('MFA_REQUIRED')
    const errors = r.main.stdout.split('\n').filter((l) => l.startsWith('::error'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/MFA_REQUIRED/)
    const warnings = r.main.stdout.split('\n').filter((l) => l.startsWith('::warning'))
    expect(warnings.some((w) => /webhook/i.test(w))).toBe(true)
    expect(warnings.some((w) => /email|smtp/i.test(w))).toBe(true)
    expect(sink.requests).toHaveLength(1)
    expect(world.icloud.srpAttempts()).toBeLessThanOrEqual(2) // the laptop's and at most one here
    expect(r.post.code).toBe(0)
  }, 90_000)
})

/**
 * SIGKILL this process's own child that runs `script` (runner-env does not hand out its child):
 * only a process whose parent is this test process, found by its id.
 */
function killChildOf(script: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (ppid === process.pid && cmd[1] === script) process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone already
    }
  }
}
