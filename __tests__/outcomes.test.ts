// Honest outcomes (#14): a run that did not back up everything says so — exit code, error-code,
// every missing file in the report, one notification per problem — and names disk and permission
// problems; one run per photos directory (two real processes); only real secrets are masked, and
// the Apple ID appears masked in every channel.
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import { afterEach, describe, expect, it } from 'vitest'
import reportSchema from '../schemas/report.schema.json' with { type: 'json' }
import { startFakeGitHub, type FakeGitHub } from '../sim/github-api.js'
import { startWebhookSink, type WebhookSink } from '../sim/webhook-sink.js'
import { createRunner, DIST_INDEX, type Runner, type StepResult } from '../sim/runner-env.js'
import { expectedHashes, photosHarness } from './helpers/photos-harness.js'
import { consoleLogin, testIo } from './helpers/cli-io.js'
import {
  deviceCodeReader,
  laptopLoginAndExport,
  PASSWORD,
  SESSION_KEY,
  startWorld,
  USER,
  type World,
} from '../sim/world.js'
import { main as cli } from '../src/cli/program.js'
import { authenticate, mfaRequired } from '../src/icloud/auth.js'
import { redactAppleId } from '../src/action/log.js'
import { AppError, isAppError } from '../src/core/errors.js'
import { maskableValues } from '../src/icloud/secrets.js'
import { sessionPaths } from '../src/icloud/session-store.js'
import { maskAppleId } from '../src/notify/event.js'
import { acquireDirectoryLock, LOCK_FILE, STALE_AFTER_MS } from '../src/photos/lock.js'
import { photosOutcome, type OutcomeInput } from '../src/photos/outcome.js'
import type { FileProblem } from '../src/photos/sync.js'
import { writeReport, type RunReport } from '../src/action/report.js'
import { writeSessionFiles } from '../src/icloud/session-files.js'
import {
  clearProblem,
  markNotified,
  markProblemNotified,
  shouldNotifyExpiring,
  shouldNotifyProblem,
} from '../src/notify/dispatch.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const CHILD = path.join(here, 'helpers', 'outcomes-child.ts')
const LOADER = path.join(here, '..', 'sim', 'ts-loader.mjs')
const { tmp, setup } = photosHarness({ threads: 4, retries: 2, clientId: 'auth-out', dsid: '7' })
const later: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of later.splice(0).reverse()) await c()
})

// ---- the outcome mapping -----------------------------------------------------------------------

const problem = (reason: FileProblem['reason'], relPath = 'a.JPG'): FileProblem => ({
  relPath,
  assetId: `id-${relPath}`,
  reason,
  attempts: reason === 'failed' ? 4 : 0,
})
const base: OutcomeInput = { failed: 0, failures: [], remaining: 0, listingComplete: true, throttled: false }

