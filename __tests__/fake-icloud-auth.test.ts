/**
 * The fake iCloud's auth and setup side, driven the way a client drives Apple: raw undici requests,
 * a tough-cookie jar, and the real SRP client math. These tests pin down the fake's strictness so
 * the client tests that rely on it are meaningful.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { Cookie, CookieJar } from 'tough-cookie'
import { computeClientProof, createClientEphemeral, type SrpProtocol } from '../src/icloud/srp.js'
import { startFakeICloud, WIDGET_KEY, type FakeICloud } from '../sim/icloud/index.js'

const HOME = 'https://www.icloud.com'
const DAY = 86_400_000

interface Res {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  header(name: string): string | undefined
  json(): Record<string, unknown>
  cookies: string[]
}

/**
 * A minimal icloudpd-like client: keeps the jar and the persisted headers (docs/protocol.md §2) between
 * calls.
 */
class Client {
  readonly jar = new CookieJar()
  scnt?: string
  sessionId?: string
  sessionToken?: string
  trustToken?: string
  accountCountry?: string
  clientId = 'auth-6c1f0f9e-8a51-11f0-9d7e-0242ac120002'

  constructor(readonly fake: FakeICloud) {}

  authHeaders(origin = HOME, extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = {
      origin,
      referer: `${origin}/`,
      accept: 'application/json, text/javascript',
      'content-type': 'application/json',
      'x-apple-oauth-client-id': WIDGET_KEY,
      'x-apple-widget-key': WIDGET_KEY,
      'x-apple-oauth-client-type': 'firstPartyAuth',
      'x-apple-oauth-redirect-uri': HOME,
      'x-apple-oauth-require-grant-code': 'true',
      'x-apple-oauth-response-mode': 'web_message',
      'x-apple-oauth-response-type': 'code',
      'x-apple-oauth-state': this.clientId,
    }
    if (this.scnt) h.scnt = this.scnt
    if (this.sessionId) h['x-apple-id-session-id'] = this.sessionId
    return { ...h, ...extra }
  }

