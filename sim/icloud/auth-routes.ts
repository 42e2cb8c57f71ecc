/**
 * The fake idmsa (`{auth}` = <url>/appleauth/auth): SRP sign-in, HSA2 codes (device push and SMS),
 * trust and 412 repair, strict about the headers and session context Apple insists on
 * (docs/protocol.md §2–§4, §11). Routes are keyed by method and path below the mount.
 */
import type http from 'node:http'
import { randomBytes } from 'node:crypto'
import { bytesToBigint } from '../../src/icloud/srp.js'
import { accountKey, trustedPhone, type FakeAccount } from './accounts.js'
import { parseCookies, setCookie } from './cookies.js'
import { parseJsonBody, sendJson, type FakeRequest, type Handler } from './core.js'
import { createServerEphemeral, verifyClientProof } from './srp-server.js'
import { token, type AuthSession, type FakeState, type PendingCode } from './state.js'

export const WIDGET_KEY = 'd39ba9916b7251055b22c7f910e2ea796ee65e98b2ddecea8f5dde8d9d1a815d'

const HOMES = ['https://www.icloud.com', 'https://www.icloud.com.cn']
const AUTH_ROOTS = ['https://idmsa.apple.com', 'https://idmsa.apple.com.cn']

/** Fixed OAuth headers every `{auth}` call must carry (docs/protocol.md §2). */
const OAUTH_HEADERS: Record<string, string> = {
  'x-apple-widget-key': WIDGET_KEY,
  'x-apple-oauth-client-id': WIDGET_KEY,
  'x-apple-oauth-client-type': 'firstPartyAuth',
  'x-apple-oauth-require-grant-code': 'true',
  'x-apple-oauth-response-mode': 'web_message',
  'x-apple-oauth-response-type': 'code',
}

const WRONG_CODE_ERROR = {
  code: '-21669',
  title: 'Incorrect Verification Code',
  message: 'Incorrect verification code.',
  suppressDismissal: false,
}

type Reply = true