describe('the outcome of a sync', () => {
  it('maps failures, throttling, disk errors and a budget stop to status and error code', () => {
    expect(photosOutcome(base)).toEqual({ status: 'ok' })
    const failed = photosOutcome({
      ...base,
      failed: 2,
      failures: [problem('failed'), problem('failed', 'b')],
      remaining: 2,
    })
    expect([failed.status, failed.error?.code]).toEqual(['failed', 'DOWNLOAD_FAILED'])
    expect(failed.error?.message).toBe('2 files could not be backed up after retries; 2 files left.')
    const throttled = photosOutcome({
      ...base,
      throttled: true,
      stopReason: 'throttled',
      failures: [problem('throttled')],
      remaining: 1,
    })
    expect([throttled.status, throttled.error?.code]).toEqual(['failed', 'THROTTLED'])
    // Throttled during the listing: nothing counted, but files may be left.
    const cut = photosOutcome({ ...base, throttled: true, stopReason: 'throttled', listingComplete: false })
    expect([cut.status, cut.error?.code]).toEqual(['failed', 'THROTTLED'])
    expect(cut.error?.message).toContain('at least 0 files left')
    // Throttled, slowed down, but finished everything: nothing is missing.
    expect(photosOutcome({ ...base, throttled: true }).status).toBe('ok')
    const disk = photosOutcome({
      ...base,
      failed: 1,
      failures: [{ ...problem('disk'), detail: 'EACCES' }],
      remaining: 1,
    })
    expect([disk.status, disk.error?.code]).toEqual(['failed', 'DISK'])
    expect(disk.error?.message).toContain('a.JPG: EACCES')
    const named = photosOutcome(
      { ...base, failed: 1, failures: [{ ...problem('disk'), detail: 'disk error (EACCES)' }], remaining: 1 },
      { directory: '/backup/photos' },
    )
    expect(named.error?.message).toContain(
      'could not be written in /backup/photos (a.JPG: disk error (EACCES))',
    )
    expect(named.error?.remediation).toContain('sudo chown -R $(id -u) /backup/photos')
    // A disk-full stop: the file whose write failed names the errno, whatever order the list is in.
    const full = photosOutcome(
      {
        ...base,
        failed: 1,
        stopReason: 'disk',
        failures: [
          problem('disk', 'left.JPG'),
          { ...problem('disk', 'b.JPG'), detail: 'disk error (ENOSPC)' },
        ],
        remaining: 2,
      },
      { directory: '/backup/photos' },
    )
    expect(full.error?.message).toBe(
      '1 file could not be written in /backup/photos (b.JPG: disk error (ENOSPC)); 2 files left.',
    )
    expect(full.error?.remediation).toMatch(/free disk space/)
    // Every file is there but the state file could not be saved: still DISK, never ok.
    const state = photosOutcome({
      ...base,
      stopReason: 'disk',
      diskError: new AppError('DISK', 'Cannot save the download state in /p (ENOSPC).', 'Check free space.'),
    })
    expect([state.status, state.error?.code]).toEqual(['failed', 'DISK'])
    expect(state.error?.message).toBe('Cannot save the download state in /p (ENOSPC). 0 files left.')
    const budget = photosOutcome({
      ...base,
      stopReason: 'budget',
      failures: [problem('budget')],
      remaining: 12,
    })
    expect(budget).toEqual({ status: 'incomplete', note: '12 files left; the next run continues.' })
    expect(photosOutcome({ ...base, stopReason: 'cancelled', remaining: 3 }).status).toBe('failed')
  })

  it('allow-partial-backup turns missing files into a warning that still carries the code; DISK still fails', () => {
    const failed = { ...base, failed: 1, failures: [problem('failed')], remaining: 1 }
    const w = photosOutcome(failed, { allowPartial: true })
    expect([w.status, w.error?.code]).toEqual(['warning', 'DOWNLOAD_FAILED'])
    const t = photosOutcome(
      { ...base, stopReason: 'throttled', failures: [problem('throttled')], remaining: 1 },
      { allowPartial: true },
    )
    expect([t.status, t.error?.code]).toEqual(['warning', 'THROTTLED'])
    const d = photosOutcome(
      { ...base, failed: 1, failures: [problem('disk')], remaining: 1 },
      { allowPartial: true },
    )
    expect([d.status, d.error?.code]).toEqual(['failed', 'DISK'])
  })
})

describe('the job summary and the report', () => {
  it('lists the first 20 missing files and the count of the rest; the report has all of them and validates', async () => {
    const dir = tmp('summary-')
    const files = { summary: path.join(dir, 'summary.md'), output: path.join(dir, 'output') }
    writeFileSync(files.summary, '')
    writeFileSync(files.output, '')
    const saved = { s: process.env.GITHUB_STEP_SUMMARY, o: process.env.GITHUB_OUTPUT }
    process.env.GITHUB_STEP_SUMMARY = files.summary
    process.env.GITHUB_OUTPUT = files.output
    later.push(() => {
      process.env.GITHUB_STEP_SUMMARY = saved.s
      process.env.GITHUB_OUTPUT = saved.o
    })
    const failures = Array.from({ length: 25 }, (_, i) => ({
      ...problem('failed', `2024/01/IMG_${1000 + i}.JPG`),
      size: 1234,
      detail: 'HTTP 500',
    }))
    const report: RunReport = {
      version: 1,
      status: 'failed',
      mode: 'sync',
      errorCode: 'DOWNLOAD_FAILED',
      message: '25 files could not be backed up after retries; 25 files left.',
      account: USER,
      photos: {
        downloaded: 5,
        skipped: 0,
        failed: 25,
        bytes: 100,
        throttled: false,
        failures,
        remaining: 25,
        listingComplete: true,
        directory: dir,
      },
      startedAt: new Date().toISOString(),
    }
    const reportPath = await writeReport(report, { runnerTemp: dir } as never)
    const md = readFileSync(files.summary, 'utf8')
    for (let i = 0; i < 20; i++) expect(md).toContain(`IMG_${1000 + i}.JPG`)
    for (let i = 20; i < 25; i++) expect(md).not.toContain(`IMG_${1000 + i}.JPG`)
    expect(md).toContain('and 5 more (all are in the JSON report)')
    expect(md).toContain('failed: HTTP 500')
    expect(md).not.toContain(USER)
    const written = JSON.parse(readFileSync(reportPath!, 'utf8')) as RunReport
    expect(written.photos!.failures.map((f) => f.relPath)).toEqual(failures.map((f) => f.relPath))
    expect(written.account).toBe(maskAppleId(USER))
    const validate = new Ajv2020({ validateFormats: false }).compile(reportSchema)
    expect(validate(written), JSON.stringify(validate.errors)).toBe(true)
    expect(readFileSync(files.output, 'utf8')).toMatch(/^remaining<<.*\n25\n/m)

    // A planned stop: `incomplete`, and the summary says how many files the next run picks up.
    writeFileSync(files.summary, '')
    const left = failures.slice(0, 12).map((f) => ({ ...f, reason: 'budget' as const, attempts: 0 }))
    await writeReport(
      {
        ...report,
        status: 'incomplete',
        errorCode: undefined,
        message: '12 files left; the next run continues.',
        photos: { ...report.photos!, failed: 0, failures: left, remaining: 12 },
      },
      { runnerTemp: dir } as never,
    )
    const planned = readFileSync(files.summary, 'utf8')
    expect(planned).toContain('⏸️ incomplete')
    expect(planned).toContain('12 files left; the next run continues')
  })
})

