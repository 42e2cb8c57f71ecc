// The sign-in flow against the protocol-faithful fake iCloud, with the real undici + tough-cookie.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFakeICloud, type FakeICloud } from '../sim/icloud/index.js'
import { authenticate, type AuthenticateOptions } from '../src/icloud/auth.js'
import type { Endpoints } from '../src/icloud/endpoints.js'
import { AppError } from '../src/core/errors.js'
import { sessionPaths } from '../src/icloud/session-store.js'
import type { MfaAnswer, MfaChallenge, MfaProvider, PasswordProvider } from '../src/icloud/ports.js'

const USER = 'jdoe@example.com'
const PASSWORD = 'correct horse battery staple'
const DAY = 86_400_000

let fake: FakeICloud
let dir: string
const logs: string[] = []
const log = {
  info: (m: string) => logs.push(`info ${m}`),
  warning: (m: string) => logs.push(`warning ${m}`),
  debug: (m: string) => logs.push(`debug ${m}`),
}

beforeEach(async () => {
  fake = await startFakeICloud()
  fake.addAccount({ appleId: USER, password: PASSWORD })
  dir = await mkdtemp(join(tmpdir(), 'auth-test-'))
  logs.length = 0
})
afterEach(async () => {
  await fake.close()
  await rm(dir, { recursive: true, force: true })
})

function endpoints(f: FakeICloud = fake, domain: 'com' | 'cn' = 'com'): Endpoints {
  const home = domain === 'cn' ? 'https://www.icloud.com.cn' : 'https://www.icloud.com'
  return { domain, auth: f.authEndpoint, authRoot: f.url, home, setup: f.setupEndpoint }
}

const password = (value = PASSWORD): PasswordProvider => ({ name: 'parameter', get: async () => value })

/** Reads the code the fake pushed to the "trusted device", like a person looking at their phone. */
function deviceMfa(f: FakeICloud, appleId = USER, wrongFirst = 0): MfaProvider & { asked: MfaChallenge[] } {
  const asked: MfaChallenge[] = []
  return {
    name: 'console',
    interactive: true,
    asked,
    async ask(c): Promise<MfaAnswer> {
      asked.push(c)
      if (asked.length <= wrongFirst)
        return { kind: 'code', code: '000000' === f.deviceCode(appleId) ? '111111' : '000000' }
      const code = f.deviceCode(appleId)
      if (!code) throw new Error('no code was pushed before the prompt')
      return { kind: 'code', code }
    },
  }
}

function smsMfa(f: FakeICloud, appleId = USER): MfaProvider {
  let requested = false
  return {
    name: 'console',
    interactive: true,
    async ask(c): Promise<MfaAnswer> {
      if (!requested) {
        requested = true
        return { kind: 'sms', phoneId: c.phones[0]!.id }
      }
      return { kind: 'code', code: f.smsCode(appleId, c.phones[0]!.id)! }
    },
  }
}

function opts(over: Partial<AuthenticateOptions> = {}): AuthenticateOptions {
  return {
    username: USER,
    cookieDirectory: dir,
    endpoints: endpoints(),
    passwordProviders: [password()],
    mfa: deviceMfa(fake),
    log,
    ...over,
  }
}

async function signInOnce(over: Partial<AuthenticateOptions> = {}) {
  const r = await authenticate(opts(over))
  await r.session.close()
  return r
}

async function expectCode(p: Promise<unknown>, code: string): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AppError)
  expect((err as AppError).code).toBe(code)
  return err as AppError
}