export function authHandler(state: FakeState): Handler {
  const routes: Record<string, (req: FakeRequest, res: http.ServerResponse) => Reply> = {
    'POST signin/init': (req, res) => signinInit(state, req, res),
    'POST signin/complete': (req, res) => signinComplete(state, req, res),
    'GET ': (req, res) => authOptions(state, req, res),
    'PUT verify/trusteddevice/securitycode': (req, res) =>
      state.settings.twoFactorFlow === 'pre-2026' ? notFound(res) : pushDeviceCode(state, req, res),
    'PUT verify/trusteddevice': (req, res) => pushDeviceCode(state, req, res),
    'POST verify/trusteddevice/securitycode': (req, res) => submitDeviceCode(state, req, res),
    'PUT verify/phone': (req, res) => sendSms(state, req, res),
    'POST verify/phone/securitycode': (req, res) => submitSmsCode(state, req, res),
    'GET 2sv/trust': (req, res) => trust(state, req, res),
    'POST repair/complete': (req, res) => repairComplete(state, req, res),
  }
  return (req, res) => {
    const route = routes[`${req.method} ${req.rest}`]
    if (!route) return false
    const signin = req.rest.startsWith('signin/')
    const bad = checkAuthHeaders(state, req, signin)
    if (bad) return reject(res, 400, bad)
    return route(req, res)
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-in

function signinInit(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const body = jsonObject(req)
  if (!body) return reject(res, 400, 'body is not a JSON object')
  const { a, accountName, protocols } = body
  if (typeof accountName !== 'string' || accountName === '') return reject(res, 400, 'accountName missing')
  if (typeof a !== 'string' || !isBase64(a)) return reject(res, 400, 'a is not base64')
  if (!Array.isArray(protocols) || !protocols.every((p) => typeof p === 'string')) {
    return reject(res, 400, 'protocols missing')
  }
  const key = accountKey(accountName)
  const account = state.accounts.get(key)
  // Unknown accounts still get a handshake (Apple does not reveal which Apple IDs exist).
  const srp = account ?? {
    salt: randomBytes(16),
    iterations: 20_000,
    protocol: 's2k' as const,
    verifier: bytesToBigint(randomBytes(256)),
  }
  if (!protocols.includes(srp.protocol)) return reject(res, 400, `protocols must include ${srp.protocol}`)
  const session = state.newAuthSession(key)
  const eph = createServerEphemeral(srp.verifier)
  const c = `d-${token(12, 'hex')}:RNO`
  state.handshakes.set(c, {
    c,
    accountKey: key,
    accountName,
    authSessionId: session.id,
    A: bytesToBigint(Buffer.from(a, 'base64')),
    b: eph.b,
    B: eph.B,
    used: false,
  })
  // Apple labels this JSON as HTML.
  res.writeHead(200, {
    'content-type': 'text/html;charset=UTF-8',
    ...idmsaHeaders(session, account),
    'set-cookie': [setCookie({ name: 'aasp', value: session.aasp })],
  })
  res.end(
    JSON.stringify({
      iteration: srp.iterations,
      salt: srp.salt.toString('base64'),
      protocol: srp.protocol,
      b: eph.Bbase64,
      c,
      version: 1,
    }),
  )
  return true
}

function signinComplete(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const body = jsonObject(req)
  if (!body) return reject(res, 400, 'body is not a JSON object')
  const { accountName, c, m1, m2, trustTokens } = body
  if (typeof accountName !== 'string') return reject(res, 400, 'accountName missing')
  state.completeCalls.push(accountKey(accountName))
  if (
    typeof m1 !== 'string' ||
    !isBase64(m1) ||
    (m2 !== undefined && (typeof m2 !== 'string' || !isBase64(m2)))
  ) {
    return reject(res, 400, 'm1/m2 are not base64')
  }
  if (trustTokens !== undefined && !Array.isArray(trustTokens))
    return reject(res, 400, 'trustTokens is not a list')
  const hs = typeof c === 'string' ? state.handshakes.get(c) : undefined
  if (!hs || hs.used) return reject(res, 400, 'c is unknown or already used')
  // `c` is single-use, whatever the outcome.
  hs.used = true
  const session = state.authSessions.get(hs.authSessionId)!
  const ctx = contextProblem(req, session)
  if (ctx) return reject(res, 400, `signin/complete ${ctx}`)
  if (accountName !== hs.accountName) return reject(res, 400, 'accountName differs from signin/init')
  const account = state.accounts.get(hs.accountKey)
  if (account?.locked) {
    return sendJson(
      res,
      403,
      {
        serviceErrors: [
          {
            code: '-20209',
            message:
              'This Apple Account has been locked for security reasons. Visit iForgot to reset your account.',
            suppressDismissal: false,
          },
        ],
      },
      idmsaHeaders(session, account),
    )
  }
  const check = account
    ? verifyClientProof({
        accountName: hs.accountName,
        salt: account.salt,
        v: account.verifier,
        A: hs.A,
        b: hs.b,
        B: hs.B,
        m1: Buffer.from(m1, 'base64'),
        m2: typeof m2 === 'string' ? Buffer.from(m2, 'base64') : undefined,
      })
    : { ok: false }
  if (!account || !check.ok) {
    if (account && ++account.failures >= account.lockAfterFailures) account.locked = true
    return sendJson(
      res,
      401,
      {
        serviceErrors: [
          {
            code: '-20101',
            message: 'Enter the email or phone number and password for your Apple Account.',
            suppressDismissal: false,
          },
        ],
      },
      { ...idmsaHeaders(session, account), 'x-apple-i-rscd': '401' },
    )
  }
  account.failures = 0
  state.rotateScnt(session)
  const key = hs.accountKey
  const twoFactor = account.hsaVersion > 0
  const headers = (sessionToken: string): Record<string, string> => ({
    ...idmsaHeaders(session, account),
    'x-apple-session-token': sessionToken,
    ...(twoFactor ? { 'x-apple-twosv-trust-eligible': 'true' } : {}),
  })
  if (account.repairPending) {
    session.state = 'repair'
    const t = state.issueSessionToken(key, 'repair')
    session.sessionToken = t.token
    return sendJson(res, 412, { authType: twoFactor ? 'hsa2' : 'non-sa' }, headers(t.token))
  }
  if (!twoFactor) {
    session.state = 'trusted'
    return sendJson(res, 200, { authType: 'non-sa' }, headers(state.issueSessionToken(key, 'open').token))
  }
  const trust = state.findTrust(trustTokens ?? [], key)
  if (trust) {
    session.state = 'trusted'
    return sendJson(
      res,
      200,
      { authType: 'hsa2' },
      headers(state.issueSessionToken(key, 'trusted', trust).token),
    )
  }
  session.state = 'pending'
  const t = state.issueSessionToken(key, 'pending')
  session.sessionToken = t.token
  // Before 2026 Apple pushed the code to the trusted devices as soon as it asked for it.
  if (state.settings.twoFactorFlow === 'pre-2026' && account.securityKeys.length === 0) {
    session.deviceCode = { value: state.newCode(), issuedAt: state.now() }
    session.codesSent++
  }
  return sendJson(res, 409, challengeBody(account, session), headers(t.token))
}

function challengeBody(account: FakeAccount, session: AuthSession): Record<string, unknown> {
  const authType = account.hsaVersion === 1 ? 'hsa' : 'hsa2'
  if (account.securityKeys.length > 0) {
    return {
      authType,
      trustedDevices: [],
      fsaChallenge: {
        challenge: randomBytes(32).toString('base64'),
        keyHandles: account.securityKeys.map(() => randomBytes(64).toString('base64')),
        rpId: 'apple.com',
      },
      keyNames: account.securityKeys,
    }
  }
  return {
    authType,
    trustedDevices: account.hasICloudQualifyingDevice
      ? [{ id: '1', name: "J's iPhone", modelName: 'iPhone 15 Pro', type: 'iPhone' }]
      : [],
    trustedPhoneNumbers: account.phones.map(trustedPhone),
    securityCode: securityCodeInfo(session),
  }
}

// ---------------------------------------------------------------------------------------------
// Second factor

function authOptions(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const g = guard(state, req, res, ['pending'])
  if (!g) return true
  const { session, account } = g
  const phones = account.phones.map(trustedPhone)
  const verification = {
    trustedPhoneNumbers: phones,
    trustedPhoneNumber: phones[0],
    securityCode: securityCodeInfo(session),
    authenticationType: 'hsa2',
    hsa2Account: account.hsaVersion === 2,
    restrictedAccount: false,
    recoveryUrl: 'https://iforgot.apple.com/phone/add',
  }
  const headers = idmsaHeaders(session, account)
  if ((req.headers.accept ?? '').includes('application/json')) {
    return sendJson(
      res,
      200,
      {
        ...verification,
        trustedDevices: account.hasICloudQualifyingDevice ? [{ id: '1', name: "J's iPhone" }] : [],
        authType: 'hsa2',
        ...(account.securityKeys.length
          ? {
              fsaChallenge: {
                challenge: randomBytes(32).toString('base64'),
                keyHandles: [],
                rpId: 'apple.com',
              },
              keyNames: account.securityKeys,
            }
          : {}),
      },
      headers,
    )
  }
  // icloudpd's form: an HTML page whose boot_args script holds the options, phones at both the
  // pre-2026 and the 2026 (bridgeInitiateData) paths.
  const bootArgs = {
    direct: {
      hasTrustedDevices: account.hasICloudQualifyingDevice,
      authType: 'hsa2',
      twoSV: {
        supportedPushModes: ['voice', 'sms'],
        phoneNumberVerification: verification,
        bridgeInitiateData: { phoneNumberVerification: verification },
      },
    },
  }
  res.writeHead(200, { 'content-type': 'text/html;charset=UTF-8', ...headers })
  res.end(
    '<!DOCTYPE html><html><head><title>Verify</title></head><body>' +
      `<script type="application/json" class="boot_args">${JSON.stringify(bootArgs).replace(/</g, '\\u003c')}</script>` +
      '</body></html>',
  )
  return true
}

/** What idmsa answers for a path it does not serve (the trigger, before 2026). */
function notFound(res: http.ServerResponse): Reply {
  res.writeHead(404, {
    'content-type': 'text/html;charset=UTF-8',
    'x-fake-reason': 'no such route (pre-2026)',
  })
  res.end('<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>')
  return true
}

function pushDeviceCode(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const g = guard(state, req, res, ['pending'])
  if (!g) return true
  const { session, account } = g
  // Sending again means "resend": the new code replaces the old one.
  session.deviceCode = { value: state.newCode(), issuedAt: state.now() }
  session.codesSent++
  const phones = account.phones.map(trustedPhone)
  return sendJson(
    res,
    202,
    {
      trustedDeviceCount: account.hasICloudQualifyingDevice ? 1 : 0,
      securityCode: securityCodeInfo(session),
      phoneNumberVerification: {
        trustedPhoneNumbers: phones,
        trustedPhoneNumber: phones[0],
        securityCode: securityCodeInfo(session),
        authenticationType: 'hsa2',
        hsa2Account: true,
      },
    },
    idmsaHeaders(session, account),
  )
}

function submitDeviceCode(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const g = guard(state, req, res, ['pending'])
  if (!g) return true
  const body = jsonObject(req)
  const code = codeFrom(body)
  if (code === undefined) return reject(res, 400, 'securityCode.code missing')
  if (!acceptCode(state, g.session, g.session.deviceCode, code)) return wrongCode(res, g.session, g.account)
  return codeAccepted(state, res, g.session, g.account, 204)
}

function sendSms(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const g = guard(state, req, res, ['pending'])
  if (!g) return true
  const { session, account } = g
  const body = jsonObject(req)
  const id = phoneIdFrom(body)
  const mode = body?.mode
  if (mode !== 'sms' && mode !== 'voice') return reject(res, 400, 'mode must be sms or voice')
  const phone = account.phones.find((p) => p.id === id)
  if (!phone) return reject(res, 400, 'unknown phoneNumber.id')
  session.phoneCodes.set(phone.id, { value: state.newCode(), issuedAt: state.now() })
  session.codesSent++
  return sendJson(
    res,
    200,
    {
      trustedPhoneNumber: trustedPhone(phone),
      trustedPhoneNumbers: account.phones.map(trustedPhone),
      phoneNumber: trustedPhone(phone),
      securityCode: securityCodeInfo(session),
      mode,
      type: 'verification',
      authenticationType: 'hsa2',
      hsa2Account: true,
    },
    idmsaHeaders(session, account),
  )
}

function submitSmsCode(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const g = guard(state, req, res, ['pending'])
  if (!g) return true
  const body = jsonObject(req)
  const id = phoneIdFrom(body)
  const code = codeFrom(body)
  if (id === undefined || code === undefined)
    return reject(res, 400, 'phoneNumber.id or securityCode.code missing')
  if (!acceptCode(state, g.session, g.session.phoneCodes.get(id), code))
    return wrongCode(res, g.session, g.account)
  return codeAccepted(state, res, g.session, g.account, 200)
}

/** Counts a wrong or late code; too many lock the pending session's code for good. */
function acceptCode(
  state: FakeState,
  session: AuthSession,
  pending: PendingCode | undefined,
  code: string,
): boolean {
  if (!session.codeLocked && state.codeLive(pending) && pending.value === code) return true
  if (++session.wrongCodes >= state.settings.maxWrongCodes) session.codeLocked = true
  return false
}

function wrongCode(res: http.ServerResponse, session: AuthSession, account: FakeAccount): Reply {
  return sendJson(
    res,
    400,
    { service_errors: [WRONG_CODE_ERROR], hasError: true, securityCode: securityCodeInfo(session) },
    { ...idmsaHeaders(session, account), 'x-apple-i-ercd': '-21669' },
  )
}

function codeAccepted(
  state: FakeState,
  res: http.ServerResponse,
  session: AuthSession,
  account: FakeAccount,
  status: 200 | 204,
): Reply {
  session.state = 'verified'
  session.deviceCode = undefined
  session.phoneCodes.clear()
  state.rotateScnt(session)
  const t = state.issueSessionToken(session.accountKey, 'verified')
  session.sessionToken = t.token
  const headers = {
    ...idmsaHeaders(session, account),
    'x-apple-session-token': t.token,
    'x-apple-twosv-trust-eligible': 'true',
  }
  if (status === 204) {
    res.writeHead(204, headers)
    res.end()
    return true
  }
  return sendJson(res, 200, { securityCode: { ...securityCodeInfo(session), valid: true } }, headers)
}

function trust(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const g = guard(state, req, res, ['verified', 'trusted'])
  if (!g) return true
  const { session, account } = g
  const record = state.issueTrust(session.accountKey)
  const t = state.issueSessionToken(session.accountKey, 'trusted', record)
  session.state = 'trusted'
  session.sessionToken = t.token
  res.writeHead(204, {
    ...idmsaHeaders(session, account),
    'x-apple-twosv-trust-token': record.token,
    'x-apple-session-token': t.token,
  })
  res.end()
  return true
}

function repairComplete(state: FakeState, req: FakeRequest, res: http.ServerResponse): Reply {
  const g = guard(state, req, res, ['repair'])
  if (!g) return true
  const { session, account } = g
  if (account.repair !== 'succeeds') {
    return sendJson(
      res,
      412,
      { serviceErrors: [{ code: '-20283', message: 'Your account information needs to be updated.' }] },
      idmsaHeaders(session, account),
    )
  }
  account.repairPending = false
  // The token handed out with the 412 becomes an ordinary sign-in token.
  const t = session.sessionToken ? state.sessionTokens.get(session.sessionToken) : undefined
  const kind = account.hsaVersion > 0 ? 'pending' : 'open'
  if (t) t.kind = kind
  session.state = kind === 'pending' ? 'pending' : 'trusted'
  return sendJson(
    res,
    200,
    {},
    { ...idmsaHeaders(session, account), ...(t ? { 'x-apple-session-token': t.token } : {}) },
  )
}

// ---------------------------------------------------------------------------------------------
// Checks and helpers

function checkAuthHeaders(state: FakeState, req: FakeRequest, signin: boolean): string | undefined {
  for (const [name, value] of Object.entries(OAUTH_HEADERS)) {
    if (req.headers[name] !== value) return `header ${name} missing or wrong`
  }
  const stateHeader = req.headers['x-apple-oauth-state']
  if (typeof stateHeader !== 'string' || stateHeader === '') return 'header x-apple-oauth-state missing'
  const fakeOrigin = new URL(state.url).origin
  const redirect = req.headers['x-apple-oauth-redirect-uri']
  if (typeof redirect !== 'string' || ![...HOMES, fakeOrigin].includes(redirect)) {
    return 'header x-apple-oauth-redirect-uri missing or wrong'
  }
  // Sign-in calls come from the auth root (old recordings: the home page); the rest from {home}.
  const origins = signin ? [...AUTH_ROOTS, ...HOMES, fakeOrigin] : [...HOMES, fakeOrigin]
  if (!origins.includes(String(req.headers.origin))) return 'header origin missing or wrong'
  if (req.body.length > 0 && !String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return 'content-type must be application/json'
  }
  return undefined
}

/** What is wrong with the session context a request carries (scnt, session id, aasp cookie). */
function contextProblem(req: FakeRequest, session: AuthSession): string | undefined {
  if (req.headers['x-apple-id-session-id'] !== session.id) return 'X-Apple-ID-Session-Id missing or stale'
  if (req.headers.scnt !== session.scnt) return 'scnt missing or stale'
  if (parseCookies(req.headers).get('aasp') !== session.aasp) return 'aasp cookie missing or stale'
  return undefined
}

/** 2FA, trust and repair calls: the session context must be current and in an allowed state. */
function guard(
  state: FakeState,
  req: FakeRequest,
  res: http.ServerResponse,
  states: AuthSession['state'][],
): { session: AuthSession; account: FakeAccount } | undefined {
  const id = req.headers['x-apple-id-session-id']
  const session = typeof id === 'string' ? state.authSessions.get(id) : undefined
  const problem = session ? contextProblem(req, session) : 'X-Apple-ID-Session-Id missing or unknown'
  if (problem || !session) {
    reject(res, 401, problem ?? 'no session')
    return undefined
  }
  const account = state.accounts.get(session.accountKey)
  if (!account || !states.includes(session.state)) {
    reject(res, 400, `session is ${session.state}, this call needs ${states.join(' or ')}`)
    return undefined
  }
  return { session, account }
}

function idmsaHeaders(session: AuthSession, account: FakeAccount | undefined): Record<string, string> {
  return {
    scnt: session.scnt,
    'x-apple-id-session-id': session.id,
    'x-apple-auth-attributes': token(24, 'base64'),
    ...(account ? { 'x-apple-id-account-country': account.countryCode } : {}),
  }
}

function securityCodeInfo(session: AuthSession): Record<string, unknown> {
  return {
    length: 6,
    tooManyCodesSent: false,
    tooManyCodesValidated: session.codeLocked,
    securityCodeLocked: session.codeLocked,
    securityCodeCooldown: false,
  }
}

/** Our error body for requests Apple would refuse for reasons it does not document. */
function reject(res: http.ServerResponse, status: number, reason: string): Reply {
  return sendJson(
    res,
    status,
    { serviceErrors: [{ code: 'FAKE', message: `fake iCloud: ${reason}`, suppressDismissal: false }] },
    { 'x-fake-reason': reason },
  )
}

function jsonObject(req: FakeRequest): Record<string, unknown> | undefined {
  try {
    const v = parseJsonBody(req)
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

function codeFrom(body: Record<string, unknown> | undefined): string | undefined {
  const sc = body?.securityCode as { code?: unknown } | undefined
  return typeof sc?.code === 'string' ? sc.code : undefined
}

function phoneIdFrom(body: Record<string, unknown> | undefined): number | undefined {
  const pn = body?.phoneNumber as { id?: unknown } | undefined
  return typeof pn?.id === 'number' ? pn.id : undefined
}

function isBase64(s: string): boolean {
  return s.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s) && s.length % 4 === 0
}
