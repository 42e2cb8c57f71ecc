// The bundled action (dist/index.js) as a child process in a simulated runner, against the fake
// iCloud, the fake Actions cache (driven by the real @actions/cache), a real SMTP server and the
// fake GitHub REST API. Build first: `npm run bundle` (the test suite's global setup does it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import type { AddressInfo } from 'node:net'
import { createRunner, type Runner, type StepResult } from '../sim/runner-env.js'
import { laptopLoginAndExport, PASSWORD, SESSION_KEY, startWorld, USER, type World } from '../sim/world.js'
import { startFakeGitHub, type FakeGitHub } from '../sim/github-api.js'
import { Ajv2020 } from 'ajv/dist/2020.js'
import reportSchema from '../schemas/report.schema.json' with { type: 'json' }
import { main as cli } from '../src/cli/program.js'
import { testIo } from './helpers/cli-io.js'

const DAY = 86_400_000
const SMTP_PASSWORD = 'smtp-secret-pw-123'
const GH_TOKEN = 'ghs_faketoken1234567890'

let world: World
let runner: Runner
let github: FakeGitHub
let smtp: SMTPServer
const mails: ParsedMail[] = []
let smtpPort = 0
const captured: string[] = []

async function startSmtp(): Promise<void> {
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
  smtpPort = (smtp.server.address() as AddressInfo).port
}