describe('once per problem', () => {
  it('a problem notifies once until a clean run clears it; a different problem notifies; the expiry marker is kept apart', () => {
    let state: Record<string, unknown> = markNotified({}, '2026-05-01T00:00:00Z')
    expect(shouldNotifyProblem(state, 'DOWNLOAD_FAILED')).toBe(true)
    state = markProblemNotified(state, 'DOWNLOAD_FAILED')
    expect(shouldNotifyProblem(state, 'DOWNLOAD_FAILED')).toBe(false)
    expect(shouldNotifyProblem(state, 'THROTTLED')).toBe(true)
    // Marking an expiry does not forget the problem, and the reverse.
    state = markNotified(state, '2026-06-01T00:00:00Z')
    expect(shouldNotifyProblem(state, 'DOWNLOAD_FAILED')).toBe(false)
    expect(shouldNotifyExpiring(state, '2026-06-01T00:00:00Z')).toBe(false)
    state = clearProblem(state)
    expect(shouldNotifyProblem(state, 'DOWNLOAD_FAILED')).toBe(true)
    expect(shouldNotifyExpiring(state, '2026-06-01T00:00:00Z')).toBe(false)
  })
})

// ---- one run per directory: two real processes ---------------------------------------------------

interface Child {
  pid: number
  out: () => string
  waitFor(text: string): Promise<void>
  send(text: string): void
  exited: Promise<number | null>
  kill(sig: NodeJS.Signals): void
}

function child(args: string[], o: { asUser?: number } = {}): Child {
  const node = [
    process.execPath,
    '--experimental-transform-types',
    '--no-warnings',
    '--import',
    LOADER,
    CHILD,
    ...args,
  ]
  const cmd =
    o.asUser === undefined
      ? node
      : ['setpriv', `--reuid=${o.asUser}`, `--regid=${o.asUser}`, '--clear-groups', ...node]
  const proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], cwd: here })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  later.push(() => void proc.kill('SIGKILL'))
  return {
    pid: proc.pid!,
    out: () => out,
    async waitFor(text) {
      const deadline = Date.now() + 30_000
      while (!out.includes(text)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${text}: ${out}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    send: (text) => proc.stdin.write(text),
    exited,
    kill: (sig) => proc.kill(sig),
  }
}

const lastJson = (out: string): { ok: boolean; code?: string; message?: string; remediation?: string } =>
  JSON.parse(out.trim().split('\n').at(-1)!)

describe('one run per photos directory', () => {
  it('a second process is refused with LOCKED naming the holder; after the holder releases, it gets the lock', async () => {
    const dir = path.join(tmp('lock-'), 'photos')
    const a = child(['lock', dir, '0'])
    await a.waitFor('locked')
    const held = JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string }
    expect(held).toMatchObject({ pid: a.pid, host: os.hostname() })

    const b = child(['lock', dir, '0'])
    expect(await b.exited).toBe(3)
    const refused = lastJson(b.out())
    expect(refused.code).toBe('LOCKED')
    expect(refused.message).toContain(`pid ${a.pid} on ${os.hostname()}`)
    expect(refused.message).toContain(dir)
    expect(refused.remediation).toContain('photos.lock-wait')

    a.send('release\n')
    expect(await a.exited).toBe(0)
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false)
    const c = child(['lock', dir, '0'])
    await c.waitFor('locked')
    c.send('release\n')
    expect(await c.exited).toBe(0)
  }, 60_000)

  it('with lock-wait, the second process waits and takes over when the first finishes', async () => {
    const dir = path.join(tmp('lock-wait-'), 'photos')
    const a = child(['lock', dir, '0'])
    await a.waitFor('locked')
    const b = child(['lock', dir, '60000'])
    // b is waiting (not refused, not holding) while a holds the lock.
    await new Promise((r) => setTimeout(r, 300))
    expect(b.out()).not.toContain('locked')
    a.send('release\n')
    await b.waitFor('locked')
    b.send('release\n')
    expect(await b.exited).toBe(0)
  }, 60_000)

  it('the lock of a killed process is stale: the next process takes it over', async () => {
    const dir = path.join(tmp('lock-kill-'), 'photos')
    const a = child(['lock', dir, '0'])
    await a.waitFor('locked')
    a.kill('SIGKILL')
    await a.exited
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(true)
    const b = child(['lock', dir, '0'])
    await b.waitFor('locked')
    expect(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(b.pid)
    b.send('release\n')
    expect(await b.exited).toBe(0)
  }, 60_000)

  it('a lock from another host is honoured while fresh and broken after 12 hours without a refresh', async () => {
    const dir = tmp('lock-host-')
    const file = path.join(dir, LOCK_FILE)
    const other = { pid: 1, host: 'other-runner', startedAt: '2026-01-01T00:00:00.000Z', token: 'x' }
    writeFileSync(file, JSON.stringify(other))
    const err = await acquireDirectoryLock(dir).catch((e: unknown) => e)
    expect(isAppError(err, 'LOCKED')).toBe(true)
    expect((err as Error).message).toContain('pid 1 on other-runner')
    const old = new Date(Date.now() - STALE_AFTER_MS - 60_000)
    utimesSync(file, old, old)
    const lock = await acquireDirectoryLock(dir)
    expect(JSON.parse(readFileSync(file, 'utf8')).pid).toBe(process.pid)
    await lock.release()
    expect(existsSync(file)).toBe(false)
  })

  it('syncPhotos refuses a directory another process holds; the lock is never a photo or a new file', async () => {
    const { lib, sync } = await setup({ count: 6, kinds: ['jpeg'], seed: 3 })
    const dir = path.join(tmp('lock-sync-'), 'photos')
    const a = child(['lock', dir, '0'])
    await a.waitFor('locked')
    const err = await sync(dir).catch((e: unknown) => e)
    expect(isAppError(err, 'LOCKED')).toBe(true)
    expect(readdirSync(dir)).toEqual([LOCK_FILE]) // nothing was touched
    a.send('release\n')
    await a.exited
    const r = await sync(dir, { folderStructure: 'none' })
    expect(r.newFiles.some((f) => f.includes(LOCK_FILE))).toBe(false)
    expect(r.downloaded).toBe(expectedHashes(lib).length)
    expect(readdirSync(dir)).not.toContain(LOCK_FILE) // released after the run
  }, 60_000)
})

