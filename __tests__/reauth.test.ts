// Re-authentication from a phone (`mfa-provider: github-issue`, `mode: reauth`): the provider
// in-process against the fake GitHub REST API with a virtual clock, then the bundled action end to
// end in a simulated runner against the fake iCloud, the fake Actions cache and the fake GitHub,
// where the test plays the person who reads the code off their phone and comments it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFakeGitHub, type FakeGitHub, type Permission } from '../sim/github-api.js'
import { createRunner, type Runner, type StepResult } from '../sim/runner-env.js'
import { laptopLoginAndExport, PASSWORD, SESSION_KEY, startWorld, USER, type World } from '../sim/world.js'
import { GitHubClient } from '../src/github/client.js'
import { issueMarker } from '../src/notify/github-issue.js'
import { maskAppleId } from '../src/notify/event.js'
import { isAppError } from '../src/core/errors.js'
import { formatWait } from '../src/notify/messages.js'
import { githubIssueMfa, parseReply, type GitHubIssueMfaOptions } from '../src/providers/github-issue-mfa.js'
import type { MfaChallenge } from '../src/icloud/ports.js'

const DAY = 86_400_000
const GH_TOKEN = 'ghs_reauthtoken0123456789abc'
const PERMISSIONS: Record<string, Permission> = {
  owner: 'admin',
  maint: 'maintain',
  dev: 'write',
  triager: 'triage',
  reader: 'read',
}
const MARKER = issueMarker('reauth-request', USER)
const PHONE = { id: 1, obfuscatedNumber: '(•••) •••-••81' }
const challenge = (over: Partial<MfaChallenge> = {}): MfaChallenge => ({
  username: USER,
  codeLength: 6,
  phones: [PHONE],
  attempt: 1,
  ...over,
})

/** Resolves once `cond` holds (polled; the child process runs meanwhile). */
async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('parseReply', () => {
  it.each([
    ['123456', '123456'],
    ['  123 456 ', '123456'],
    ['123-456', '123456'],
    ['Code: `042817` thanks', '042817'],
    ['> reply with the code\n481516', '481516'],
    ['481516\n481516', '481516'],
  ])('reads %j as a code', (body, code) => {
    expect(parseReply(body)).toEqual({ kind: 'code', code })
  })

  it.each([['1234567'], ['12345'], ['111111 and 222222'], ['> 123456'], ['ok'], ['12-34-56'], ['']])(
    'reads %j as no answer',
    (body) => {
      expect(parseReply(body)).toBeUndefined()
    },
  )

  it('reads an SMS request, with or without a phone id', () => {
    expect(parseReply('sms')).toEqual({ kind: 'sms' })
    expect(parseReply('SMS 2')).toEqual({ kind: 'sms', phoneId: 2 })
    expect(parseReply('sms:3')).toEqual({ kind: 'sms', phoneId: 3 })
    expect(parseReply('send an sms please')).toBeUndefined()
  })

  it('formats waits for people', () => {
    expect(formatWait(600_000)).toBe('10 minutes')
    expect(formatWait(60_000)).toBe('1 minute')
    expect(formatWait(6_000)).toBe('6 seconds')
    expect(formatWait(90_000)).toBe('1 minute 30 seconds')
  })
})

