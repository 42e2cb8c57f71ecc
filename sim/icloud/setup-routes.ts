/**
 * The fake setup host (`{setup}` = <url>/setup/ws/1): `accountLogin` turns an idmsa session token
 * (plus an optional trust token) into an iCloud web session with Apple's cookies; `validate` checks
 * that web session by its X-APPLE-WEBAUTH-TOKEN cookie (docs/protocol.md §5, §6).
 */
import type http from 'node:http'
import { type FakeAccount } from './accounts.js'
import { setCookie } from './cookies.js'
import { sendJson, type FakeRequest, type Handler } from './core.js'
import { DAY_MS, UNTRUSTED_WEB_SESSION_MS, type FakeState, type WebSession } from './state.js'

export function setupHandler(state: FakeState): Handler {
  return (req, res) => {
    if (req.method === 'POST' && req.rest === 'accountLogin') return accountLogin(state, req, res)
    if (req.method === 'POST' && req.rest === 'validate') return validate(state, req, res)
    return false
  }
}

function accountLogin(state: FakeState, req: FakeRequest, res: http.ServerResponse): true {
  // icloudpd sends no Content-Type here, so none is required.
  let body: Record<string, unknown>
  try {
    const parsed = JSON.parse(req.body.toString('utf8')) as unknown
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error('not an object')
    body = parsed as Record<string, unknown>
  } catch {
    return sendJson(res, 400, { success: false, error: 'fake iCloud: body is not a JSON object' })
  }
  const tok = state.liveSessionToken(body.dsWebAuthToken)
  const account = tok && state.accounts.get(tok.accountKey)
  // A repair still owed leaves the token unusable.
  if (!tok || !account || tok.kind === 'repair') return sessionGone(res)
  // Apple's answer for an account of the other domain: a 302 with a JSON body and no Location.
  if (account.domainToUse) return sendJson(res, 302, { domainToUse: account.domainToUse })

  const key = tok.accountKey
  // The token's own trust, or the stored trust token sent alongside (kei re-uses both across runs).
  const trust = state.trustLive(tok.trust, key) ? tok.trust : state.findTrust([body.trustToken], key)
  const extended = body.extended_login === true
  const now = state.now()
  if (account.hsaVersion === 0) {
    const w = state.newWebSession(account, undefined, now + state.settings.trustDays * DAY_MS)
    return answer(state, res, account, w, { challenge: false, trusted: false }, extended)
  }
  if (trust) {
    const w = state.newWebSession(account, trust, trust.expiresAt)
    return answer(state, res, account, w, { challenge: false, trusted: true }, extended)
  }
  if (tok.kind === 'verified') {
    const w = state.newWebSession(account, undefined, now + UNTRUSTED_WEB_SESSION_MS)
    return answer(state, res, account, w, { challenge: false, trusted: false }, extended)
  }
  // 2FA still owed (or the trust expired): no service cookies, so CloudKit answers
  // "Missing X-APPLE-WEBAUTH-TOKEN cookie".
  return answer(state, res, account, undefined, { challenge: true, trusted: false }, extended)
}

function validate(state: FakeState, req: FakeRequest, res: http.ServerResponse): true {
  if (req.body.toString('utf8').trim() !== 'null') {
    return sendJson(res, 400, { success: false, error: 'fake iCloud: validate expects the body null' })
  }
  const w = state.webSessionFor(req.headers)
  const account = w && state.accounts.get(w.accountKey)
  if (!w || !account) return sessionGone(res)
  return answer(state, res, account, w, { challenge: false, trusted: w.trusted }, true)
}

function sessionGone(res: http.ServerResponse): true {
  return sendJson(res, 421, { success: false, error: 'Missing X-APPLE-WEBAUTH-TOKEN cookie' })
}