// ---- disk and permission errors ---------------------------------------------------------------------

const isRoot = process.getuid?.() === 0
const haveSetpriv = isRoot && spawnSync('setpriv', ['--version']).status === 0
/** A uid that is not ours, for a real EACCES when the suite runs as root (root ignores modes). */
const NOBODY = 65534

describe('disk and permission errors are named', () => {
  function sessionDir(): { root: string; cookies: string; files: string[] } {
    const root = mkdtempSync(path.join(os.tmpdir(), 'perm-'))
    later.push(() => rmSync(root, { recursive: true, force: true }))
    chmodSync(root, 0o755)
    const cookies = path.join(root, 'cookies')
    mkdirSync(cookies, { mode: 0o700 })
    const p = sessionPaths(cookies, USER)
    writeFileSync(p.jarPath, '#LWP-Cookies-2.0\n')
    writeFileSync(p.sessionPath, '{"client_id": "auth-1", "trust_token": "HSARMTKNSRVXWFlaVeryLongTrust"}')
    return { root, cookies, files: [p.jarPath, p.sessionPath] }
  }

  it.skipIf(isRoot ? !haveSetpriv : false)(
    'a cookie directory the process cannot read is DISK naming it; the session files are not set aside',
    async () => {
      const { cookies, files } = sessionDir()
      const before = files.map((f) => readFileSync(f, 'utf8'))
      let out: { ok: boolean; code?: string; message?: string; remediation?: string }
      if (isRoot) {
        // Really another user: the directory is root's, mode 0700.
        const c = child(['auth', cookies], { asUser: NOBODY })
        expect(await c.exited, c.out()).toBe(3)
        out = lastJson(c.out())
      } else {
        chmodSync(cookies, 0o000)
        later.push(() => chmodSync(cookies, 0o700))
        const err = (await authenticate({
          username: USER,
          cookieDirectory: cookies,
          endpoints: {
            domain: 'com',
            auth: 'http://127.0.0.1:9',
            authRoot: 'http://127.0.0.1:9',
            home: '',
            setup: 'http://127.0.0.1:9',
          },
          passwordProviders: [],
          log: { info() {}, warning() {}, debug() {} },
        }).catch((e: unknown) => e)) as { code?: string; message?: string; remediation?: string }
        chmodSync(cookies, 0o700)
        out = { ok: false, code: err.code, message: err.message, remediation: err.remediation }
      }
      expect(out.code).toBe('DISK')
      expect(out.message).toContain(cookies)
      expect(out.message).toContain('EACCES')
      expect(out.remediation).toMatch(/chown|cookie-directory/)
      expect(readdirSync(cookies).filter((f) => f.includes('.broken-'))).toEqual([])
      expect(files.map((f) => readFileSync(f, 'utf8'))).toEqual(before)
    },
    60_000,
  )

  it('a cookie directory that is a file is DISK naming the path, not INTERNAL; the file is untouched', async () => {
    const root = tmp('enotdir-')
    const cookies = path.join(root, 'cookies')
    writeFileSync(cookies, 'not a directory')
    const err = await authenticate({
      username: USER,
      cookieDirectory: cookies,
      endpoints: {
        domain: 'com',
        auth: 'http://127.0.0.1:9',
        authRoot: 'http://127.0.0.1:9',
        home: '',
        setup: 'http://127.0.0.1:9',
      },
      passwordProviders: [],
      log: { info() {}, warning() {}, debug() {} },
    }).catch((e: unknown) => e)
    expect(isAppError(err, 'DISK'), String(err)).toBe(true)
    expect((err as Error).message).toBe(`Cannot read the iCloud session in ${cookies} (ENOTDIR).`)
    expect((err as { remediation: string }).remediation).toContain('is a file, not a directory')
    expect(readFileSync(cookies, 'utf8')).toBe('not a directory')
    expect(readdirSync(root)).toEqual(['cookies'])
  })

  it('restoring the session into a cookie directory that is a file is DISK naming it (the action, not INTERNAL)', async () => {
    const root = tmp('restore-enotdir-')
    const cookies = path.join(root, 'cookies')
    writeFileSync(cookies, 'x')
    const err = await writeSessionFiles(cookies, USER, {
      jdoeexamplecom: Buffer.from('#LWP-Cookies-2.0\n'),
    }).catch((e: unknown) => e)
    expect(isAppError(err, 'DISK'), String(err)).toBe(true)
    expect((err as Error).message).toBe(`Cannot save the iCloud session in ${cookies} (EEXIST).`)
    expect(readFileSync(cookies, 'utf8')).toBe('x')
  })

  it('a photos directory that is a file, or that the process may not write, is DISK naming it', async () => {
    const { sync } = await setup({ count: 2, kinds: ['jpeg'], seed: 4 })
    const root = tmp('photos-enotdir-')
    const file = path.join(root, 'photos')
    writeFileSync(file, 'x')
    const err = await sync(file).catch((e: unknown) => e)
    expect(isAppError(err, 'DISK'), String(err)).toBe(true)
    expect((err as Error).message).toBe(`Cannot use the photos directory ${file} (EEXIST).`)
    expect((err as { remediation: string }).remediation).toContain('A file is in the way')
    const below = await sync(path.join(file, 'sub')).catch((e: unknown) => e)
    expect(isAppError(below, 'DISK')).toBe(true)
    expect((below as Error).message).toContain('(ENOTDIR)')
  })

  it.skipIf(isRoot ? !haveSetpriv : false)(
    'a photos directory without write permission is DISK with the fix (a real EACCES, as another user when root)',
    async () => {
      const root = mkdtempSync(path.join(os.tmpdir(), 'photos-eacces-'))
      later.push(() => rmSync(root, { recursive: true, force: true }))
      chmodSync(root, 0o755)
      const photos = path.join(root, 'photos')
      mkdirSync(photos, { mode: 0o755 })
      if (!isRoot) chmodSync(photos, 0o555)
      later.push(() => chmodSync(photos, 0o755))
      const c = child(['lock', photos, '0'], isRoot ? { asUser: NOBODY } : {})
      expect(await c.exited, c.out()).toBe(3)
      const out = lastJson(c.out())
      expect(out.code).toBe('DISK')
      expect(out.message).toBe(`Cannot use the photos directory ${photos} (EACCES).`)
      expect(out.remediation).toContain('give it write access')
    },
    60_000,
  )
})