  async send(
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<Res> {
    const cookie = await this.jar.getCookieString(url)
    const r = await request(url, { method, headers: cookie ? { ...headers, cookie } : headers, body })
    const text = await r.body.text()
    const raw = r.headers['set-cookie']
    const cookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
    for (const c of cookies) await this.jar.setCookie(c, url)
    const header = (n: string): string | undefined => {
      const v = r.headers[n.toLowerCase()]
      return Array.isArray(v) ? v[0] : v
    }
    // Persist like icloudpd: from every response, when present.
    this.scnt = header('scnt') ?? this.scnt
    this.sessionId = header('x-apple-id-session-id') ?? this.sessionId
    this.sessionToken = header('x-apple-session-token') ?? this.sessionToken
    this.trustToken = header('x-apple-twosv-trust-token') ?? this.trustToken
    this.accountCountry = header('x-apple-id-account-country') ?? this.accountCountry
    return {
      status: r.statusCode,
      headers: r.headers as Res['headers'],
      text,
      header,
      json: () => JSON.parse(text) as Record<string, unknown>,
      cookies,
    }
  }

  auth(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<Res> {
    const headers = this.authHeaders(HOME, extra)
    if (body === undefined) delete headers['content-type']
    return this.send(
      method,
      `${this.fake.authEndpoint}${path}`,
      headers,
      body === undefined ? undefined : JSON.stringify(body),
    )
  }

  init(accountName: string, protocols = ['s2k', 's2k_fo'], aPrivate?: Buffer) {
    const eph = createClientEphemeral(aPrivate)
    const body = JSON.stringify({ a: eph.Abase64, accountName, protocols })
    return this.send(
      'POST',
      `${this.fake.authEndpoint}/signin/init`,
      this.authHeaders('https://idmsa.apple.com'),
      body,
    ).then((res) => ({ res, eph }))
  }

  async complete(
    accountName: string,
    password: string,
    init: { res: Res; eph: ReturnType<typeof createClientEphemeral> },
    trustTokens: string[] = this.trustToken ? [this.trustToken] : [],
  ): Promise<Res> {
    const ij = init.res.json()
    const proof = computeClientProof({
      accountName,
      password,
      salt: Buffer.from(ij.salt as string, 'base64'),
      iterations: ij.iteration as number,
      protocol: ij.protocol as SrpProtocol,
      a: init.eph.a,
      A: init.eph.A,
      B: Buffer.from(ij.b as string, 'base64'),
    })
    const body = JSON.stringify({
      accountName,
      c: ij.c,
      m1: proof.m1.toString('base64'),
      m2: proof.m2.toString('base64'),
      rememberMe: true,
      trustTokens,
    })
    return this.send(
      'POST',
      `${this.fake.authEndpoint}/signin/complete?isRememberMeEnabled=true`,
      this.authHeaders('https://idmsa.apple.com'),
      body,
    )
  }

  async signIn(accountName: string, password: string, trustTokens?: string[]): Promise<Res> {
    return this.complete(accountName, password, await this.init(accountName), trustTokens)
  }

  /** accountLogin as icloudpd sends it: no Content-Type, Origin/Referer = home. */
  accountLogin(sessionToken = this.sessionToken, trustToken = this.trustToken ?? ''): Promise<Res> {
    const body = JSON.stringify({
      accountCountryCode: 'USA',
      dsWebAuthToken: sessionToken,
      extended_login: true,
      trustToken,
    })
    return this.send(
      'POST',
      `${this.fake.setupEndpoint}/accountLogin`,
      { origin: HOME, referer: `${HOME}/` },
      body,
    )
  }

  validate(): Promise<Res> {
    return this.send(
      'POST',
      `${this.fake.setupEndpoint}/validate`,
      { origin: HOME, referer: `${HOME}/` },
      'null',
    )
  }

  /** Full HSA2 path: 409 → push → code → trust → trusted accountLogin. */
  async trustedLogin(appleId: string, password: string): Promise<Res> {
    expect((await this.signIn(appleId, password)).status).toBe(409)
    expect((await this.auth('PUT', '/verify/trusteddevice/securitycode')).status).toBe(202)
    const code = this.fake.deviceCode(appleId)!
    expect(
      (await this.auth('POST', '/verify/trusteddevice/securitycode', { securityCode: { code } })).status,
    ).toBe(204)
    expect((await this.auth('GET', '/2sv/trust')).status).toBe(204)
    return this.accountLogin()
  }
}

const ME = 'jdoe@example.com'
const PW = 'correct horse battery staple'

let fake: FakeICloud
let client: Client

beforeEach(async () => {
  fake = await startFakeICloud()
  fake.addAccount({ appleId: ME, password: PW, iterations: 1000, dsid: '12345678901' })
  client = new Client(fake)
})

afterEach(async () => {
  await fake.close()
})

describe('fake iCloud: endpoints and SRP', () => {
  it('exposes the documented endpoints on one server', () => {
    expect(fake.authEndpoint).toBe(`${fake.url}/appleauth/auth`)
    expect(fake.setupEndpoint).toBe(`${fake.url}/setup/ws/1`)
    expect(fake.ckdatabaseUrl).toBe(`${fake.url}/ckdatabasews`)
    expect(fake.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('serves signin/init JSON as text/html with the account SRP parameters and session context', async () => {
    const salt = Buffer.from('00a1b2c3d4e5f60718293a4b5c6d7e8f', 'hex')
    fake.addAccount({ appleId: 'fo@example.com', password: 'pw', protocol: 's2k_fo', iterations: 1234, salt })
    const { res } = await client.init('fo@example.com')
    expect(res.status).toBe(200)
    expect(res.header('content-type')).toBe('text/html;charset=UTF-8')
    const j = res.json()
    expect(j).toMatchObject({
      iteration: 1234,
      protocol: 's2k_fo',
      salt: salt.toString('base64'),
      version: 1,
    })
    expect(typeof j.b).toBe('string')
    expect(typeof j.c).toBe('string')
    expect(res.header('scnt')).toBeTruthy()
    expect(res.header('x-apple-id-session-id')).toBeTruthy()
    expect(res.cookies.some((c) => c.startsWith('aasp=') && !/domain=/i.test(c))).toBe(true)
  })

  it('accepts a correct proof (s2k_fo, salt with a leading zero byte) with 409 and Apple headers', async () => {
    const salt = Buffer.from('00a1b2c3d4e5f60718293a4b5c6d7e8f', 'hex')
    fake.addAccount({
      appleId: 'Fo@Example.com',
      password: 'pässwörd',
      protocol: 's2k_fo',
      iterations: 1000,
      salt,
    })
    const init = await client.init('Fo@Example.com')
    const initScnt = client.scnt
    const res = await client.complete('Fo@Example.com', 'pässwörd', init)
    expect(res.status).toBe(409)
    expect(res.header('x-apple-session-token')).toBeTruthy()
    expect(res.header('x-apple-id-session-id')).toBe(init.res.header('x-apple-id-session-id'))
    expect(res.header('scnt')).toBeTruthy()
    expect(res.header('scnt')).not.toBe(initScnt)
    expect(res.header('x-apple-id-account-country')).toBe('USA')
    expect(res.header('x-apple-twosv-trust-eligible')).toBe('true')
    const body = res.json()
    expect(body.authType).toBe('hsa2')
    expect(body).toHaveProperty('trustedDevices')
    expect(body.trustedPhoneNumbers).toEqual([
      expect.objectContaining({ id: 1, obfuscatedNumber: '(•••) •••-••81' }),
    ])
    expect(body.securityCode).toMatchObject({ length: 6 })
    expect(body).not.toHaveProperty('fsaChallenge')
  })

  it('answers a wrong password with 401 -20101 and locks the account after N failures (403)', async () => {
    fake.addAccount({
      appleId: 'lock@example.com',
      password: 'right',
      iterations: 1000,
      lockAfterFailures: 3,
    })
    for (let i = 0; i < 3; i++) {
      const res = await client.signIn('lock@example.com', 'wrong')
      expect(res.status).toBe(401)
      expect(res.json()).toEqual({
        serviceErrors: [
          {
            code: '-20101',
            message: 'Enter the email or phone number and password for your Apple Account.',
            suppressDismissal: false,
          },
        ],
      })
    }
    // Locked: even the right password is refused now.
    expect((await client.signIn('lock@example.com', 'right')).status).toBe(403)
    expect(fake.srpAttempts('lock@example.com')).toBe(4)
    expect(fake.srpAttempts()).toBe(4)
  })

  it('resets the failure count after a good proof', async () => {
    fake.addAccount({ appleId: 'x@example.com', password: 'right', iterations: 1000, lockAfterFailures: 2 })
    expect((await client.signIn('x@example.com', 'wrong')).status).toBe(401)
    expect((await client.signIn('x@example.com', 'right')).status).toBe(409)
    expect((await client.signIn('x@example.com', 'wrong')).status).toBe(401)
    expect((await client.signIn('x@example.com', 'right')).status).toBe(409)
  })

  it('answers an unknown Apple ID like a wrong password', async () => {
    const { res } = await client.init('nobody@example.com')
    expect(res.status).toBe(200)
    expect((await client.signIn('nobody@example.com', 'pw')).status).toBe(401)
  })

  it('makes c single-use and bound to its handshake', async () => {
    const init = await client.init(ME)
    expect((await client.complete(ME, PW, init)).status).toBe(409)
    // Replay of the same c.
    expect((await client.complete(ME, PW, init)).status).toBe(400)

    // A c from one handshake used with another handshake's session context.
    const first = await client.init(ME)
    await client.init(ME) // moves scnt/session id to a second conversation
    const res = await client.complete(ME, PW, first)
    expect(res.status).toBe(400)
    expect(res.header('x-fake-reason')).toMatch(/stale/)
  })

  it('requires the OAuth headers, a known Origin and a JSON content type on {auth}', async () => {
    const eph = createClientEphemeral()
    const body = JSON.stringify({ a: eph.Abase64, accountName: ME, protocols: ['s2k', 's2k_fo'] })
    const url = `${fake.authEndpoint}/signin/init`
    const base = client.authHeaders('https://idmsa.apple.com')
    for (const drop of [
      'x-apple-widget-key',
      'x-apple-oauth-client-id',
      'x-apple-oauth-state',
      'x-apple-oauth-client-type',
      'x-apple-oauth-redirect-uri',
      'x-apple-oauth-response-type',
    ]) {
      const h = { ...base }
      delete h[drop]
      const res = await client.send('POST', url, h, body)
      expect(res.status, drop).toBe(400)
      expect(res.header('x-fake-reason')).toContain(drop)
    }
    expect((await client.send('POST', url, { ...base, 'x-apple-widget-key': 'nope' }, body)).status).toBe(400)
    expect((await client.send('POST', url, { ...base, origin: 'https://evil.example' }, body)).status).toBe(
      400,
    )
    expect((await client.send('POST', url, { ...base, 'content-type': 'text/plain' }, body)).status).toBe(400)
    // Old recordings send the home page as Origin on sign-in: accepted.
    expect((await client.send('POST', url, client.authHeaders(HOME), body)).status).toBe(200)
    // The client id is not validated for format (old recordings send a bare upper-case UUID).
    const upper = { ...base, 'x-apple-oauth-state': '6C1F0F9E-8A51-11F0-9D7E-0242AC120002' }
    expect((await client.send('POST', url, upper, body)).status).toBe(200)
  })

  it('honours a trust token at signin/complete only while it is unexpired', async () => {
    await client.trustedLogin(ME, PW)
    const trust = client.trustToken!
    expect((await client.signIn(ME, PW, [trust])).status).toBe(200)
    expect((await client.signIn(ME, PW, ['HSARMTKNSRVXWFlaforged'])).status).toBe(409)
    fake.clock.advance(30 * DAY + 1000)
    expect((await client.signIn(ME, PW, [trust])).status).toBe(409)
  })

  it('answers 409 with fsaChallenge and keyNames for security-key accounts', async () => {
    fake.addAccount({
      appleId: 'key@example.com',
      password: 'pw',
      iterations: 1000,
      securityKeys: ['YubiKey 5C'],
    })
    const res = await client.signIn('key@example.com', 'pw')
    expect(res.status).toBe(409)
    const body = res.json()
    expect(body.keyNames).toEqual(['YubiKey 5C'])
    expect(body.fsaChallenge).toMatchObject({ rpId: 'apple.com', challenge: expect.any(String) })
    expect(body.trustedDevices).toEqual([])
  })

  it('answers 200 without a second factor for non-2FA accounts', async () => {
    fake.addAccount({ appleId: 'old@example.com', password: 'pw', iterations: 1000, hsaVersion: 0 })
    const res = await client.signIn('old@example.com', 'pw')
    expect(res.status).toBe(200)
    const login = await client.accountLogin()
    expect(login.status).toBe(200)
    expect(login.json()).toMatchObject({ hsaChallengeRequired: false, dsInfo: { hsaVersion: 0 } })
  })

  it('honours injected faults and logs every call', async () => {
    fake.inject('auth:signin/init', { status: 503, headers: { 'retry-after': '7' } })
    const first = await client.init(ME)
    expect(first.res.status).toBe(503)
    expect(first.res.header('retry-after')).toBe('7')
    expect((await client.init(ME)).res.status).toBe(200)
    expect(fake.count('auth:signin/init')).toBe(2)
    expect(fake.count(/^auth:/)).toBe(2)
  })
})

describe('fake iCloud: 412 repair', () => {
  it('repair/complete succeeding makes the 412 session token usable', async () => {
    fake.addAccount({ appleId: 'r@example.com', password: 'pw', iterations: 1000, repair: 'succeeds' })
    const res = await client.signIn('r@example.com', 'pw')
    expect(res.status).toBe(412)
    expect((await client.accountLogin()).status).toBe(421)
    expect((await client.auth('POST', '/repair/complete', {})).status).toBe(200)
    const login = await client.accountLogin()
    expect(login.status).toBe(200)
    expect(login.json().hsaChallengeRequired).toBe(true)
    // Repaired for good: the next sign-in goes straight to 2FA.
    expect((await client.signIn('r@example.com', 'pw')).status).toBe(409)
  })

  it('repair/complete failing keeps answering 412', async () => {
    fake.addAccount({ appleId: 'r@example.com', password: 'pw', iterations: 1000, repair: 'fails' })
    expect((await client.signIn('r@example.com', 'pw')).status).toBe(412)
    expect((await client.auth('POST', '/repair/complete', {})).status).toBe(412)
    expect((await client.accountLogin()).status).toBe(421)
    expect((await client.signIn('r@example.com', 'pw')).status).toBe(412)
  })
})

describe('fake iCloud: second factor', () => {
  beforeEach(async () => {
    expect((await client.signIn(ME, PW)).status).toBe(409)
  })

  it('has no code before the push trigger; the trigger creates a 6-digit code', async () => {
    expect(fake.deviceCode(ME)).toBeUndefined()
    const early = await client.auth('POST', '/verify/trusteddevice/securitycode', {
      securityCode: { code: '123456' },
    })
    expect(early.status).toBe(400)
    const res = await client.auth('PUT', '/verify/trusteddevice/securitycode', undefined, {
      accept: 'application/json',
    })
    expect(res.status).toBeGreaterThanOrEqual(200)
    expect(res.status).toBeLessThan(300)
    expect(fake.deviceCode(ME)).toMatch(/^\d{6}$/)
  })

  it('pre-2026 mode: the code exists at the 409, the trigger PUT is a 404, the ICPS resend still works', async () => {
    const pre = await startFakeICloud({ twoFactorFlow: 'pre-2026' })
    try {
      pre.addAccount({ appleId: ME, password: PW, iterations: 1000 })
      const c = new Client(pre)
      pre.nextCodes.push('246810', '135790')
      expect((await c.signIn(ME, PW)).status).toBe(409)
      expect(pre.deviceCode(ME)).toBe('246810')
      const trigger = await c.auth('PUT', '/verify/trusteddevice/securitycode', undefined, {
        accept: 'application/json',
      })
      expect(trigger.status).toBe(404)
      expect(pre.deviceCode(ME)).toBe('246810')
      expect((await c.auth('PUT', '/verify/trusteddevice')).status).toBe(202)
      expect(pre.deviceCode(ME)).toBe('135790')
      expect(
        (await c.auth('POST', '/verify/trusteddevice/securitycode', { securityCode: { code: '135790' } }))
          .status,
      ).toBe(204)
    } finally {
      await pre.close()
    }
  })

  it('accepts the ICPS resend path (PUT verify/trusteddevice → 202) and replaces the code', async () => {
    fake.nextCodes.push('000123', '654321')
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    expect(fake.deviceCode(ME)).toBe('000123')
    const res = await client.auth('PUT', '/verify/trusteddevice')
    expect(res.status).toBe(202)
    expect(res.json()).toMatchObject({
      trustedDeviceCount: 1,
      securityCode: { length: 6, securityCodeLocked: false },
    })
    expect(fake.deviceCode(ME)).toBe('654321')
    expect(
      (await client.auth('POST', '/verify/trusteddevice/securitycode', { securityCode: { code: '000123' } }))
        .status,
    ).toBe(400)
    expect(
      (await client.auth('POST', '/verify/trusteddevice/securitycode', { securityCode: { code: '654321' } }))
        .status,
    ).toBe(204)
  })

  it('rejects a wrong code with 400, -21669 and Apple’s body; keeps leading zeros significant', async () => {
    fake.nextCodes.push('012345')
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    const res = await client.auth('POST', '/verify/trusteddevice/securitycode', {
      securityCode: { code: '12345' },
    })
    expect(res.status).toBe(400)
    expect(res.header('x-apple-i-ercd')).toBe('-21669')
    expect(res.json()).toMatchObject({
      service_errors: [
        {
          code: '-21669',
          title: 'Incorrect Verification Code',
          message: 'Incorrect verification code.',
          suppressDismissal: false,
        },
      ],
      hasError: true,
    })
    const ok = await client.auth('POST', '/verify/trusteddevice/securitycode', {
      securityCode: { code: '012345' },
    })
    expect(ok.status).toBe(204)
    expect(ok.text).toBe('')
  })

  it('a correct code brings a fresh session token and scnt; the old scnt is stale afterwards', async () => {
    const before = { scnt: client.scnt!, token: client.sessionToken! }
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    const res = await client.auth('POST', '/verify/trusteddevice/securitycode', {
      securityCode: { code: fake.deviceCode(ME)! },
    })
    expect(res.status).toBe(204)
    expect(res.header('x-apple-session-token')).toBeTruthy()
    expect(res.header('x-apple-session-token')).not.toBe(before.token)
    expect(res.header('scnt')).not.toBe(before.scnt)
    expect(res.header('x-apple-id-account-country')).toBe('USA')
    expect(fake.deviceCode(ME)).toBeUndefined()
    const stale = await client.auth('GET', '/2sv/trust', undefined, { scnt: before.scnt })
    expect(stale.status).toBe(401)
  })

  it('requires scnt, session id and the aasp cookie on 2FA calls', async () => {
    const url = `${fake.authEndpoint}/verify/trusteddevice/securitycode`
    const h = client.authHeaders()
    delete h['content-type']
    const noScnt = { ...h }
    delete noScnt.scnt
    expect((await client.send('PUT', url, noScnt)).status).toBe(401)
    const noId = { ...h }
    delete noId['x-apple-id-session-id']
    expect((await client.send('PUT', url, noId)).status).toBe(401)
    // Without the jar (no aasp cookie).
    const r = await request(url, { method: 'PUT', headers: h })
    await r.body.dump()
    expect(r.statusCode).toBe(401)
    expect((await client.send('PUT', url, h)).status).toBe(202)
  })

  it('expires a code after 10 minutes of virtual time', async () => {
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    const code = fake.deviceCode(ME)!
    fake.clock.advance(10 * 60_000 + 1)
    expect(
      (await client.auth('POST', '/verify/trusteddevice/securitycode', { securityCode: { code } })).status,
    ).toBe(400)
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    const fresh = fake.deviceCode(ME)!
    fake.clock.advance(9 * 60_000)
    const ok = await client.auth('POST', '/verify/trusteddevice/securitycode', {
      securityCode: { code: fresh },
    })
    expect(ok.status).toBe(204)
  })

  it('locks the code after too many wrong tries (securityCodeLocked), even for the right code', async () => {
    fake.maxWrongCodes = 3
    fake.nextCodes.push('111111')
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    let last!: Res
    for (let i = 0; i < 3; i++) {
      last = await client.auth('POST', '/verify/trusteddevice/securitycode', {
        securityCode: { code: '999999' },
      })
      expect(last.status).toBe(400)
    }
    expect(last.json().securityCode).toMatchObject({ securityCodeLocked: true, tooManyCodesValidated: true })
    const right = await client.auth('POST', '/verify/trusteddevice/securitycode', {
      securityCode: { code: '111111' },
    })
    expect(right.status).toBe(400)
    const options = await client.auth('GET', '', undefined, { accept: 'application/json' })
    expect(options.json().securityCode).toMatchObject({ securityCodeLocked: true })
  })

  it('binds a code to its pending session', async () => {
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    const code = fake.deviceCode(ME)!
    const other = new Client(fake)
    expect((await other.signIn(ME, PW)).status).toBe(409)
    const res = await other.auth('POST', '/verify/trusteddevice/securitycode', { securityCode: { code } })
    expect(res.status).toBe(400)
    expect(res.header('x-apple-i-ercd')).toBe('-21669')
  })

  it('serves auth options as JSON (Accept: application/json) and as HTML boot_args with phones at both paths', async () => {
    fake.account(ME)!.phones.push({ id: 2, number: '+33 6 12 34 56 78' })
    const json = await client.auth('GET', '', undefined, { accept: 'application/json' })
    expect(json.status).toBe(200)
    const j = json.json()
    expect(j.authType).toBe('hsa2')
    expect(j.trustedPhoneNumbers).toHaveLength(2)
    expect(j.securityCode).toMatchObject({ length: 6 })

    const html = await client.auth('GET', '', undefined, { accept: 'text/html' })
    expect(html.header('content-type')).toMatch(/^text\/html/)
    const m = /<script type="application\/json" class="boot_args">(.*?)<\/script>/s.exec(html.text)
    expect(m).not.toBeNull()
    const boot = JSON.parse(m![1]!) as {
      direct: { twoSV: Record<string, { trustedPhoneNumbers?: unknown[] } & Record<string, unknown>> }
    }
    const old = boot.direct.twoSV.phoneNumberVerification!
    const y2026 = (boot.direct.twoSV.bridgeInitiateData as { phoneNumberVerification: typeof old })
      .phoneNumberVerification
    for (const v of [old, y2026]) {
      expect(v.trustedPhoneNumbers).toEqual([
        expect.objectContaining({ id: 1, obfuscatedNumber: '(•••) •••-••81' }),
        expect.objectContaining({ id: 2, lastTwoDigits: '78', numberWithDialCode: '+33 (•••) •••-••78' }),
      ])
    }
  })

  it('sends and verifies SMS codes per phone', async () => {
    const bad = await client.auth('PUT', '/verify/phone', { phoneNumber: { id: 9 }, mode: 'sms' })
    expect(bad.status).toBe(400)
    expect(fake.smsCode(ME, 1)).toBeUndefined()
    const sent = await client.auth(
      'PUT',
      '/verify/phone',
      { phoneNumber: { id: 1 }, mode: 'sms' },
      {
        'content-type': 'application/json; charset=utf-8',
      },
    )
    expect(sent.status).toBe(200)
    expect(sent.json()).toMatchObject({ trustedPhoneNumber: { id: 1 }, securityCode: { length: 6 } })
    const code = fake.smsCode(ME, 1)!
    expect(code).toMatch(/^\d{6}$/)
    const wrong = await client.auth('POST', '/verify/phone/securitycode', {
      phoneNumber: { id: 1 },
      securityCode: { code: code === '000000' ? '000001' : '000000' },
      mode: 'sms',
    })
    expect(wrong.status).toBe(400)
    expect(wrong.header('x-apple-i-ercd')).toBe('-21669')
    const ok = await client.auth('POST', '/verify/phone/securitycode', {
      phoneNumber: { id: 1 },
      securityCode: { code },
      mode: 'sms',
    })
    expect(ok.status).toBe(200)
    expect(ok.header('x-apple-session-token')).toBeTruthy()
    expect((await client.auth('GET', '/2sv/trust')).status).toBe(204)
  })

  it('refuses /2sv/trust before a code was accepted', async () => {
    expect((await client.auth('GET', '/2sv/trust')).status).toBe(400)
  })
})

describe('fake iCloud: accountLogin, cookies and validate', () => {
  it('reports hsaChallengeRequired for the 409 session token and sets no service cookies', async () => {
    await client.signIn(ME, PW)
    const res = await client.accountLogin()
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({ hsaChallengeRequired: true, hsaTrustedBrowser: false })
    expect(res.cookies.some((c) => c.startsWith('X-APPLE-WEBAUTH-TOKEN='))).toBe(false)
    expect((await client.validate()).status).toBe(421)
  })

  it('after code + trust: trusted, all §5.1 fields and Apple-shaped cookies expiring with the trust', async () => {
    const t0 = fake.clock.now()
    const res = await client.trustedLogin(ME, PW)
    expect(res.status).toBe(200)
    const body = res.json()
    expect(body).toMatchObject({
      dsInfo: {
        dsid: '12345678901',
        hsaVersion: 2,
        hasICloudQualifyingDevice: true,
        isWebAccessAllowed: true,
        iCDPEnabled: false,
        appleId: ME,
        countryCode: 'USA',
      },
      webservices: { ckdatabasews: { url: fake.ckdatabaseUrl, status: 'active', pcsRequired: true } },
      hsaChallengeRequired: false,
      hsaTrustedBrowser: true,
      isExtendedLogin: true,
      iCDPEnabled: false,
      hasMinimumDeviceForPhotosWeb: true,
    })
    expect((body.webservices as Record<string, { url: string }>).photos!.url.startsWith(fake.url)).toBe(true)
    expect((body.webservices as Record<string, { url: string }>).account!.url.startsWith(fake.url)).toBe(true)

    const byName = new Map(res.cookies.map((c) => [c.slice(0, c.indexOf('=')), c]))
    expect(byName.get('X-APPLE-WEBAUTH-USER')).toMatch(/^X-APPLE-WEBAUTH-USER="v=1:s=1:d=12345678901";/)
    for (const c of res.cookies) {
      expect(c).toMatch(/; Secure/)
      expect(c).not.toMatch(/domain=/i)
    }
    const expiry = fake.trustExpiry(ME)!
    expect(expiry).toBeGreaterThanOrEqual(t0 + 30 * DAY)
    expect(expiry).toBeLessThan(t0 + 30 * DAY + 60_000)
    for (const name of [
      'X-APPLE-WEBAUTH-USER',
      'X-APPLE-WEBAUTH-TOKEN',
      'X-APPLE-DS-WEB-SESSION-TOKEN',
      'X-APPLE-WEBAUTH-HSA-TRUST',
    ]) {
      const parsed = Cookie.parse(byName.get(name)!)!
      expect(parsed.httpOnly, name).toBe(true)
      expect(parsed.expires instanceof Date ? Math.floor(parsed.expires.getTime() / 1000) : 0, name).toBe(
        Math.floor(expiry / 1000),
      )
    }
    for (const name of ['X-APPLE-WEBAUTH-VALIDATE', 'X-APPLE-WEBAUTH-LOGIN']) {
      expect(Cookie.parse(byName.get(name)!)!.expires, name).toBe('Infinity')
    }
    // The jar keeps the quotes and sends them back, and validate accepts them.
    const stored = await client.jar.getCookies(fake.setupEndpoint)
    expect(stored.find((c) => c.key === 'X-APPLE-WEBAUTH-USER')?.value).toBe('"v=1:s=1:d=12345678901"')
    const v = await client.validate()
    expect(v.status).toBe(200)
    expect(v.json()).toMatchObject({
      hsaTrustedBrowser: true,
      hsaChallengeRequired: false,
      dsInfo: { dsid: '12345678901' },
    })
  })

  it('validate works only while the web session lives on the virtual clock; trust expiry forces a challenge', async () => {
    await client.trustedLogin(ME, PW)
    fake.clock.advance(29 * DAY)
    expect((await client.validate()).status).toBe(200)
    fake.clock.advance(1 * DAY + 1000)
    expect((await client.validate()).status).toBe(421)
    const again = await client.accountLogin()
    expect(again.status).toBe(200)
    expect(again.json()).toMatchObject({ hsaChallengeRequired: true, hsaTrustedBrowser: false })
  })

  it('validate requires the body null', async () => {
    await client.trustedLogin(ME, PW)
    const res = await client.send('POST', `${fake.setupEndpoint}/validate`, { origin: HOME }, '{}')
    expect(res.status).toBe(400)
  })

  it('stored session token + valid trust token gives a trusted login after the web session is gone (kei)', async () => {
    await client.trustedLogin(ME, PW)
    fake.revokeWebSessions(ME)
    expect((await client.validate()).status).toBe(421)
    const res = await client.accountLogin()
    expect(res.json()).toMatchObject({ hsaTrustedBrowser: true, hsaChallengeRequired: false })
    expect((await client.validate()).status).toBe(200)
    // A 409 session token becomes trusted when a live trust token rides along.
    const other = new Client(fake)
    expect((await other.signIn(ME, PW, [])).status).toBe(409)
    expect((await other.accountLogin(other.sessionToken, client.trustToken)).json().hsaTrustedBrowser).toBe(
      true,
    )
    expect((await other.accountLogin(other.sessionToken, '')).json().hsaChallengeRequired).toBe(true)
  })

  it('revoked trust makes the web session and the trust token useless', async () => {
    await client.trustedLogin(ME, PW)
    fake.revokeTrust(ME)
    expect((await client.validate()).status).toBe(421)
    expect((await client.accountLogin()).json().hsaChallengeRequired).toBe(true)
    expect((await client.signIn(ME, PW)).status).toBe(409)
  })

  it('answers 421 for unknown and expired session tokens', async () => {
    expect((await client.accountLogin('not-a-token', '')).status).toBe(421)
    await client.trustedLogin(ME, PW)
    fake.clock.advance(fake.sessionTokenDays * DAY + 1000)
    expect((await client.accountLogin()).status).toBe(421)
  })

  it('reports web access off and ADP in the flags', async () => {
    fake.addAccount({
      appleId: 'adp@example.com',
      password: 'pw',
      iterations: 1000,
      iCDPEnabled: true,
      isWebAccessAllowed: false,
    })
    const body = (await client.trustedLogin('adp@example.com', 'pw')).json()
    expect(body).toMatchObject({
      iCDPEnabled: true,
      dsInfo: { iCDPEnabled: true, isWebAccessAllowed: false },
    })
    fake.account('adp@example.com')!.isWebAccessAllowed = true
    expect((await client.validate()).json()).toMatchObject({ dsInfo: { isWebAccessAllowed: true } })
  })

  it('answers domainToUse with a 302 JSON body and no Location', async () => {
    fake.addAccount({
      appleId: 'cn@example.com',
      password: 'pw',
      iterations: 1000,
      domainToUse: 'iCloud.com.cn',
    })
    await client.signIn('cn@example.com', 'pw')
    const res = await client.accountLogin()
    expect(res.status).toBe(302)
    expect(res.header('location')).toBeUndefined()
    expect(res.json()).toEqual({ domainToUse: 'iCloud.com.cn' })
  })

  it('a code without trust gives an untrusted session (no HSA-TRUST cookie)', async () => {
    await client.signIn(ME, PW)
    await client.auth('PUT', '/verify/trusteddevice/securitycode')
    await client.auth('POST', '/verify/trusteddevice/securitycode', {
      securityCode: { code: fake.deviceCode(ME)! },
    })
    const res = await client.accountLogin()
    expect(res.json()).toMatchObject({ hsaChallengeRequired: false, hsaTrustedBrowser: false })
    expect(res.cookies.some((c) => c.startsWith('X-APPLE-WEBAUTH-HSA-TRUST='))).toBe(false)
    expect(res.cookies.some((c) => c.startsWith('X-APPLE-WEBAUTH-TOKEN='))).toBe(true)
  })

  it('exposes the web session behind a request for CloudKit handlers', async () => {
    await client.trustedLogin(ME, PW)
    const cookie = await client.jar.getCookieString(fake.ckdatabaseUrl)
    expect(fake.webSessionFor({ cookie })).toMatchObject({ appleId: ME, dsid: '12345678901', trusted: true })
    expect(fake.webSessionFor({})).toBeUndefined()
  })

  it('cn domain: cn-flavoured data, services still on the fake', async () => {
    const cn = await startFakeICloud({ domain: 'cn', trustDays: 10 })
    try {
      cn.addAccount({ appleId: ME, password: PW, iterations: 1000 })
      const c = new Client(cn)
      const res = await c.trustedLogin(ME, PW)
      expect(c.accountCountry).toBe('CHN')
      expect(res.json()).toMatchObject({
        dsInfo: { countryCode: 'CHN' },
        webservices: { ckdatabasews: { url: cn.ckdatabaseUrl } },
      })
      expect(cn.trustExpiry(ME)! - cn.clock.now()).toBeLessThanOrEqual(10 * DAY)
      expect(cn.trustExpiry(ME)! - cn.clock.now()).toBeGreaterThan(10 * DAY - 60_000)
    } finally {
      await cn.close()
    }
  })
})