function answer(
  state: FakeState,
  res: http.ServerResponse,
  account: FakeAccount,
  w: WebSession | undefined,
  flags: { challenge: boolean; trusted: boolean },
  extended: boolean,
): true {
  return sendJson(res, 200, loginBody(state, account, flags, extended), { 'set-cookie': cookiesFor(w) })
}

function cookiesFor(w: WebSession | undefined): string[] {
  const login = setCookie({ name: 'X-APPLE-WEBAUTH-LOGIN', value: w?.values.login ?? '"v=1:t=pending~~"' })
  if (!w) return [login]
  const exp = w.expiresAt
  return [
    setCookie({ name: 'X-APPLE-WEBAUTH-USER', value: w.values.user, expiresAt: exp }),
    setCookie({ name: 'X-APPLE-WEBAUTH-TOKEN', value: w.cookie, expiresAt: exp }),
    setCookie({ name: 'X-APPLE-DS-WEB-SESSION-TOKEN', value: w.values.dsWebSession, expiresAt: exp }),
    ...(w.values.hsaTrust
      ? [setCookie({ name: 'X-APPLE-WEBAUTH-HSA-TRUST', value: w.values.hsaTrust, expiresAt: exp })]
      : []),
    setCookie({ name: 'X-APPLE-WEBAUTH-VALIDATE', value: w.values.validate, httpOnly: false }),
    login,
  ]
}

function loginBody(
  state: FakeState,
  account: FakeAccount,
  flags: { challenge: boolean; trusted: boolean },
  extended: boolean,
): Record<string, unknown> {
  const cn = state.settings.domain === 'cn'
  const svc = (name: string, pcsRequired = false): Record<string, unknown> => ({
    url: `${state.url}/${name}`,
    status: 'active',
    ...(pcsRequired ? { pcsRequired: true } : {}),
  })
  const [firstName, ...rest] = account.fullName.split(' ')
  return {
    dsInfo: {
      dsid: account.dsid,
      appleId: account.appleId,
      primaryEmail: account.appleId,
      fullName: account.fullName,
      firstName,
      lastName: rest.join(' '),
      countryCode: account.countryCode,
      languageCode: cn ? 'zh-cn' : 'en-us',
      locale: cn ? 'zh_CN' : 'en_US',
      hsaVersion: account.hsaVersion,
      hsaEnabled: account.hsaVersion > 0,
      hasICloudQualifyingDevice: account.hasICloudQualifyingDevice,
      isWebAccessAllowed: account.isWebAccessAllowed,
      iCDPEnabled: account.iCDPEnabled,
      isManagedAppleID: false,
      locked: false,
      primaryEmailVerified: true,
      statusCode: 2,
      appleIdAliases: [],
    },
    webservices: {
      ckdatabasews: svc('ckdatabasews', true),
      photos: { ...svc('photos'), uploadUrl: `${state.url}/photosupload` },
      photosupload: svc('photosupload', true),
      cksharews: svc('cksharews'),
      sharedlibrary: svc('sharedlibrary'),
      drivews: svc('drivews', true),
      docws: svc('docws', true),
      account: svc('account'),
      findme: svc('findme'),
      push: svc('push'),
      contacts: svc('contacts'),
      calendar: svc('calendar'),
    },
    hsaChallengeRequired: flags.challenge,
    hsaTrustedBrowser: flags.trusted,
    isExtendedLogin: extended,
    iCDPEnabled: account.iCDPEnabled,
    pcsEnabled: true,
    pcsServiceIdentitiesIncluded: true,
    hasMinimumDeviceForPhotosWeb: true,
    configBag: {
      urls: { accountLogin: `${state.url}/setup/ws/1/accountLogin`, accountLoginUI: `${state.url}/` },
      accountCreateEnabled: true,
    },
    requestInfo: { country: account.countryCode, timeZone: cn ? 'GMT+8' : 'GMT', region: cn ? 'CN' : 'US' },
    apps: { photos: {}, iclouddrive: {}, find: {} },
    version: 2,
  }
}