// ---- masking ---------------------------------------------------------------------------------------

describe('masking', () => {
  it('registers only real secret values: never booleans, numbers, dates or short words; cookie values without quotes', () => {
    for (const v of [
      '',
      'true',
      'false',
      'TRUE',
      '200',
      '-1',
      '3.5',
      'USA',
      'short',
      '2026-05-01T00:00:00.000Z',
    ])
      expect(maskableValues(v), v).toEqual([])
    expect(maskableValues('"HSARMTKNSRVXWFlaSomeToken"')).toEqual(['HSARMTKNSRVXWFlaSomeToken'])
    expect(maskableValues('v=1:t=AQAAAABlongtoken')).toEqual(['v=1:t=AQAAAABlongtoken'])
  })

  it('the action masks the Apple ID in messages built deep in the sign-in code', () => {
    const message = redactAppleId(mfaRequired(USER).describe(), USER)
    expect(message).not.toContain(USER)
    expect(message).toContain(`two-factor code for ${maskAppleId(USER)}`)
    expect(redactAppleId(`no session for ${USER} (${USER})`, USER)).toBe(
      `no session for ${maskAppleId(USER)} (${maskAppleId(USER)})`,
    )
    expect(redactAppleId('nothing here', undefined)).toBe('nothing here')
  })

  it('a sign-in registers the tokens and the bare cookie values, never `true` (trust_eligible) or the account country', async () => {
    const world = await startWorld({ library: { count: 1 } })
    later.push(() => world.close())
    const dir = tmp('mask-')
    const registered: string[] = []
    const r = await authenticate({
      username: USER,
      cookieDirectory: dir,
      endpoints: {
        domain: 'com',
        auth: world.icloud.authEndpoint,
        authRoot: world.icloud.url,
        home: 'https://www.icloud.com',
        setup: world.icloud.setupEndpoint,
      },
      passwordProviders: [{ name: 'parameter', get: async () => PASSWORD }],
      mfa: deviceCodeReader(world.icloud),
      log: { info() {}, warning() {}, debug() {} },
      registerSecret: (v) => registered.push(v),
    })
    await r.session.close()
    expect(r.session.data.trust_eligible).toBe('true')
    expect(registered).not.toContain('true')
    for (const v of registered) expect(maskableValues(v), v).toEqual([v])
    expect(registered).toContain(PASSWORD)
    expect(registered).toContain(r.session.data.session_token)
    expect(registered).toContain(r.session.data.trust_token)
    const cookies = await r.session.jar.store.getAllCookies()
    const quotedCookies = cookies.filter((c) => /^".+"$/.test(c.value))
    expect(quotedCookies.length).toBeGreaterThan(0)
    for (const c of quotedCookies) expect(registered).toContain(c.value.slice(1, -1))
  })
})

