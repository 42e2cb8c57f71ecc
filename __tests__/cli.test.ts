/**
 * The local CLI, driven in-process through `main(argv, io)` against the fake iCloud: argument
 * parsing and usage errors, the keyring tool, login (parameter and console providers) with keyring
 * write-back, status exit codes on a virtual clock, session export/import/reset. Every test also
 * scans what was printed for the secrets it used.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../src/cli/program.js'
import { readSessionFiles } from '../src/icloud/session-files.js'
import { checkProviderOrder } from '../src/config/index.js'
import { loadSession, sessionPaths } from '../src/icloud/session-store.js'
import { KEYRING_SERVICE, keyringUnavailable } from '../src/providers/keyring.js'
import { BlobError, decodeExport, decryptBundle, generateSessionKey } from '../src/session-cache/blob.js'
import { startFakeICloud, type FakeICloud } from '../sim/icloud/index.js'
import { MemoryKeyring } from '../sim/keyring.js'
import { expectNoSecrets, testIo, type TestIo } from './helpers/cli-io.js'

const U = 'jdoe@example.com'
const PW = 'correct horse battery staple'
const DAY = 86_400_000
const entry = (user = U) => `${KEYRING_SERVICE}\0${user}`

let fake: FakeICloud
let tmp: string
let cookies: string
let env: Record<string, string>

beforeEach(async () => {
  fake = await startFakeICloud()
  fake.addAccount({ appleId: U, password: PW })
  tmp = await mkdtemp(join(tmpdir(), 'cli-'))
  cookies = join(tmp, 'pyicloud')
  env = { ICLOUD_AUTH_ENDPOINT: fake.authEndpoint, ICLOUD_SETUP_ENDPOINT: fake.setupEndpoint }
})

afterEach(async () => {
  await fake.close()
  await rm(tmp, { recursive: true, force: true })
})

function io(o: Parameters<typeof testIo>[0] = {}): TestIo {
  return testIo({ env, now: () => fake.clock.now(), ...o })
}

/** Answers the 2FA prompt with the code the fake pushed; returns the code typed. */
async function typeCode(t: TestIo): Promise<string> {
  await t.stderr.waitFor('Enter the 6-digit code: ')
  const code = fake.deviceCode(U)!
  expect(code).toMatch(/^\d{6}$/)
  t.stdin.write(`${code}\n`)
  return code
}

/** A full login with --password and a typed code; returns what a secret scan needs. */
async function loginWithCode(t: TestIo, extra: string[] = []): Promise<{ code: number; typed: string }> {
  const run = main(['login', '-u', U, '--password', PW, '--cookie-directory', cookies, ...extra], t.io)
  const typed = await typeCode(t)
  return { code: await run, typed }
}

async function sessionToken(dir = cookies): Promise<string> {
  const loaded = await loadSession(dir, U)
  return loaded.data.session_token!
}