describe('the github-issue MFA provider (virtual clock)', () => {
  let gh: FakeGitHub
  let logs: string[]
  let secrets: string[]
  let t: number
  let sleeps: number[]
  /** Run after the n-th sleep: what the person does meanwhile. */
  let script: Array<(() => unknown) | undefined>

  beforeEach(async () => {
    gh = await startFakeGitHub({ token: GH_TOKEN, permissions: PERMISSIONS })
    logs = []
    secrets = []
    t = Date.parse('2026-03-01T10:00:00Z')
    sleeps = []
    script = []
  })
  afterEach(async () => {
    await gh.close()
  })

  function provider(over: Partial<GitHubIssueMfaOptions> = {}) {
    return githubIssueMfa({
      client: new GitHubClient({ token: GH_TOKEN, repository: gh.repository, apiUrl: gh.url, retries: 0 }),
      username: USER,
      labels: ['backup'],
      timeoutMs: 60_000,
      pollMs: 10_000,
      runUrl: 'https://github.com/octo/photos/actions/runs/77',
      repository: gh.repository,
      log: {
        info: (m) => logs.push(`info: ${m}`),
        warning: (m) => logs.push(`warning: ${m}`),
        debug: (m) => logs.push(`debug: ${m}`),
      },
      registerSecret: (v) => secrets.push(v),
      now: () => t,
      sleep: async (ms) => {
        sleeps.push(ms)
        t += ms
        await script[sleeps.length]?.()
      },
      ...over,
    })
  }
  const reauthIssue = () => gh.issues.find((i) => i.body?.includes(MARKER))!
  const comment = (user: string, body: string) => () => gh.addComment(reauthIssue().number, user, body)
  const botComments = () => gh.comments.filter((c) => c.user.login === 'github-actions[bot]')
  const getRequests = (re: RegExp) => gh.requests.filter((r) => r.method === 'GET' && re.test(r.path))

  it('opens an issue with the instructions and returns the code a repository admin posts', async () => {
    script[2] = comment('owner', '123 456')
    const p = provider()
    const answer = await p.ask(challenge())
    expect(answer).toEqual({ kind: 'code', code: '123456' })
    // Registered as a secret the moment it was read, before the sign-in could print it.
    expect(secrets).toEqual(['123456'])
    expect(gh.issues).toHaveLength(1)
    const issue = reauthIssue()
    expect(issue.title).toContain(maskAppleId(USER))
    expect(issue.labels.map((l) => l.name).sort()).toEqual(['backup', 'icloud-photos'])
    const body = issue.body!
    for (const text of [
      maskAppleId(USER),
      '6-digit code',
      'write, maintain or admin',
      'waits 1 minute',
      'cannot sign in',
      '`sms 1`',
      PHONE.obfuscatedNumber,
      'public repository',
      'https://github.com/octo/photos/actions/runs/77',
    ])
      expect(body).toContain(text)
    expect(body).not.toContain(USER)
    // The comment stays until the code was submitted: done() is when it is used.
    expect(gh.comments.some((c) => c.body === '123 456')).toBe(true)
    await p.done(true)
    expect(gh.comments.some((c) => c.body === '123 456')).toBe(false)
    expect(gh.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1)
    expect(issue.state).toBe('closed')
    expect(issue.state_reason).toBe('completed')
    expect(botComments().at(-1)!.body).toMatch(/trusted again/)
    expect(logs.join('\n')).not.toMatch(/123 ?456/)
  })

  it('ignores comments from users without write permission and logs only their names', async () => {
    script[1] = comment('reader', 'here it is 654321 note-xyz')
    script[2] = () => {
      gh.addComment(reauthIssue().number, 'triager', '111111')
      gh.addComment(reauthIssue().number, 'reader', '654322')
    }
    script[3] = comment('maint', '222 222')
    const answer = await provider().ask(challenge())
    expect(answer).toEqual({ kind: 'code', code: '222222' })
    const log = logs.join('\n')
    expect(log).toMatch(/@reader: their permission on the repository is read/)
    expect(log).toMatch(/@triager: their permission on the repository is triage/)
    for (const text of ['note-xyz', '654321', '654322', '111111', '222222', '222 222'])
      expect(log).not.toContain(text)
    // Only a writer's code was registered; each user's permission was asked once.
    expect(secrets).toEqual(['222222'])
    expect(getRequests(/\/collaborators\/reader\/permission$/)).toHaveLength(1)
  })

  it('after a wrong code: deletes it, says so on the issue and waits for the newest code', async () => {
    script[1] = comment('dev', '111111')
    const p = provider()
    expect(await p.ask(challenge())).toEqual({ kind: 'code', code: '111111' })
    script[2] = comment('dev', '222222')
    const second = await p.ask(challenge({ attempt: 2, previousError: 'Incorrect verification code.' }))
    expect(second).toEqual({ kind: 'code', code: '222222' })
    expect(gh.comments.some((c) => c.body === '111111')).toBe(false)
    expect(botComments().at(-1)!.body).toMatch(
      /That code was not accepted \(Incorrect verification code\)\. Send the newest code.*attempt 2 of 3/,
    )
    await p.done(true)
    expect(gh.comments.some((c) => /^\d{6}$/.test(c.body))).toBe(false)
    expect(secrets).toEqual(['111111', '222222'])
  })

  it('asks again on an issue a previous run left open and ignores the codes posted before', async () => {
    const old = gh.seedIssue({ title: 'old request', body: `${MARKER}\nold`, labels: ['icloud-photos'] })
    gh.addComment(old.number, 'owner', '999999')
    script[1] = comment('owner', '333333')
    expect(await provider().ask(challenge())).toEqual({ kind: 'code', code: '333333' })
    expect(gh.issues).toHaveLength(1)
    expect(botComments()).toHaveLength(1)
    expect(botComments()[0]!.body).toMatch(/earlier codes no longer work/)
    expect(secrets).toEqual(['333333'])
  })

  it('times out with MFA_REQUIRED, leaving the issue open with what to do', async () => {
    const p = provider()
    const err = await p.ask(challenge()).catch((e: unknown) => e)
    expect(isAppError(err, 'MFA_REQUIRED')).toBe(true)
    if (!isAppError(err)) return
    expect(err.message).toMatch(
      /No verification code was posted on issue #1 within 1 minute; the issue stays open/,
    )
    expect(err.remediation).toMatch(/re-auth workflow again/)
    expect(err.remediation).toMatch(/session export/)
    expect(reauthIssue().state).toBe('open')
    expect(botComments().at(-1)!.body).toMatch(
      /No code arrived within 1 minute.*\n\n.*run the re-auth workflow again/,
    )
    // Polled every 10 s of virtual time until the minute was up, without waiting for real.
    expect(sleeps).toEqual([10_000, 10_000, 10_000, 10_000, 10_000, 10_000])
    expect(getRequests(/\/issues\/1\/comments$/)).toHaveLength(6)
  })

  it('an `sms` reply asks Apple for a text, then the code from the text is awaited', async () => {
    script[1] = comment('owner', 'sms')
    const p = provider()
    expect(await p.ask(challenge())).toEqual({ kind: 'sms', phoneId: 1 })
    script[2] = comment('owner', '424242')
    expect(await p.ask(challenge())).toEqual({ kind: 'code', code: '424242' })
    expect(botComments().at(-1)!.body).toContain(
      `Apple sent the code by text message to ${PHONE.obfuscatedNumber}`,
    )
  })

  it('a GitHub 5xx while polling costs one poll; a token that cannot write issues stops with a clear error', async () => {
    gh.inject({ method: 'GET', path: /\/comments$/, status: 502 })
    script[2] = comment('owner', '515151')
    expect(await provider().ask(challenge())).toEqual({ kind: 'code', code: '515151' })
    expect(logs.join('\n')).toMatch(/warning: Reading issue #1 failed .*502.*trying again/)

    gh.setReadOnly(true)
    gh.issues[0]!.state = 'closed'
    const err = await provider()
      .ask(challenge())
      .catch((e: unknown) => e)
    expect(isAppError(err, 'MFA_REQUIRED')).toBe(true)
    expect((err as Error).message).toMatch(/403/)
    expect(isAppError(err) && err.remediation).toMatch(/permissions: issues: write/)
  })
})

// ─── The bundled action, end to end ───────────────────────────────────────────────────────────

let world: World
let runner: Runner
let github: FakeGitHub
const captured: string[] = []
const codes: string[] = []

async function writeConfig(o: { mfa?: string; timeoutMinutes?: number } = {}): Promise<void> {
  await mkdir(join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:
  username: ${USER}
auth:
  password-providers: [parameter]
  mfa-provider: ${o.mfa ?? 'none'}
  reauth-timeout-minutes: ${o.timeoutMinutes ?? 1}
  reauth-poll-seconds: 1
photos:
  folder-structure: none
  threads: 2
`,
  )
}

function inputs(over: Record<string, string> = {}): Record<string, string> {
  return {
    config: '.github/icloud-photos.yml',
    password: PASSWORD,
    session: '',
    'session-key': SESSION_KEY,
    'github-token': GH_TOKEN,
    mode: 'reauth',
    directory: join(runner.root, 'photos'),
    ...over,
  }
}

function env(): Record<string, string> {
  return { ...world.env, GITHUB_API_URL: github.url, RUNNER_TEMP: runner.runnerTemp }
}

function keep(r: { main: StepResult; post: StepResult }): { main: StepResult; post: StepResult } {
  for (const s of [r.main, r.post])
    captured.push(s.stdout, s.stderr, s.summary, JSON.stringify(s.outputs), JSON.stringify(s.state))
  return r
}

const openReauthIssue = () => github.issues.find((i) => i.state === 'open' && i.body?.includes(MARKER))
const submits = () =>
  world.icloud.server.log.filter(
    (r) => r.method === 'POST' && r.endpoint === 'auth:verify/trusteddevice/securitycode',
  ).length

/**
 * Starts a reauth job and resolves once the run has asked on the issue (opened it, or commented a
 * new request on an open one): from then on a comment counts, and Apple's code exists.
 */
async function startReauth(over: Record<string, string> = {}) {
  const writesBefore = github.writes().length
  const job = runner.job(inputs(over), env()).then(keep)
  await until(
    () =>
      github
        .writes()
        .slice(writesBefore)
        .some((w) => w.method === 'POST' && /\/issues(\/\d+\/comments)?$/.test(w.path)),
    'the request on the issue',
  )
  const issue = openReauthIssue()!
  const code = world.icloud.deviceCode(USER)!
  expect(code).toMatch(/^\d{6}$/)
  codes.push(code)
  return { job, issue, code }
}

function wrongCodeFor(code: string): string {
  const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0')
  codes.push(wrong)
  return wrong
}

describe('re-authentication with the bundled action', () => {
  let seedBlob = ''

  beforeAll(async () => {
    github = await startFakeGitHub({
      token: GH_TOKEN,
      owner: 'octo',
      repo: 'photos-backup',
      permissions: PERMISSIONS,
    })
    runner = await createRunner()
    world = await startWorld({ library: { count: 6 }, runnerTemp: runner.runnerTemp })
    await writeConfig()
    // A session made on the laptop 31 days ago: the 30-day trust has run out.
    world.icloud.clock.advance(-31 * DAY)
    const seed = await laptopLoginAndExport(world.icloud)
    world.icloud.clock.advance(31 * DAY)
    seedBlob = seed
  }, 60_000)

  afterAll(async () => {
    await world?.close()
    await github?.close()
    await runner?.cleanup()
  })

  it('happy path: the code commented by an admin renews the trust, the comment is deleted, the issue closed', async () => {
    // `mode: reauth` asks in an issue whatever the config says: here `mfa-provider: none`, as in
    // the example config the scheduled workflows use.
    const text = await readFile(join(runner.workspace, '.github/icloud-photos.yml'), 'utf8')
    expect(text).toMatch(/^ {2}mfa-provider: none$/m)
    const srpBefore = world.icloud.srpAttempts()
    const submitted = submits()
    const { job, issue, code } = await startReauth({ session: seedBlob })
    github.addComment(issue.number, 'owner', code)
    const r = await job
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.outputs.status).toBe('ok')
    expect(r.main.outputs['error-code']).toBe('')
    expect(Number(r.main.outputs['days-remaining'])).toBeGreaterThanOrEqual(29)
    expect(world.icloud.srpAttempts()).toBe(srpBefore + 1)
    expect(submits() - submitted).toBe(1)
    // The code is gone from the issue, and the issue closed with a success comment.
    expect(github.comments.some((c) => c.body.includes(code))).toBe(false)
    expect(
      github.requests.filter((q) => q.method === 'DELETE' && /\/issues\/comments\/\d+$/.test(q.path)),
    ).toHaveLength(1)
    expect(issue.state).toBe('closed')
    expect(github.comments.filter((c) => c.issue_number === issue.number).at(-1)!.body).toMatch(
      /trusted again/,
    )
    // The code was masked before anything could print it, and nothing printed it otherwise.
    expect(r.main.stdout).toContain(`::add-mask::${code}`)
    const printed = [r.main.stdout, r.post.stdout, r.main.summary, JSON.stringify(r.main.outputs)]
      .join('\n')
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n')
    expect(printed).not.toContain(code)
    // The post step saved the renewed session, encrypted, for the scheduled runs.
    const report = JSON.parse(await readFile(r.main.outputs.report!, 'utf8')) as {
      mode: string
      session: { method: string; srpAttempts: number }
    }
    expect(report.mode).toBe('reauth')
    expect(report.session).toMatchObject({ method: 'srp', srpAttempts: 1 })
    expect(r.post.code).toBe(0)
    expect(r.post.stdout).toContain('Session saved to the Actions cache')
  })

  it('the next scheduled run, on a fresh runner, restores the renewed session from the cache with zero SRP', async () => {
    await runner.nextRun()
    const srpBefore = world.icloud.srpAttempts()
    const r = keep(await runner.job(inputs({ mode: 'sync', session: seedBlob }), env()))
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.stdout).toContain('Session restored from the Actions cache')
    expect(world.icloud.srpAttempts()).toBe(srpBefore)
    expect(r.main.outputs.status).toBe('ok')
    expect(Number(r.main.outputs.downloaded)).toBeGreaterThan(0)
  })

  it('while the old trust still works (expiry warning), `mode: reauth` asks anyway and renews it', async () => {
    await runner.nextRun()
    world.icloud.clock.advance(25 * DAY)
    const before = world.icloud.trustExpiry(USER)!
    const { job, issue, code } = await startReauth({ session: seedBlob })
    github.addComment(issue.number, 'owner', code)
    const r = await job
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(world.icloud.trustExpiry(USER)!).toBeGreaterThanOrEqual(before + 25 * DAY)
    expect(Number(r.main.outputs['days-remaining'])).toBeGreaterThanOrEqual(29)
    expect(r.post.stdout).toContain('Session saved to the Actions cache')
  })

  it('a comment from a user without write permission is ignored (and logged by name)', async () => {
    await runner.nextRun()
    world.icloud.clock.advance(31 * DAY)
    const submitted = submits()
    const { job, issue, code } = await startReauth({ session: seedBlob })
    const permissionChecks = () =>
      github.requests.filter((q) => /\/collaborators\/reader\/permission$/.test(q.path)).length
    const reads = () =>
      github.requests.filter((q) => q.method === 'GET' && q.path.endsWith('/comments')).length
    github.addComment(issue.number, 'reader', `${code} from-the-reader`)
    await until(() => permissionChecks() === 1, 'the permission check')
    const readsAfter = reads()
    await until(() => reads() >= readsAfter + 2, 'two more polls')
    // The reader's (correct) code was not submitted.
    expect(submits()).toBe(submitted)
    github.addComment(issue.number, 'dev', code)
    const r = await job
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(submits() - submitted).toBe(1)
    expect(r.main.stdout).toMatch(
      /::warning::Ignored a comment on issue #\d+ by @reader: their permission on the repository is read/,
    )
    expect(r.main.stdout).not.toContain('from-the-reader')
    expect(issue.state).toBe('closed')
  })

  it('pre-2026 2FA flow (the push trigger answers 404): the code pushed at sign-in renews the trust', async () => {
    await runner.nextRun()
    world.icloud.clock.advance(31 * DAY)
    world.icloud.twoFactorFlow = 'pre-2026'
    try {
      const logFrom = world.icloud.server.log.length
      const submitted = submits()
      const { job, issue, code } = await startReauth({ session: seedBlob })
      github.addComment(issue.number, 'owner', code)
      const r = await job
      expect(r.main.code, r.main.stdout).toBe(0)
      expect(r.main.outputs.status).toBe('ok')
      expect(Number(r.main.outputs['days-remaining'])).toBeGreaterThanOrEqual(29)
      expect(submits() - submitted).toBe(1)
      const trigger = world.icloud.server.log
        .slice(logFrom)
        .find((e) => e.method === 'PUT' && e.endpoint === 'auth:verify/trusteddevice/securitycode')
      expect(trigger?.status).toBe(404)
      expect(issue.state).toBe('closed')
      expect(r.post.stdout).toContain('Session saved to the Actions cache')
    } finally {
      world.icloud.twoFactorFlow = '2026'
    }
  })

  it('a wrong code, then the right one: the issue says it was not accepted, then the run succeeds', async () => {
    await runner.nextRun()
    world.icloud.clock.advance(31 * DAY)
    const submitted = submits()
    const { job, issue, code } = await startReauth({ session: seedBlob })
    const before = github.comments.length
    github.addComment(issue.number, 'dev', wrongCodeFor(code))
    await until(
      () => github.comments.slice(before).some((c) => /That code was not accepted/.test(c.body)),
      'the "not accepted" comment',
    )
    github.addComment(issue.number, 'dev', code)
    const r = await job
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.outputs.status).toBe('ok')
    expect(submits() - submitted).toBe(2)
    // Both codes were deleted after use.
    expect(github.comments.filter((c) => /^\d{6}$/.test(c.body))).toEqual([])
    expect(issue.state).toBe('closed')
  })

  it('nobody answers: a clear failure within the configured timeout, the issue left open', async () => {
    await runner.nextRun()
    world.icloud.clock.advance(31 * DAY)
    await writeConfig({ timeoutMinutes: 0.1 })
    const entries = world.cache.entries().length
    const { job, issue } = await startReauth({ session: seedBlob })
    const r = await job
    expect(r.main.code).toBe(1)
    expect(r.main.outputs['error-code']).toBe('MFA_REQUIRED')
    const errors = r.main.stdout.split('\n').filter((l) => l.startsWith('::error'))
    expect(errors, r.main.stdout).toHaveLength(1)
    expect(errors[0]).toMatch(
      /No verification code was posted on issue #\d+ within 6 seconds; the issue stays open/,
    )
    expect(errors[0]).toMatch(/Run the re-auth workflow again/)
    expect(issue.state).toBe('open')
    expect(github.comments.filter((c) => c.issue_number === issue.number).at(-1)!.body).toMatch(
      /No code arrived within 6 seconds/,
    )
    // The stored session was left as it was: nothing new went to the cache.
    expect(world.cache.entries().length).toBe(entries)
    await writeConfig()
  })

  it('`mode: reauth` without a token fails before signing in', async () => {
    const logBefore = world.icloud.server.log.length
    await writeConfig()
    const noToken = keep(await runner.job(inputs({ 'github-token': '' }), env()))
    expect(noToken.main.code).toBe(1)
    expect(noToken.main.outputs['error-code']).toBe('CONFIG_INVALID')
    expect(noToken.main.stdout).toMatch(
      /::error::.*needs the `github-token` input.*permissions: issues: write/,
    )
    expect(world.icloud.server.log.length).toBe(logBefore)
  })

  it('no password, key, token or code appears in anything captured', () => {
    const all = captured.join('\n')
    for (const s of [PASSWORD, SESSION_KEY, GH_TOKEN]) expect(all).toContain(`::add-mask::${s}`)
    const text = [
      ...captured.map((c) =>
        c
          .split('\n')
          .filter((l) => !l.startsWith('::add-mask::'))
          .join('\n'),
      ),
      ...github.issues.map((i) => `${i.title}\n${i.body}`),
      ...github.comments.filter((c) => c.user.login === 'github-actions[bot]').map((c) => c.body),
      ...world.cache.entries().map((e) => e.key),
    ].join('\n')
    expect(codes.length).toBeGreaterThanOrEqual(5)
    for (const s of [PASSWORD, SESSION_KEY, GH_TOKEN, ...codes]) {
      for (const form of [s, Buffer.from(s).toString('base64'), encodeURIComponent(s)])
        expect(text, s).not.toContain(form)
    }
  })
})