// ---- the CLI ------------------------------------------------------------------------------------

describe('`sync` exit codes', () => {
  it('failed downloads exit 1 with DOWNLOAD_FAILED and list the files; --allow-partial-backup exits 0 with a warning', async () => {
    const world = await startWorld({
      library: { count: 6, sharedCount: 0, seed: 5, kinds: ['jpeg'], hiddenRate: 0, deletedRate: 0 },
    })
    later.push(() => world.close())
    const root = tmp('cli-out-')
    const cookies = path.join(root, 'pyicloud')
    const io = (interactive = false) =>
      testIo({ env: world.env, now: () => world.icloud.clock.now(), interactive })
    const t = io(true)
    await consoleLogin(t, {
      user: USER,
      password: PASSWORD,
      cookies,
      code: () => world.icloud.deviceCode(USER),
    })

    const victim = world.library.visibleAssets()[2]!
    world.library.downloadFaults.push({ kind: 'status', status: 500, assetId: victim.id, times: Infinity })
    const photos = path.join(root, 'photos')
    const args = [
      'sync',
      '-u',
      USER,
      '--cookie-directory',
      cookies,
      '-d',
      photos,
      '--folder-structure',
      'none',
    ]
    const s = io()
    expect(await cli(args, s.io), s.output()).toBe(1)
    expect(s.stderr.text).toMatch(
      /^error \[DOWNLOAD_FAILED\]: 1 file could not be backed up after retries; 1 file left\./m,
    )
    expect(s.stderr.text).toContain(
      `Not backed up (1):\n  ${victim.filename}  (failed: HTTP 500, 4 attempts)`,
    )

    const p = io()
    expect(await cli([...args, '--allow-partial-backup'], p.io), p.output()).toBe(0)
    expect(p.stderr.text).toMatch(/^warning \[DOWNLOAD_FAILED\]/m)
    expect(p.stderr.text).toContain(victim.filename)

    world.library.downloadFaults.length = 0
    const ok = io()
    expect(await cli(args, ok.io), ok.output()).toBe(0)
    expect(ok.stdout.text).toMatch(/1 downloaded/)
  }, 90_000)
})

// ---- whole runs of the bundled action -----------------------------------------------------------------