async function writeConfig(extra = ''): Promise<void> {
  await mkdir(join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:
  username: ${USER}
auth:
  password-providers: [parameter]
  mfa-provider: none
notifications:
  warn-days: 7
  email:
    smtp-host: 127.0.0.1
    smtp-port: ${smtpPort}
    smtp-no-tls: true
    smtp-username: owner@example.com
  github-issue:
    enabled: true
photos:
  folder-structure: none
  threads: 4
${extra}`,
  )
}

function inputs(session: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    config: '.github/icloud-photos.yml',
    password: PASSWORD,
    session,
    'session-key': SESSION_KEY,
    'smtp-password': SMTP_PASSWORD,
    'github-token': GH_TOKEN,
    mode: 'sync',
    directory: join(runner.root, 'photos'),
    'dry-run': '',
    'webhook-url': '',
    ...over,
  }
}

function keep(r: { main: StepResult; post: StepResult }): { main: StepResult; post: StepResult } {
  for (const s of [r.main, r.post])
    captured.push(s.stdout, s.stderr, s.summary, JSON.stringify(s.outputs), JSON.stringify(s.state))
  return r
}

beforeAll(async () => {
  await startSmtp()
  github = await startFakeGitHub({ token: GH_TOKEN, owner: 'octo', repo: 'photos-backup' })
  runner = await createRunner()
  world = await startWorld({ library: { count: 40 }, runnerTemp: runner.runnerTemp })
  await writeConfig()
}, 60_000)

afterAll(async () => {
  await world?.close()
  await github?.close()
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()))
  await runner?.cleanup()
})

function env(): Record<string, string> {
  return { ...world.env, GITHUB_API_URL: github.url, RUNNER_TEMP: runner.runnerTemp }
}

describe('scheduled runs of the bundled action', () => {
  let seed = ''

  it('run 1 seeds the session from the `session` input and downloads the library', async () => {
    // Signed in on the laptop 25 days ago: the 30-day trust has 5 days left now.
    world.icloud.clock.advance(-25 * DAY)
    seed = await laptopLoginAndExport(world.icloud)
    world.icloud.clock.advance(25 * DAY)
    const srpBefore = world.icloud.srpAttempts()
    const r = keep(await runner.job(inputs(seed), env()))
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.stdout).toContain('Session restored from the `session` input')
    expect(world.icloud.srpAttempts()).toBe(srpBefore)
    expect(Number(r.main.outputs.downloaded)).toBeGreaterThan(0)
    expect(r.main.outputs.failed).toBe('0')
    const files = await readdir(join(runner.root, 'photos'))
    expect(files.length).toBeGreaterThan(0)
    // The list of new files exists for an upload step.
    const list = await readFile(r.main.outputs['new-files']!, 'utf8')
    expect(list.trim().split('\n').length).toBe(Number(r.main.outputs.downloaded))
    // 5 days left ≤ warn-days 7: a warning annotation and one email.
    expect(r.main.outputs.status).toBe('warning')
    expect(Number(r.main.outputs['days-remaining'])).toBeLessThanOrEqual(5)
    expect(r.main.stdout).toMatch(/::warning title=iCloud session expires soon::/)
    expect(mails).toHaveLength(1)
    expect(mails[0]!.text).toMatch(/expires/)
    // icloudpd's defaults: to and from are the SMTP username when not set.
    expect(mails[0]!.to && JSON.stringify(mails[0]!.to)).toContain('owner@example.com')
    expect(mails[0]!.from?.value[0]?.address).toBe('owner@example.com')
    // Post saved the encrypted session to the cache.
    expect(r.post.code).toBe(0)
    expect(r.post.stdout).toContain('Session saved to the Actions cache')
    expect(world.cache.entries().length).toBe(1)
    // The report file is valid JSON with the same status.
    const report = JSON.parse(await readFile(r.main.outputs.report!, 'utf8')) as {
      status: string
      session: { source: string }
    }
    const validate = new Ajv2020({ validateFormats: false }).compile(reportSchema)
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true)
    expect(report.status).toBe('warning')
    expect(report.session.source).toBe('seed')
  })

  it('run 2 (fresh hosted runner) restores from the cache: zero SRP, nothing new, no second email', async () => {
    await runner.nextRun()
    const srpBefore = world.icloud.srpAttempts()
    const r = keep(await runner.job(inputs(seed), env()))
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.stdout).toContain('Session restored from the Actions cache')
    expect(world.icloud.srpAttempts()).toBe(srpBefore)
    expect(r.main.outputs.downloaded).toBe('0')
    expect(r.main.stdout).toMatch(/::warning title=iCloud session expires soon::/)
    expect(mails).toHaveLength(1) // once per expiry value
  })

  it('past expiry: the run fails with one clear message, emails once and opens an issue', async () => {
    await runner.nextRun()
    world.icloud.clock.advance(6 * DAY)
    const r = keep(await runner.job(inputs(seed), env()))
    expect(r.main.code).toBe(1)
    expect(r.main.outputs['error-code']).toBe('MFA_REQUIRED')
    const report = JSON.parse(await readFile(r.main.outputs.report!, 'utf8')) as { notifications: unknown[] }
    const validate = new Ajv2020({ validateFormats: false }).compile(reportSchema)
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true)
    expect(report.notifications.length).toBe(2) // email + issue
    const errors = r.main.stdout.split('\n').filter((l) => l.startsWith('::error'))
    expect(errors, r.main.stdout).toHaveLength(1)
    expect(errors[0]).toMatch(/session export/)
    expect(errors[0]).toMatch(/ICLOUD_SESSION/)
    expect(world.icloud.srpAttempts()).toBeGreaterThan(0)
    expect(mails).toHaveLength(2)
    // One issue for the account: opened by the expiry warning, the failure is a comment on it.
    expect(github.issues).toHaveLength(1)
    expect(github.issues[0]!.state).toBe('open')
    expect([github.issues[0]!.body, ...github.comments.map((c) => c.body)].join('\n')).toMatch(
      /session export/,
    )
  })

  it('a new seed brings the backup back and closes the issue', async () => {
    await runner.nextRun()
    const fresh = await laptopLoginAndExport(world.icloud)
    const r = keep(await runner.job(inputs(fresh), env()))
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.outputs.status).toBe('ok')
    expect(github.issues.filter((i) => i.state === 'open')).toHaveLength(0)
    expect(github.issues.filter((i) => i.state === 'closed')).toHaveLength(1)
  })

  it('no secret value appears in anything captured', async () => {
    // `::add-mask::` lines are instructions to the runner, which never prints them; each secret
    // must have been registered that way before anything else could print it.
    const all = captured.join('\n')
    for (const s of [PASSWORD, SESSION_KEY, SMTP_PASSWORD, GH_TOKEN])
      expect(all).toContain(`::add-mask::${s}`)
    const text = [
      ...captured.map((c) =>
        c
          .split('\n')
          .filter((l) => !l.startsWith('::add-mask::'))
          .join('\n'),
      ),
      ...mails.map((m) => `${m.subject}\n${m.text}\n${m.html || ''}`),
      ...github.issues.map((i) => `${i.title}\n${i.body}`),
      ...github.comments.map((c) => c.body),
      ...world.cache.entries().map((e) => e.key),
    ].join('\n')
    const secrets = [PASSWORD, SESSION_KEY, SMTP_PASSWORD, GH_TOKEN]
    for (const s of secrets) {
      for (const form of [s, Buffer.from(s).toString('base64'), encodeURIComponent(s)])
        expect(text).not.toContain(form)
    }
  })
})

describe('a session made by the CLI', () => {
  it('`login` then `session export` on the laptop → the action restores it and signs in with zero SRP', async () => {
    const laptop = join(runner.root, 'laptop')
    const env = {
      ICLOUD_AUTH_ENDPOINT: world.icloud.authEndpoint,
      ICLOUD_SETUP_ENDPOINT: world.icloud.setupEndpoint,
    }
    const login = testIo({ interactive: true, env })
    const running = cli(['login', '-u', USER, '--password', PASSWORD, '--cookie-directory', laptop], login.io)
    await login.stderr.waitFor('Enter the 6-digit code: ')
    login.stdin.write(`${world.icloud.deviceCode(USER)}\n`)
    expect(await running, login.output()).toBe(0)
    const keyFile = join(laptop, 'key.txt')
    await writeFile(keyFile, SESSION_KEY)
    const exp = testIo({ env })
    const args = [
      'session',
      'export',
      '-u',
      USER,
      '--repo',
      'octo/photos-backup',
      '--cookie-directory',
      laptop,
    ]
    expect(await cli([...args, '--key-file', keyFile, '--out', laptop], exp.io), exp.output()).toBe(0)
    const blob = await readFile(join(laptop, 'ICLOUD_SESSION.octo-photos-backup.txt'), 'utf8')

    // A runner whose cache has nothing for this key: the action must take the exported blob.
    const fresh = await createRunner()
    try {
      const srp = world.icloud.srpAttempts()
      await mkdir(join(fresh.workspace, '.github'), { recursive: true })
      await writeFile(
        join(fresh.workspace, '.github/icloud-photos.yml'),
        `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n`,
      )
      const r = await fresh.step(
        'main',
        { config: '.github/icloud-photos.yml', session: blob, 'session-key': SESSION_KEY, mode: 'check' },
        { ...world.env, RUNNER_TEMP: fresh.runnerTemp, ACTIONS_CACHE_MODE: 'none' },
      )
      expect(r.code, r.stdout).toBe(0)
      expect(r.stdout).toContain('Session restored from the `session` input')
      expect(world.icloud.srpAttempts()).toBe(srp)
      expect(Number(r.outputs['days-remaining'])).toBeGreaterThanOrEqual(29)
    } finally {
      await fresh.cleanup()
    }
  })
})

describe('configuration errors in the bundled action', () => {
  it('validate-config reports file:line for a typo and fails before any network call', async () => {
    const r2 = await createRunner()
    try {
      await mkdir(join(r2.workspace, '.github'), { recursive: true })
      await writeFile(
        join(r2.workspace, '.github/icloud-photos.yml'),
        `account:\n  username: ${USER}\nphotos:\n  thraeds: 4\n`,
      )
      const before = world.icloud.server.log.length
      const r = await r2.step('main', { config: '.github/icloud-photos.yml', mode: 'sync' }, env())
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(
        /::error file=\.github\/icloud-photos\.yml,line=4,.*thraeds.*did you mean `threads`/,
      )
      expect(world.icloud.server.log.length).toBe(before)
    } finally {
      await r2.cleanup()
    }
  })
})