describe('argument parsing', () => {
  it('suggests the nearest command for a typo and exits 2', async () => {
    const t = io()
    expect(await main(['stauts'], t.io)).toBe(2)
    expect(t.stderr.text).toMatch(/^error \[USAGE\]: unknown command 'stauts'/)
    expect(t.stderr.text).toContain('Did you mean status?')
  })

  it('suggests the nearest option too', async () => {
    const t = io()
    expect(await main(['status', '--usrname', U], t.io)).toBe(2)
    expect(t.stderr.text).toContain('Did you mean --username?')
  })

  it('never echoes the value of a mistyped --option=value', async () => {
    const t = io()
    expect(await main(['login', '-u', U, `--pasword=${PW}`], t.io)).toBe(2)
    expect(t.stderr.text).toContain("unknown option '--pasword=…'")
    expectNoSecrets(t.output(), [PW])
    const spaced = io()
    expect(await main(['login', '-u', U, '--pasword', PW], spaced.io)).toBe(2)
    expect(spaced.stderr.text).toContain('Did you mean --password?')
    expectNoSecrets(spaced.output(), [PW])
  })

  it('documents the exit codes in --help', async () => {
    const t = io()
    expect(await main(['status', '--help'], t.io)).toBe(0)
    for (const code of ['0', '1', '2', '3', '4'])
      expect(t.stdout.text).toMatch(new RegExp(`^\\s+${code}\\s+\\S`, 'm'))
    const top = io()
    expect(await main(['--help'], top.io)).toBe(0)
    expect(top.stdout.text).toContain('Exit codes:')
    for (const cmd of ['login', 'keyring', 'session', 'status', 'sync'])
      expect(top.stdout.text).toContain(cmd)
  })

  /** The exit codes listed under "Exit codes:" in a help text. */
  const codesIn = (help: string) =>
    [...help.slice(help.indexOf('Exit codes:')).matchAll(/^ {2}(\d) {2}\S/gm)].map((m) => Number(m[1]))

  it.each([
    [['login'], [0, 1, 2]],
    [['keyring'], [0, 1, 2]],
    [
      ['session', 'export'],
      [0, 1, 2],
    ],
    [
      ['session', 'import'],
      [0, 1, 2],
    ],
    [
      ['session', 'reset'],
      [0, 1, 2],
    ],
    [['sync'], [0, 1, 2]],
    [['status'], [0, 1, 2, 3, 4]],
    [[], [0, 1, 2]],
  ])('%j --help lists only its own exit codes: %j', async (cmd, expected) => {
    const t = io()
    expect(await main([...cmd, '--help'], t.io)).toBe(0)
    expect(codesIn(t.stdout.text)).toEqual(expected)
  })

  it.each([80, 60, 120])('help is wrapped to the terminal width (%i columns)', async (columns) => {
    for (const cmd of [['sync'], ['login'], ['status'], ['session', 'export'], []]) {
      const t = io()
      Object.assign(t.stdout, { isTTY: true, columns })
      expect(await main([...cmd, '--help'], t.io)).toBe(0)
      const long = t.stdout.text.split('\n').filter((l) => l.length > columns)
      expect(long, `${cmd.join(' ')} --help at ${columns} columns`).toEqual([])
    }
    // Not a terminal: 80 columns.
    const piped = io()
    expect(await main(['sync', '--help'], piped.io)).toBe(0)
    expect(piped.stdout.text.split('\n').filter((l) => l.length > 80)).toEqual([])
    // Every description is still there, only wrapped.
    expect(piped.stdout.text.replace(/\s+/g, ' ')).toContain(
      'where the password comes from, in order; repeat the flag: parameter, env, keyring, command, console, webui',
    )
  })

  it('--verbose is global: before the command as well as after it, and in every command’s help', async () => {
    // An expired session: checking it logs debug lines (what Apple said to the stored cookies).
    await loginWithCode(io({ interactive: true }))
    fake.clock.advance(31 * DAY)
    for (const argv of [
      ['-v', 'status', '-u', U, '--cookie-directory', cookies],
      ['status', '-u', U, '--cookie-directory', cookies, '--verbose'],
      [
        '--verbose',
        'login',
        '-u',
        U,
        '--cookie-directory',
        cookies,
        '--mfa-provider',
        'none',
        '--password',
        'x',
      ],
    ]) {
      const t = io({ interactive: false })
      await main(argv, t.io)
      expect(t.stderr.text, argv.join(' ')).toMatch(/^debug: /m)
    }
    const quiet = io()
    await main(['status', '-u', U, '--cookie-directory', cookies], quiet.io)
    expect(quiet.stderr.text).not.toMatch(/^debug: /m)
    for (const cmd of [['keyring'], ['session', 'export'], ['sync']]) {
      const t = io()
      expect(await main([...cmd, '--help'], t.io)).toBe(0)
      expect(t.stdout.text).toMatch(/Global Options:[\s\S]*-v, --verbose/)
    }
  })

  it('prints every next step in one form: `hint: …` with the full command', async () => {
    await loginWithCode(io({ interactive: true }))
    const reuse = io()
    expect(await main(['login', '-u', U, '--cookie-directory', cookies], reuse.io)).toBe(0)
    fake.clock.advance(25 * DAY)
    const soon = io()
    expect(await main(['status', '-u', U, '--cookie-directory', cookies], soon.io)).toBe(3)
    fake.clock.advance(10 * DAY)
    const expired = io()
    expect(await main(['status', '-u', U, '--cookie-directory', cookies], expired.io)).toBe(4)
    const failed = io({ interactive: false })
    expect(await main(['login', '-u', U, '--cookie-directory', cookies], failed.io)).toBe(1)
    for (const t of [reuse, soon, expired, failed]) {
      const text = t.output()
      const hints = text.split('\n').filter((l) => /^hint:/.test(l))
      expect(hints.length, text).toBeGreaterThan(0)
      for (const h of hints) expect(h).toMatch(/^hint: [a-z`-]/)
      // A command to run is always the full one, in backticks; no other wording of a next step.
      for (const m of text.matchAll(/`icloud-photos-action ([^`]*)`/g)) expect(m[1]).toMatch(/^[a-z]/)
      expect(text).not.toMatch(/^(Sign in again|To renew|For GitHub Actions|That is within)/m)
      expect(text).not.toContain('npx ')
    }
    expect(reuse.stdout.text).toContain(
      `hint: to renew the trust now (a new 2FA code): \`icloud-photos-action login --force --username ${U}\``,
    )
    expect(expired.stdout.text).toContain(
      `hint: sign in again: \`icloud-photos-action login --username ${U}\``,
    )
  })

  it.each([
    [['console', 'keyring']],
    [['webui', 'console']],
    [['keyring', 'keyring']],
    [['keyrng', 'console']],
  ])(
    'rejects the password-provider list %j with the shared message, before any network call',
    async (list) => {
      for (const command of ['login', 'sync']) {
        const t = io()
        const flags = list.flatMap((p) => ['--password-provider', p])
        const dir = command === 'sync' ? ['-d', tmp] : []
        expect(await main([command, '-u', U, '--cookie-directory', cookies, ...dir, ...flags], t.io)).toBe(2)
        const message = checkProviderOrder(list)!
        expect(message).toBeTruthy()
        expect(t.stderr.text).toContain(`error [USAGE]: --password-provider: ${message}`)
      }
      // The comma form is the same list.
      const t = io()
      expect(await main(['login', '-u', U, '--password-provider', list.join(',')], t.io)).toBe(2)
      expect(t.stderr.text).toContain(checkProviderOrder(list)!)
      expect(fake.server.log.length).toBe(0)
    },
  )

  it('validates flag values with the config schema and names the flag', async () => {
    const t = io()
    expect(await main(['sync', '-u', U, '-d', tmp, '--threads', '99'], t.io)).toBe(2)
    expect(t.stderr.text).toMatch(/error \[USAGE\]: --threads: .*32/)
  })

  it('requires --username', async () => {
    const t = io()
    expect(await main(['status'], t.io)).toBe(2)
    expect(t.stderr.text).toContain('--username is required')
  })
})

describe('keyring command (icloudpd `icloud` compatible)', () => {
  it('prompts for the password (hidden) and saves it when the answer is y', async () => {
    const t = io({ interactive: true })
    const run = main(['keyring', '--username', U], t.io)
    await t.stderr.waitFor(`iCloud Password for ${U}: `)
    t.stdin.write(`${PW}\n`)
    await t.stderr.waitFor('Save password in keyring? (y/N)')
    t.stdin.write('y\n')
    expect(await run).toBe(0)
    // The entry icloudpd reads: service pyicloud://icloud-password, account = the Apple ID.
    expect(t.keyring.entries.get(`pyicloud://icloud-password\0${U}`)).toBe(PW)
    expect(t.stdout.text).toContain(`Password for ${U} saved in the keyring`)
    expectNoSecrets(t.output(), [PW])
  })

  it('saves nothing when the answer is the default (N)', async () => {
    const t = io({ interactive: true })
    const run = main(['keyring', '--username', U], t.io)
    await t.stderr.waitFor(`iCloud Password for ${U}: `)
    t.stdin.write(`${PW}\n`)
    await t.stderr.waitFor('Save password in keyring? (y/N)')
    t.stdin.write('\n')
    expect(await run).toBe(0)
    expect(t.keyring.entries.size).toBe(0)
    expect(t.stdout.text).toContain('Password not saved.')
  })

  it('--delete-from-keyring removes the password and says so', async () => {
    const keyring = new MemoryKeyring()
    await keyring.set(KEYRING_SERVICE, U, PW)
    const t = io({ keyring })
    expect(await main(['keyring', '--username', U, '--delete-from-keyring'], t.io)).toBe(0)
    expect(keyring.entries.has(entry())).toBe(false)
    expect(t.stdout.text).toContain(`Password for ${U} deleted from the keyring.`)
    const again = io({ keyring })
    expect(await main(['keyring', '--username', U, '--delete-from-keyring'], again.io)).toBe(0)
    expect(again.stdout.text).toContain(`No password for ${U} was stored in the keyring`)
  })

  it('without a keyring backend: the clear message, exit 1, and no password prompt', async () => {
    const expected = keyringUnavailable('no backend').message
    for (const argv of [
      ['keyring', '-u', U],
      ['keyring', '-u', U, '--delete-from-keyring'],
    ]) {
      const t = io({ interactive: true, keyring: new MemoryKeyring(false) })
      expect(await main(argv, t.io)).toBe(1)
      expect(t.stderr.text).toContain(`error [INTERNAL]: ${expected}`)
      expect(t.stderr.text).toMatch(/hint: .*keyring/)
      expect(t.stderr.text).not.toContain('iCloud Password for')
    }
  })

  it('refuses to prompt without a terminal', async () => {
    const t = io({ interactive: false })
    expect(await main(['keyring', '-u', U], t.io)).toBe(1)
    expect(t.stderr.text).toContain('not an interactive terminal')
  })
})

describe('login', () => {
  it('signs in with --password and a typed code, writes the session, prints the trust expiry, writes the password back to the keyring', async () => {
    const t = io({ interactive: true })
    const { code, typed } = await loginWithCode(t)
    expect(code).toBe(0)
    expect(fake.srpAttempts(U)).toBe(1)
    const files = sessionPaths(cookies, U)
    expect((await stat(files.jarPath)).mode & 0o777).toBe(0o600)
    expect((await stat(files.sessionPath)).mode & 0o777).toBe(0o600)
    expect(t.stdout.text).toContain(`Signed in as ${U}.`)
    expect(t.stdout.text).toMatch(/The 2FA trust expires on \d{4}-\d\d-\d\d \d\d:\d\d UTC \(29 days left\)/)
    // Default providers are parameter, keyring, console: the parameter password goes to the keyring.
    expect(t.keyring.entries.get(entry())).toBe(PW)
    expect(t.stderr.text).toContain('Saved the password in the OS keyring (from parameter)')
    expectNoSecrets(t.output(), [PW, typed, await sessionToken()])
  })

  it('asks for the password on the console (hidden prompt) and writes it back to the keyring', async () => {
    const t = io({ interactive: true })
    const run = main(
      [
        'login',
        '-u',
        U,
        '--cookie-directory',
        cookies,
        '--password-provider',
        'keyring',
        '--password-provider',
        'console',
      ],
      t.io,
    )
    await t.stderr.waitFor(`iCloud Password for ${U}: `)
    t.stdin.write(`${PW}\n`)
    const typed = await typeCode(t)
    expect(await run).toBe(0)
    expect(t.keyring.entries.get(entry())).toBe(PW)
    expect(t.stderr.text).toContain('(from console)')
    expectNoSecrets(t.output(), [PW, typed, await sessionToken()])
  })

  it.each(['2026', 'pre-2026'] as const)(
    'console provider, %s 2FA flow: the code Apple pushed is asked for and signs in',
    async (flow) => {
      fake.twoFactorFlow = flow
      const t = io({ interactive: true })
      const run = main(
        ['login', '-u', U, '--cookie-directory', cookies, '--password-provider', 'console'],
        t.io,
      )
      await t.stderr.waitFor(`iCloud Password for ${U}: `)
      t.stdin.write(`${PW}\n`)
      const typed = await typeCode(t)
      expect(await run).toBe(0)
      expect(t.stdout.text).toContain(`Signed in as ${U}.`)
      const trigger = fake.server.log.find(
        (e) => e.method === 'PUT' && e.endpoint === 'auth:verify/trusteddevice/securitycode',
      )
      expect(trigger?.status).toBe(flow === '2026' ? 202 : 404)
      expect(t.stderr.text).not.toMatch(/PROTOCOL_ERROR|404/)
      expect((await loadSession(cookies, U)).status).toBe('ok')
      expectNoSecrets(t.output(), [PW, typed, await sessionToken()])
    },
  )

  it('uses a password icloudpd stored in the keyring, and does not write it back', async () => {
    const keyring = new MemoryKeyring()
    await keyring.set('pyicloud://icloud-password', U, PW)
    const t = io({ interactive: true, keyring })
    const run = main(
      ['login', '-u', U, '--cookie-directory', cookies, '--password-provider', 'keyring'],
      t.io,
    )
    await typeCode(t)
    expect(await run).toBe(0)
    expect(t.stderr.text).toContain('password from keyring')
    expect(t.stderr.text).not.toContain('Saved the password')
  })

  it('never writes a refused password to the keyring', async () => {
    const t = io({ interactive: true })
    const wrong = 'not the password'
    expect(await main(['login', '-u', U, '--password', wrong, '--cookie-directory', cookies], t.io)).toBe(1)
    expect(t.stderr.text).toMatch(/^error \[BAD_PASSWORD\]: /m)
    expect(t.keyring.entries.size).toBe(0)
    expectNoSecrets(t.output(), [wrong])
  })

  it('never writes the keyring in CI, even after a successful sign-in', async () => {
    fake.addAccount({ appleId: 'nofactor@example.com', password: PW, hsaVersion: 0 })
    const ci = io({ env: { ...env, CI: 'true' } })
    const args = ['login', '-u', 'nofactor@example.com', '--password', PW, '--cookie-directory', cookies]
    expect(await main(args, ci.io)).toBe(0)
    expect(ci.keyring.entries.size).toBe(0)
    // The same sign-in outside CI does write it back (the control).
    const local = io()
    expect(await main([...args, '--force'], local.io)).toBe(0)
    expect(local.keyring.entries.get(entry('nofactor@example.com'))).toBe(PW)
  })

  it('says how to continue when a code is needed but nobody can type it', async () => {
    const t = io({ interactive: false })
    expect(await main(['login', '-u', U, '--password', PW, '--cookie-directory', cookies], t.io)).toBe(1)
    expect(t.stderr.text).toMatch(/^error \[MFA_REQUIRED\]: .*not an interactive terminal/m)
    expect(t.stderr.text).toMatch(/^hint: .*--mfa-provider webui/m)
    expect(t.keyring.entries.size).toBe(0)
  })

  it('reuses a valid session without a password; --force signs in again with a new code', async () => {
    expect((await loginWithCode(io({ interactive: true }))).code).toBe(0)
    const again = io({ interactive: true })
    expect(await main(['login', '-u', U, '--cookie-directory', cookies], again.io)).toBe(0)
    expect(again.stdout.text).toContain('still valid; no password or code was needed')
    expect(fake.srpAttempts(U)).toBe(1)
    const forced = io({ interactive: true })
    expect((await loginWithCode(forced, ['--force'])).code).toBe(0)
    expect(fake.srpAttempts(U)).toBe(2)
    expect(forced.stdout.text).toContain(`Signed in as ${U}.`)
  })

  it('--force puts the old session back when the new sign-in fails', async () => {
    expect((await loginWithCode(io({ interactive: true }))).code).toBe(0)
    const before = await readSessionFiles(cookies, U)
    const t = io({ interactive: true })
    expect(
      await main(['login', '-u', U, '--password', 'wrong', '--cookie-directory', cookies, '--force'], t.io),
    ).toBe(1)
    expect(await readSessionFiles(cookies, U)).toEqual(before)
  })

  /** Every file in the cookie directory with its bytes and mode. */
  async function snapshot(): Promise<Record<string, { bytes: string; mode: number }>> {
    const out: Record<string, { bytes: string; mode: number }> = {}
    for (const f of await readdir(cookies).catch(() => [] as string[])) {
      const p = join(cookies, f)
      out[f] = { bytes: (await readFile(p)).toString('base64'), mode: (await stat(p)).mode }
    }
    return out
  }

  it('a failed login leaves the previous session files exactly as they were, and creates none where there were none', async () => {
    // No session yet: a wrong password leaves no (empty) session files behind.
    const first = io({ interactive: true })
    expect(
      await main(['login', '-u', U, '--password', 'wrong', '--cookie-directory', cookies], first.io),
    ).toBe(1)
    expect(await snapshot()).toEqual({})
    // A code nobody can type: nothing either.
    const noCode = io({ interactive: false })
    expect(await main(['login', '-u', U, '--password', PW, '--cookie-directory', cookies], noCode.io)).toBe(1)
    expect(await snapshot()).toEqual({})
    const exportAfter = io()
    expect(
      await main(
        ['session', 'export', '-u', U, '--repo', 'o/r', '--cookie-directory', cookies],
        exportAfter.io,
      ),
    ).toBe(1)

    // A trusted session whose trust expired: the sign-in (wrong password) fails, the files stay byte for byte.
    await loginWithCode(io({ interactive: true }))
    fake.clock.advance(31 * DAY)
    const before = await snapshot()
    expect(Object.keys(before).length).toBe(2)
    const t = io({ interactive: true })
    expect(await main(['login', '-u', U, '--password', 'wrong', '--cookie-directory', cookies], t.io)).toBe(1)
    expect(t.stderr.text).toMatch(/^error \[BAD_PASSWORD\]/m)
    expect(await snapshot()).toEqual(before)
    // Messages never name the scratch directory the sign-in ran in.
    expect(t.output()).not.toContain('icloud-photos-login-')
  })

  it('a successful login replaces the files (the trust is renewed) and keeps nothing of the scratch directory', async () => {
    await loginWithCode(io({ interactive: true }))
    fake.clock.advance(31 * DAY)
    const t = io({ interactive: true })
    expect((await loginWithCode(t)).code).toBe(0)
    expect(t.stdout.text).toMatch(/\(29 days left\)/)
    const s = io()
    expect(await main(['status', '-u', U, '--cookie-directory', cookies], s.io)).toBe(0)
    expect(await readdir(cookies)).toHaveLength(2)
  })
})

describe('status', () => {
  async function status(extra: string[] = []): Promise<{ code: number; t: TestIo }> {
    const t = io()
    const code = await main(['status', '-u', U, '--cookie-directory', cookies, ...extra], t.io)
    return { code, t }
  }

  it('exit 0 for a fresh session, 3 near the expiry, 4 once expired — never signing in', async () => {
    const login = io({ interactive: true })
    const { typed } = await loginWithCode(login)
    const srp = fake.srpAttempts(U)

    let r = await status()
    expect(r.code).toBe(0)
    expect(r.t.stdout.text).toContain(`Session for ${U}: valid.`)
    expect(r.t.stdout.text).toMatch(/\(29 days left\)/)

    fake.clock.advance(25 * DAY)
    r = await status()
    expect(r.code).toBe(3)
    expect(r.t.stdout.text).toMatch(/\(4 days left\)/)
    expect(r.t.stdout.text).toContain('within 7 days')
    expect((await status(['--warn-days', '3'])).code).toBe(0)

    fake.clock.advance(6 * DAY)
    r = await status()
    expect(r.code).toBe(4)
    expect(r.t.stdout.text).toContain('not usable')
    expect(r.t.stdout.text).toContain(`login --username ${U}`)

    expect(fake.srpAttempts(U)).toBe(srp)
    expect(fake.count('auth:signin/init')).toBe(1)
    expectNoSecrets(r.t.output(), [PW, typed, await sessionToken()])
  })

  it('exit 4 when Apple revoked the trust', async () => {
    await loginWithCode(io({ interactive: true }))
    fake.revokeTrust(U)
    const r = await status()
    expect(r.code).toBe(4)
    expect(fake.srpAttempts(U)).toBe(1)
  })

  it('exit 4 without a session, and for unreadable files (which it leaves alone)', async () => {
    expect((await status()).code).toBe(4)
    const files = sessionPaths(cookies, U)
    await loginWithCode(io({ interactive: true }))
    await writeFile(files.sessionPath, '{not json')
    const r = await status()
    expect(r.code).toBe(4)
    expect(r.t.stdout.text).toContain('cannot be read')
    expect(await readFile(files.sessionPath, 'utf8')).toBe('{not json')
  })

  it('--json reports the same answer', async () => {
    await loginWithCode(io({ interactive: true }))
    const r = await status(['--json'])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.t.stdout.text)
    expect(report).toMatchObject({ username: U, valid: true, daysRemaining: 29, warnDays: 7, exitCode: 0 })
  })

  it('exit 1 (not 4) when Apple cannot be reached', async () => {
    await loginWithCode(io({ interactive: true }))
    fake.inject('setup:validate', { status: 503, times: 5 })
    const r = await status()
    expect(r.code).toBe(1)
    expect(r.t.stderr.text).toMatch(/^error \[THROTTLED\]/m)
  })
})

describe('--config and --domain', () => {
  it('reads the account, cookie directory and warn-days from the config file; flags win', async () => {
    await loginWithCode(io({ interactive: true }))
    const file = join(tmp, 'icloud-photos.yml')
    await writeFile(
      file,
      `account:\n  username: ${U}\nauth:\n  cookie-directory: ${cookies}\nnotifications:\n  warn-days: 40\n`,
    )
    const fromFile = io()
    expect(await main(['status', '--config', file], fromFile.io)).toBe(3)
    expect(fromFile.stdout.text).toContain('within 40 days')
    expect(await main(['status', '--config', file, '--warn-days', '7'], io().io)).toBe(0)
  })

  it('an invalid config file is a usage error with file:line and the shared provider message', async () => {
    const file = join(tmp, 'bad.yml')
    await writeFile(file, `account:\n  username: ${U}\nauth:\n  password-providers: [console, keyring]\n`)
    const t = io()
    expect(await main(['login', '--config', file], t.io)).toBe(2)
    expect(t.stderr.text).toContain('error [CONFIG_INVALID]')
    expect(t.stderr.text).toContain(`${file}:4:`)
    expect(t.stderr.text).toContain(checkProviderOrder(['console', 'keyring'])!)
  })

  it('a missing --config file names the path it looked at, with the command line’s advice', async () => {
    const file = join(tmp, 'nope.yml')
    const t = io()
    expect(await main(['status', '--config', file], t.io)).toBe(2)
    expect(t.stderr.text).toContain(`no config file at ${file}; check the --config path`)
    // The action's advice (checkout, the `config` input) is for workflows, not for a terminal.
    expect(t.stderr.text).not.toContain('actions/checkout')
  })

  it('--domain cn signs in against the .com.cn service', async () => {
    const cn = await startFakeICloud({ domain: 'cn' })
    try {
      cn.addAccount({ appleId: U, password: PW })
      const t = testIo({
        env: { ICLOUD_AUTH_ENDPOINT: cn.authEndpoint, ICLOUD_SETUP_ENDPOINT: cn.setupEndpoint },
        interactive: true,
      })
      const run = main(
        ['login', '-u', U, '--domain', 'cn', '--password', PW, '--cookie-directory', cookies],
        t.io,
      )
      await t.stderr.waitFor('Enter the 6-digit code: ')
      t.stdin.write(`${cn.deviceCode(U)}\n`)
      expect(await run).toBe(0)
      expect(cn.srpAttempts(U)).toBe(1)
      const st = testIo({
        env: { ICLOUD_AUTH_ENDPOINT: cn.authEndpoint, ICLOUD_SETUP_ENDPOINT: cn.setupEndpoint },
      })
      expect(await main(['status', '-u', U, '--domain', 'cn', '--cookie-directory', cookies], st.io)).toBe(0)
      const bad = io()
      expect(await main(['status', '-u', U, '--domain', 'de'], bad.io)).toBe(2)
      expect(bad.stderr.text).toContain('Allowed choices are com, cn')
    } finally {
      await cn.close()
    }
  })
})

describe('session export / import / reset', () => {
  const REPO = 'octo/photos-backup'

  it('export writes a 0600 blob and a new key, prints the gh commands, and the action’s decryptBundle opens it', async () => {
    const login = io({ interactive: true })
    const { typed } = await loginWithCode(login)
    const out = join(tmp, 'export')
    const t = io()
    expect(
      await main(
        ['session', 'export', '-u', U, '--repo', REPO, '--cookie-directory', cookies, '--out', out],
        t.io,
      ),
    ).toBe(0)
    const blobFile = join(out, 'ICLOUD_SESSION.octo-photos-backup.txt')
    const keyFile = join(out, 'ICLOUD_SESSION_KEY.octo-photos-backup.txt')
    for (const f of [blobFile, keyFile]) expect((await stat(f)).mode & 0o777).toBe(0o600)
    expect(t.stdout.text).toContain(`gh secret set ICLOUD_SESSION --repo ${REPO} < ${blobFile}`)
    expect(t.stdout.text).toContain(`gh secret set ICLOUD_SESSION_KEY --repo ${REPO} < ${keyFile}`)
    expect(t.stdout.text).toMatch(/29 days left/)

    const key = await readFile(keyFile, 'utf8')
    const text = await readFile(blobFile, 'utf8')
    const bundle = decryptBundle(decodeExport(text), key, REPO)
    expect(bundle.files).toEqual(await readSessionFiles(cookies, U))
    expect(() => decryptBundle(decodeExport(text), key, 'octo/other')).toThrow(BlobError)
    expectNoSecrets(t.output(), [key, text, PW, typed, await sessionToken()])
  })

  it('export → import round trip (file and stdin); the imported session passes status', async () => {
    await loginWithCode(io({ interactive: true }))
    const keyFile = join(tmp, 'my.key')
    const key = generateSessionKey()
    await writeFile(keyFile, `${key}\n`)
    const out = join(tmp, 'export')
    const ex = io()
    expect(
      await main(
        [
          'session',
          'export',
          '-u',
          U,
          '--repo',
          REPO,
          '--cookie-directory',
          cookies,
          '--out',
          out,
          '--key-file',
          keyFile,
        ],
        ex.io,
      ),
    ).toBe(0)
    // The given key is used; no new key file is written.
    expect(await readdir(out)).toEqual(['ICLOUD_SESSION.octo-photos-backup.txt'])
    expect(ex.stdout.text).toContain(`gh secret set ICLOUD_SESSION_KEY --repo ${REPO} < ${keyFile}`)
    const blobFile = join(out, 'ICLOUD_SESSION.octo-photos-backup.txt')

    const elsewhere = join(tmp, 'other-machine')
    const im = io()
    expect(
      await main(
        [
          'session',
          'import',
          '-u',
          U,
          '--repo',
          REPO,
          '--key-file',
          keyFile,
          '--cookie-directory',
          elsewhere,
          blobFile,
        ],
        im.io,
      ),
    ).toBe(0)
    expect(await readSessionFiles(elsewhere, U)).toEqual(await readSessionFiles(cookies, U))
    expect(im.stdout.text).toContain('Imported the session')

    const viaStdin = join(tmp, 'third')
    const piped = io()
    const run = main(
      [
        'session',
        'import',
        '-u',
        U,
        '--repo',
        REPO,
        '--key-file',
        keyFile,
        '--cookie-directory',
        viaStdin,
        '-',
      ],
      piped.io,
    )
    piped.stdin.end(await readFile(blobFile))
    expect(await run).toBe(0)
    expect(await readSessionFiles(viaStdin, U)).toEqual(await readSessionFiles(cookies, U))

    const st = io()
    expect(await main(['status', '-u', U, '--cookie-directory', elsewhere], st.io)).toBe(0)
    expect(fake.srpAttempts(U)).toBe(1)
    expectNoSecrets(ex.output() + im.output() + piped.output() + st.output(), [key])
  })

  it('import refuses the wrong key or repository with a clear error, and moves an existing session aside', async () => {
    await loginWithCode(io({ interactive: true }))
    const out = join(tmp, 'export')
    expect(
      await main(
        ['session', 'export', '-u', U, '--repo', REPO, '--cookie-directory', cookies, '--out', out],
        io().io,
      ),
    ).toBe(0)
    const blobFile = join(out, 'ICLOUD_SESSION.octo-photos-backup.txt')
    const keyFile = join(out, 'ICLOUD_SESSION_KEY.octo-photos-backup.txt')
    const wrongKey = join(tmp, 'wrong.key')
    await writeFile(wrongKey, generateSessionKey())

    const bad = io()
    expect(
      await main(
        [
          'session',
          'import',
          '-u',
          U,
          '--repo',
          REPO,
          '--key-file',
          wrongKey,
          '--cookie-directory',
          join(tmp, 'x'),
          blobFile,
        ],
        bad.io,
      ),
    ).toBe(1)
    expect(bad.stderr.text).toMatch(/^error \[SESSION_INVALID\]: .*different session key/m)
    const otherRepo = io()
    expect(
      await main(
        [
          'session',
          'import',
          '-u',
          U,
          '--repo',
          'octo/else',
          '--key-file',
          keyFile,
          '--cookie-directory',
          join(tmp, 'x'),
          blobFile,
        ],
        otherRepo.io,
      ),
    ).toBe(1)
    expect(otherRepo.stderr.text).toContain('another repository')

    const over = io()
    expect(
      await main(
        [
          'session',
          'import',
          '-u',
          U,
          '--repo',
          REPO,
          '--key-file',
          keyFile,
          '--cookie-directory',
          cookies,
          blobFile,
        ],
        over.io,
      ),
    ).toBe(0)
    expect(over.stderr.text).toContain('moved aside')
    expect((await readdir(cookies)).filter((f) => f.includes('.broken-'))).toHaveLength(2)
  })

  it('export refuses an empty or untrusted session (exit 1, nothing written) and says to log in', async () => {
    const out = join(tmp, 'export')
    const files = sessionPaths(cookies, U)
    await mkdir(files.dir, { recursive: true })
    // What a sign-in that never finished leaves: files without a trust cookie.
    await writeFile(files.jarPath, '#LWP-Cookies-2.0\n')
    await writeFile(files.sessionPath, '{}')
    const empty = io()
    expect(
      await main(
        ['session', 'export', '-u', U, '--repo', REPO, '--cookie-directory', cookies, '--out', out],
        empty.io,
      ),
    ).toBe(1)
    expect(empty.stderr.text).toMatch(/^error \[SESSION_INVALID\]: .*is not 2FA-trusted/m)
    expect(empty.stderr.text).toContain(
      `hint: sign in first: \`icloud-photos-action login --username ${U}\`, then export again.`,
    )
    expect(empty.stdout.text).not.toContain('gh secret set')
    await expect(readdir(out)).rejects.toThrow()

    // A trusted session whose trust has run out.
    await loginWithCode(io({ interactive: true }))
    fake.clock.advance(31 * DAY)
    const expired = io()
    expect(
      await main(
        ['session', 'export', '-u', U, '--repo', REPO, '--cookie-directory', cookies, '--out', out],
        expired.io,
      ),
    ).toBe(1)
    expect(expired.stderr.text).toMatch(/^error \[SESSION_INVALID\]: .*The 2FA trust expired on/m)
    expect(expired.stderr.text).toContain(`\`icloud-photos-action login --force --username ${U}\``)
    expect(expired.stdout.text).not.toContain('gh secret set')
    await expect(readdir(out)).rejects.toThrow()
  })

  it('export of a session close to its expiry works, with a hint to renew it first', async () => {
    await loginWithCode(io({ interactive: true }))
    fake.clock.advance(25 * DAY)
    const t = io()
    const out = join(tmp, 'export')
    expect(
      await main(
        ['session', 'export', '-u', U, '--repo', REPO, '--cookie-directory', cookies, '--out', out],
        t.io,
      ),
    ).toBe(0)
    expect(t.stdout.text).toMatch(/\(4 days left\)/)
    expect(t.stderr.text).toContain(
      `hint: the trust runs out within 7 days; to give CI a full month, renew it first with \`icloud-photos-action login --force --username ${U}\``,
    )
    expect(t.stdout.text).toContain('gh secret set ICLOUD_SESSION')
  })

  it('export without a session explains what to do', async () => {
    const t = io()
    expect(
      await main(['session', 'export', '-u', U, '--repo', REPO, '--cookie-directory', cookies], t.io),
    ).toBe(1)
    expect(t.stderr.text).toMatch(/^error \[SESSION_INVALID\]: There is no session/m)
    expect(t.stderr.text).toContain(`login --username ${U}`)
    const badRepo = io()
    expect(
      await main(
        ['session', 'export', '-u', U, '--repo', 'not-a-repo', '--cookie-directory', cookies],
        badRepo.io,
      ),
    ).toBe(2)
  })

  it('reset moves one account’s files aside, or every session in the directory', async () => {
    await loginWithCode(io({ interactive: true }))
    const files = sessionPaths(cookies, U)
    const t = io()
    expect(await main(['session', 'reset', '-u', U, '--cookie-directory', cookies], t.io)).toBe(0)
    expect((await loadSession(cookies, U)).status).toBe('missing')
    const moved = (await readdir(cookies)).filter((f) => f.includes('.broken-')).sort()
    expect(moved.map((f) => f.replace(/\.broken-.*$/, ''))).toEqual([
      basename(files.jarPath),
      basename(files.sessionPath),
    ])
    for (const m of moved) expect(t.stdout.text).toContain(join(cookies, m))

    // Without --username: every session in the directory, nothing else.
    await writeFile(join(cookies, 'someoneelse'), '#LWP-Cookies-2.0\n')
    await writeFile(join(cookies, 'someoneelse.session'), '{}')
    await writeFile(join(cookies, 'thirdexamplecom.session'), '{}')
    await writeFile(join(cookies, 'notes.txt'), 'keep me')
    const all = io()
    expect(await main(['session', 'reset', '--cookie-directory', cookies], all.io)).toBe(0)
    const left = (await readdir(cookies)).filter((f) => !f.includes('.broken-'))
    expect(left).toEqual(['notes.txt'])

    const none = io()
    expect(await main(['session', 'reset', '--cookie-directory', cookies], none.io)).toBe(0)
    expect(none.stdout.text).toContain('nothing to reset')
  })
})