describe('the bundled action: files missing after retries', () => {
  const GH_TOKEN = 'ghs_outcomesfaketoken0123456789'
  const SMTP_PASSWORD = 'smtp-outcomes-pw-987'
  let runner: Runner
  let world: World
  let github: FakeGitHub
  let sink: WebhookSink
  let smtp: SMTPServer
  const mails: ParsedMail[] = []
  const captured: string[] = []

  async function start(extraPhotos = ''): Promise<string> {
    if (!existsSync(DIST_INDEX)) throw new Error('dist/index.js is missing: run `npm run build`')
    runner = await createRunner()
    world = await startWorld({
      library: { count: 10, sharedCount: 0, seed: 11, kinds: ['jpeg'], hiddenRate: 0, deletedRate: 0 },
      runnerTemp: runner.runnerTemp,
    })
    github = await startFakeGitHub({ token: GH_TOKEN, owner: 'octo', repo: 'photos-backup' })
    sink = await startWebhookSink()
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onAuth: (_a, _s, cb) => cb(null, { user: 'u' }),
      onData(stream, _s, cb) {
        simpleParser(stream).then((m) => {
          mails.push(m)
          cb()
        }, cb)
      },
    })
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r))
    later.push(async () => {
      await world.close()
      await github.close()
      await sink.close()
      await new Promise<void>((r) => smtp.close(() => r()))
      await runner.cleanup()
      mails.length = 0
      captured.length = 0
    })
    await mkdir(path.join(runner.workspace, '.github'), { recursive: true })
    await writeFile(
      path.join(runner.workspace, '.github/icloud-photos.yml'),
      `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\n` +
        `notifications:\n  email:\n    smtp-host: 127.0.0.1\n    smtp-port: ${(smtp.server.address() as AddressInfo).port}\n` +
        `    smtp-no-tls: true\n    smtp-username: owner@example.com\n  github-issue:\n    enabled: true\n` +
        `photos:\n  folder-structure: none\n  threads: 4\n${extraPhotos}`,
    )
    return laptopLoginAndExport(world.icloud)
  }

  const inputs = (seed: string) => ({
    config: '.github/icloud-photos.yml',
    password: PASSWORD,
    session: seed,
    'session-key': SESSION_KEY,
    'smtp-password': SMTP_PASSWORD,
    'github-token': GH_TOKEN,
    'webhook-url': `${sink.url}/hook/outcomes`,
    mode: 'sync',
    directory: path.join(runner.root, 'photos'),
  })
  const env = () => ({ ...world.env, GITHUB_API_URL: github.url, RUNNER_TEMP: runner.runnerTemp })

  async function job(seed: string): Promise<{ main: StepResult; post: StepResult; report: RunReport }> {
    const r = await runner.job(inputs(seed), env())
    const reportText = await readFile(r.main.outputs.report!, 'utf8')
    for (const s of [r.main, r.post]) captured.push(s.stdout, s.stderr, s.summary, JSON.stringify(s.outputs))
    captured.push(reportText)
    return { ...r, report: JSON.parse(reportText) as RunReport }
  }

  /** Everything a person or another system can see, `::add-mask::` instructions aside. */
  function visible(): string {
    return [
      ...captured.map((c) =>
        c
          .split('\n')
          .filter((l) => !l.startsWith('::add-mask::'))
          .join('\n'),
      ),
      ...mails.map((m) => `${m.subject}\n${m.text}\n${m.html || ''}`),
      ...github.issues.map((i) => `${i.title}\n${i.body}`),
      ...github.comments.map((c) => c.body),
      ...sink.requests.map((r) => r.body),
    ].join('\n')
  }

  it('fails with DOWNLOAD_FAILED listing exactly the missing files, notifies once across two runs, and the next ok run closes the issue', async () => {
    const seed = await start()
    const victims = world.library.visibleAssets().slice(1, 4)
    for (const v of victims)
      world.library.downloadFaults.push({ kind: 'status', status: 500, assetId: v.id, times: Infinity })

    const first = await job(seed)
    expect(first.main.code, first.main.stdout).toBe(1)
    expect(first.main.outputs.status).toBe('failed')
    expect(first.main.outputs['error-code']).toBe('DOWNLOAD_FAILED')
    expect(first.main.outputs.failed).toBe('3')
    expect(first.main.outputs.remaining).toBe('3')
    expect(first.main.outputs.downloaded).toBe('7')
    const errors = first.main.stdout.split('\n').filter((l) => l.startsWith('::error'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/\[DOWNLOAD_FAILED\] 3 files could not be backed up after retries/)
    // The report lists exactly the missing files, with their ids, sizes and attempts.
    const validate = new Ajv2020({ validateFormats: false }).compile(reportSchema)
    expect(validate(first.report), JSON.stringify(validate.errors)).toBe(true)
    const listed = first.report.photos!.failures.map((f) => [f.relPath, f.assetId, f.reason, f.attempts])
    expect(listed.sort()).toEqual(victims.map((v) => [v.filename, v.id, 'failed', 4]).sort())
    expect(first.report.photos!.remaining).toBe(3)
    for (const v of victims) expect(first.main.summary).toContain(v.filename)
    // One notification per channel.
    expect(mails).toHaveLength(1)
    expect(mails[0]!.subject).toContain('DOWNLOAD_FAILED')
    expect(github.issues).toHaveLength(1)
    expect(github.issues[0]!.body).toContain('DOWNLOAD_FAILED')
    expect(sink.requests).toHaveLength(1)
    expect(first.post.stdout).toContain('Session saved to the Actions cache')

    // Run 2, fresh runner, same problem: still failed, nothing notified again.
    await runner.nextRun()
    const second = await job(seed)
    expect(second.main.code).toBe(1)
    expect(second.main.outputs['error-code']).toBe('DOWNLOAD_FAILED')
    expect(second.main.stdout).toContain('The DOWNLOAD_FAILED notification was already sent')
    expect(mails).toHaveLength(1)
    expect(github.issues).toHaveLength(1)
    expect(github.comments).toHaveLength(0)
    expect(sink.requests).toHaveLength(1)

    // Run 3: Apple serves the files again; everything is backed up and the issue is closed.
    world.library.downloadFaults.length = 0
    await runner.nextRun()
    const third = await job(seed)
    expect(third.main.code, third.main.stdout).toBe(0)
    expect(third.main.outputs.status).toBe('ok')
    expect(third.main.outputs['error-code']).toBe('')
    expect(third.main.outputs.remaining).toBe('0')
    expect(third.main.outputs.downloaded).toBe('3')
    expect(github.issues[0]!.state).toBe('closed')
    expect(mails).toHaveLength(1) // a recovery is not mailed

    // Run 4: a new failure after recovery notifies again (the marker was cleared).
    const added = world.library.addAssets(1)
    world.library.downloadFaults.push({ kind: 'status', status: 500, assetId: added[0]!, times: Infinity })
    await runner.nextRun()
    const fourth = await job(seed)
    expect(fourth.main.code).toBe(1)
    expect(mails).toHaveLength(2)

    // Nothing visible carries the full Apple ID or a secret; `true` was never registered.
    const text = visible()
    expect(text).toContain(maskAppleId(USER))
    for (const s of [USER, PASSWORD, SESSION_KEY, SMTP_PASSWORD, GH_TOKEN]) expect(text).not.toContain(s)
    const masks = captured
      .join('\n')
      .split('\n')
      .filter((l) => l.startsWith('::add-mask::'))
    for (const m of masks) {
      const v = m.slice('::add-mask::'.length)
      expect(v === PASSWORD || v === SESSION_KEY || maskableValues(v).length === 1, v).toBe(true)
    }
    expect(masks).not.toContain('::add-mask::true')
  }, 180_000)

  it('photos.max-files: exit 0 with status incomplete, `remaining` and the files left (reason budget); the next run downloads exactly the rest', async () => {
    const seed = await start('  max-files: 4\n')
    const first = await job(seed)
    expect(first.main.code, first.main.stdout).toBe(0)
    expect(first.main.outputs.status).toBe('incomplete')
    expect(first.main.outputs['error-code']).toBe('')
    expect(first.main.outputs.downloaded).toBe('4')
    expect(first.main.outputs.remaining).toBe('6')
    expect(first.main.stdout).not.toMatch(/^::error/m)
    expect(first.main.summary).toContain('at least 6 files left; the next run continues')
    expect(first.report.photos!.failures.map((f) => f.reason)).toEqual(Array(6).fill('budget'))
    const second = await job(seed)
    expect(second.main.code, second.main.stdout).toBe(0)
    expect(second.main.outputs.status).toBe('incomplete')
    expect(second.main.outputs.downloaded).toBe('4')
    const third = await job(seed)
    expect(third.main.outputs.status).toBe('ok')
    expect(third.main.outputs.downloaded).toBe('2')
    expect(third.main.outputs.remaining).toBe('0')
    const fetched = new Map<string, number>()
    for (const d of world.library.downloadLog) fetched.set(d.assetId, (fetched.get(d.assetId) ?? 0) + 1)
    expect(fetched.size).toBe(10)
    expect([...new Set(fetched.values())]).toEqual([1])
    expect(visible()).not.toContain(USER)
  }, 180_000)

  it('photos.allow-partial-backup: exit 0 with status warning, the files still listed and notified', async () => {
    const seed = await start('  allow-partial-backup: true\n')
    const victim = world.library.visibleAssets()[0]!
    world.library.downloadFaults.push({ kind: 'status', status: 500, assetId: victim.id, times: Infinity })
    const r = await job(seed)
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.outputs.status).toBe('warning')
    expect(r.main.outputs['error-code']).toBe('DOWNLOAD_FAILED')
    expect(r.main.outputs.remaining).toBe('1')
    expect(r.main.stdout).toMatch(/::warning title=Files not backed up::\[DOWNLOAD_FAILED\]/)
    expect(r.report.photos!.failures.map((f) => f.relPath)).toEqual([victim.filename])
    expect(mails).toHaveLength(1)
    expect(github.issues).toHaveLength(1)
    expect(github.issues[0]!.state).toBe('open')
    expect(visible()).not.toContain(USER)
  }, 120_000)
})