describe('fresh sign-in', () => {
  it('signs in with SRP and the trusted-device code, then trusts the session', async () => {
    const mfa = deviceMfa(fake)
    const r = await signInOnce({ mfa })
    expect(r.method).toBe('srp')
    expect(fake.srpAttempts()).toBe(1)
    expect(mfa.asked).toHaveLength(1)
    // The push was triggered before the prompt (Apple's 2026 behaviour) and trust was requested.
    const order = fake.server.log.map((e) => `${e.method} ${e.endpoint}`)
    expect(order.indexOf('PUT auth:verify/trusteddevice/securitycode')).toBeGreaterThan(-1)
    expect(order.indexOf('PUT auth:verify/trusteddevice/securitycode')).toBeLessThan(
      order.indexOf('POST auth:verify/trusteddevice/securitycode'),
    )
    expect(fake.count('auth:2sv/trust')).toBe(1)
    expect(r.account.dsid).toMatch(/^\d+$/)
    expect(r.account.webservices.ckdatabasews).toBe(fake.ckdatabaseUrl)
    // Trust estimate from the cookies: about 30 days.
    expect(r.trust.trusted).toBe(true)
    expect(r.trust.daysRemaining).toBeGreaterThanOrEqual(29)
    expect(r.trust.daysRemaining).toBeLessThanOrEqual(30)
    // The pyicloud files exist with the session and trust tokens.
    const p = sessionPaths(dir, USER)
    const data = JSON.parse(await readFile(p.sessionPath, 'utf8')) as Record<string, string>
    expect(data.session_token).toBeTruthy()
    expect(data.trust_token).toBeTruthy()
    expect(data.client_id).toMatch(/^auth-[0-9a-f-]{36}$/)
    expect(await readFile(p.jarPath, 'utf8')).toMatch(/^#LWP-Cookies-2.0\nSet-Cookie3: /)
  })

  it('pre-2026 flow: the trigger answers 404, the code pushed at sign-in is asked for and accepted', async () => {
    fake.twoFactorFlow = 'pre-2026'
    const mfa = deviceMfa(fake)
    const r = await signInOnce({ mfa })
    expect(r.method).toBe('srp')
    expect(mfa.asked).toHaveLength(1)
    const trigger = fake.server.log.find(
      (e) => e.method === 'PUT' && e.endpoint === 'auth:verify/trusteddevice/securitycode',
    )
    expect(trigger?.status).toBe(404)
    expect(fake.count('auth:')).toBe(1) // the options were still read
    expect(fake.count('auth:2sv/trust')).toBe(1)
    expect(r.trust.trusted).toBe(true)
    expect(logs.some((l) => l.startsWith('debug ') && l.includes('HTTP 404'))).toBe(true)
  })

  it('any refusal of the trigger (500, malformed) is survived the same way', async () => {
    fake.twoFactorFlow = 'pre-2026'
    // The 404 route is replaced by a 500 for the one PUT; the POST of the code is not touched.
    fake.inject('auth:verify/trusteddevice/securitycode', { status: 500, body: 'oops', times: 1 })
    const r = await signInOnce()
    expect(r.method).toBe('srp')
    expect(r.trust.trusted).toBe(true)
  })

  it('signs in with an SMS code when the provider asks for one', async () => {
    const r = await signInOnce({ mfa: smsMfa(fake) })
    expect(r.method).toBe('srp')
    expect(fake.count('auth:verify/phone')).toBe(1)
    expect(fake.count('auth:verify/phone/securitycode')).toBe(1)
    expect(r.trust.trusted).toBe(true)
  })

  it('works for an s2k_fo account', async () => {
    fake.addAccount({ appleId: 'fo@example.com', password: 'pässwörd', protocol: 's2k_fo' })
    const r = await signInOnce({
      username: 'fo@example.com',
      passwordProviders: [password('pässwörd')],
      mfa: deviceMfa(fake, 'fo@example.com'),
    })
    expect(r.method).toBe('srp')
  })

  it('works against a cn-domain account', async () => {
    const cn = await startFakeICloud({ domain: 'cn' })
    try {
      cn.addAccount({ appleId: USER, password: PASSWORD })
      const r = await authenticate(opts({ endpoints: endpoints(cn, 'cn'), mfa: deviceMfa(cn) }))
      await r.session.close()
      expect(r.method).toBe('srp')
      expect(r.account.webservices.ckdatabasews).toBe(cn.ckdatabaseUrl)
    } finally {
      await cn.close()
    }
  })

  it('asks again after a wrong code and succeeds with the right one', async () => {
    const mfa = deviceMfa(fake, USER, 1)
    const r = await signInOnce({ mfa })
    expect(r.method).toBe('srp')
    expect(mfa.asked.map((a) => a.attempt)).toEqual([1, 2])
    expect(mfa.asked[1]!.previousError).toMatch(/Incorrect/)
  })
})

describe('reusing the session', () => {
  it('a second run with the saved session makes zero SRP calls', async () => {
    await signInOnce()
    const before = fake.srpAttempts()
    const r = await signInOnce({ passwordProviders: [], mfa: undefined })
    expect(r.method).toBe('validate')
    expect(fake.srpAttempts()).toBe(before)
    expect(fake.count('auth:signin/init')).toBe(1)
  })

  it('falls back to accountLogin with the trust token when the web session is gone, still without SRP', async () => {
    await signInOnce()
    fake.revokeWebSessions(USER)
    const r = await signInOnce({ passwordProviders: [], mfa: undefined })
    expect(r.method).toBe('token')
    expect(fake.srpAttempts()).toBe(1)
  })

  it('an expired trust with no MFA provider ends promptly with MFA_REQUIRED and exactly one SRP', async () => {
    await signInOnce()
    const pushes = fake.count('auth:verify/trusteddevice/securitycode')
    fake.clock.advance(31 * DAY)
    const err = await expectCode(signInOnce({ mfa: undefined }), 'MFA_REQUIRED')
    expect(err.remediation).toMatch(/session export/)
    expect(fake.srpAttempts()).toBe(2) // one per run
    // Nobody can answer here, so no code is pushed to the owner's devices.
    expect(fake.count('auth:verify/trusteddevice/securitycode')).toBe(pushes)
  })

  it("reuses a session in icloudpd's file format without SRP", async () => {
    // Sign in once to have live server-side tokens, then rewrite the files the way icloudpd would
    // (its key order, its separators, our cookies) and check a fresh process picks them up.
    await signInOnce()
    const p = sessionPaths(dir, USER)
    const data = JSON.parse(await readFile(p.sessionPath, 'utf8')) as Record<string, string>
    const icloudpdOrder = [
      'client_id',
      'session_token',
      'trust_token',
      'scnt',
      'session_id',
      'account_country',
      'trust_eligible',
    ]
    const py = `{${icloudpdOrder
      .filter((k) => data[k])
      .map((k) => `${JSON.stringify(k)}: ${JSON.stringify(data[k])}`)
      .join(', ')}}`
    const other = await mkdtemp(join(tmpdir(), 'auth-icloudpd-'))
    try {
      const q = sessionPaths(other, USER)
      await writeFile(q.sessionPath, py, { mode: 0o600 })
      await copyFile(p.jarPath, q.jarPath)
      const r = await signInOnce({ cookieDirectory: other, passwordProviders: [], mfa: undefined })
      expect(r.method).toBe('validate')
      expect(fake.srpAttempts()).toBe(1)
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })

  it('moves an unreadable session aside, warns, and signs in fresh with one SRP', async () => {
    const p = sessionPaths(dir, USER)
    await writeFile(p.sessionPath, '{"client_id": "auth-x", broken', { mode: 0o600 })
    const r = await signInOnce()
    expect(r.method).toBe('srp')
    expect(r.movedAside?.length).toBeGreaterThan(0)
    expect(logs.some((l) => l.startsWith('warning') && l.includes('moved aside'))).toBe(true)
    const names = await readdir(dir)
    expect(names.some((n) => n.includes('.broken-'))).toBe(true)
  })
})

describe('a session Apple rejects twice', () => {
  it('is moved aside with a warning, and one SRP with the kept trust token signs in without a code', async () => {
    await signInOnce()
    const pushes = fake.count('auth:verify/trusteddevice/securitycode')
    fake.inject('setup:validate', { status: 421 })
    fake.inject('setup:accountLogin', { status: 421 })
    const r = await signInOnce({ mfa: undefined })
    expect(r.method).toBe('srp')
    expect(fake.srpAttempts()).toBe(2)
    expect(fake.count('auth:verify/trusteddevice/securitycode')).toBe(pushes) // trust token honoured
    expect(r.movedAside?.length).toBe(2)
    expect(logs.some((l) => l.startsWith('warning') && l.includes('rejected the stored session twice'))).toBe(
      true,
    )
    const names = await readdir(dir)
    expect(names.filter((n) => n.includes('.broken-'))).toHaveLength(2)
    // The fresh session was written in place of the old one and works on the next run.
    const next = await signInOnce({ passwordProviders: [], mfa: undefined })
    expect(next.method).toBe('validate')
  })
})

describe('failures map to typed errors', () => {
  it('wrong password → BAD_PASSWORD, one attempt, no secret in the message', async () => {
    const err = await expectCode(
      signInOnce({ passwordProviders: [password('wrong password!')] }),
      'BAD_PASSWORD',
    )
    expect(fake.srpAttempts()).toBe(1)
    expect(err.describe()).not.toContain('wrong password!')
  })

  it('no password from any provider → NO_PASSWORD, and no SRP at all', async () => {
    await expectCode(
      signInOnce({ passwordProviders: [{ name: 'env', get: async () => undefined }] }),
      'NO_PASSWORD',
    )
    expect(fake.count('auth:signin/init')).toBe(0)
  })

  it('403 at signin/complete → ACCOUNT_LOCKED', async () => {
    fake.inject('auth:signin/complete', { status: 403, body: '{}' })
    await expectCode(signInOnce(), 'ACCOUNT_LOCKED')
  })

  it('lock-out after repeated SRP failures → ACCOUNT_LOCKED on a later run', async () => {
    fake.addAccount({ appleId: 'lock@example.com', password: PASSWORD, lockAfterFailures: 2 })
    const bad = { username: 'lock@example.com', passwordProviders: [password('nope')] }
    await expectCode(signInOnce(bad), 'BAD_PASSWORD')
    await expectCode(signInOnce(bad), 'BAD_PASSWORD')
    await expectCode(signInOnce(bad), 'ACCOUNT_LOCKED')
  })

  it('security keys (fsaChallenge/keyNames in the 409) → SECURITY_KEY_UNSUPPORTED naming the keys', async () => {
    fake.addAccount({ appleId: 'fido@example.com', password: PASSWORD, securityKeys: ['YubiKey 5C'] })
    const err = await expectCode(signInOnce({ username: 'fido@example.com' }), 'SECURITY_KEY_UNSUPPORTED')
    expect(err.message).toContain('YubiKey 5C')
  })

  it('412 with a successful repair signs in; a failed repair → REPAIR_REQUIRED', async () => {
    fake.addAccount({ appleId: 'ok-repair@example.com', password: PASSWORD, repair: 'succeeds' })
    const r = await signInOnce({
      username: 'ok-repair@example.com',
      mfa: deviceMfa(fake, 'ok-repair@example.com'),
    })
    expect(fake.count('auth:repair/complete')).toBe(1)
    expect(r.session).toBeTruthy()
    fake.addAccount({ appleId: 'bad-repair@example.com', password: PASSWORD, repair: 'fails' })
    await expectCode(signInOnce({ username: 'bad-repair@example.com' }), 'REPAIR_REQUIRED')
  })

  it('web access off or ADP → ADP_OR_WEB_ACCESS_DISABLED', async () => {
    fake.addAccount({ appleId: 'adp@example.com', password: PASSWORD, iCDPEnabled: true })
    await expectCode(
      signInOnce({ username: 'adp@example.com', mfa: deviceMfa(fake, 'adp@example.com') }),
      'ADP_OR_WEB_ACCESS_DISABLED',
    )
    fake.addAccount({ appleId: 'web@example.com', password: PASSWORD, isWebAccessAllowed: false })
    await expectCode(
      signInOnce({ username: 'web@example.com', mfa: deviceMfa(fake, 'web@example.com') }),
      'ADP_OR_WEB_ACCESS_DISABLED',
    )
  })

  it('domainToUse → WRONG_DOMAIN naming the domain setting', async () => {
    fake.addAccount({ appleId: 'cn@example.com', password: PASSWORD, domainToUse: 'iCloud.com.cn' })
    const err = await expectCode(
      signInOnce({ username: 'cn@example.com', mfa: deviceMfa(fake, 'cn@example.com') }),
      'WRONG_DOMAIN',
    )
    expect(err.remediation).toContain('domain: cn')
  })

  it('421 and 450 from accountLogin never lead to a second SRP', async () => {
    for (const status of [421, 450]) {
      const f = await startFakeICloud()
      try {
        f.addAccount({ appleId: USER, password: PASSWORD })
        f.inject('setup:accountLogin', { status, times: Infinity })
        const r = authenticate(opts({ endpoints: endpoints(f), mfa: deviceMfa(f) }))
        await expectCode(r, 'SESSION_INVALID')
        expect(f.srpAttempts()).toBe(1)
      } finally {
        await f.close()
      }
    }
  })

  it('503 at signin/complete → THROTTLED without a retry storm', async () => {
    fake.inject('auth:signin/complete', { status: 503, headers: { 'Retry-After': '120' }, times: Infinity })
    const err = await expectCode(signInOnce(), 'THROTTLED')
    expect(err.retryAfter).toBe(120)
    expect(fake.count('auth:signin/complete')).toBe(1)
  })

  it('503 at signin/init is retried once after Retry-After, then succeeds', async () => {
    fake.inject('auth:signin/init', { status: 503, headers: { 'Retry-After': '1' } })
    const r = await signInOnce()
    expect(fake.count('auth:signin/init')).toBe(2)
    expect(r.method).toBe('srp')
  })

  it('a persistent 503 at signin/init stops after one retry', async () => {
    fake.inject('auth:signin/init', { status: 503, headers: { 'Retry-After': '1' }, times: Infinity })
    await expectCode(signInOnce(), 'THROTTLED')
    expect(fake.count('auth:signin/init')).toBe(2)
  })

  it('401 at signin/init is not a wrong password', async () => {
    fake.inject('auth:signin/init', { status: 401 })
    await expectCode(signInOnce(), 'SRP_INIT_REJECTED')
  })

  it('a connection reset → NETWORK', async () => {
    fake.inject('auth:signin/init', { reset: true })
    await expectCode(signInOnce(), 'NETWORK')
  })

  it('malformed JSON → PROTOCOL_ERROR', async () => {
    fake.inject('auth:signin/init', { malformedJson: true })
    await expectCode(signInOnce(), 'PROTOCOL_ERROR')
  })

  it('too many wrong codes → MFA_FAILED after three attempts', async () => {
    const mfa = deviceMfa(fake, USER, 99)
    await expectCode(signInOnce({ mfa }), 'MFA_FAILED')
    expect(mfa.asked).toHaveLength(3)
  })

  it('secrets never appear in log lines or error messages', async () => {
    await signInOnce()
    await expectCode(
      signInOnce({ passwordProviders: [password('wrong')], mfa: undefined, cookieDirectory: join(dir, 'x') }),
      'MFA_REQUIRED',
    ).catch(() => undefined)
    const data = JSON.parse(await readFile(sessionPaths(dir, USER).sessionPath, 'utf8')) as Record<
      string,
      string
    >
    const text = logs.join('\n')
    for (const secret of [PASSWORD, data.session_token!, data.trust_token!]) {
      expect(text).not.toContain(secret)
      expect(text).not.toContain(Buffer.from(secret).toString('base64'))
    }
  })
})
