/**
 * `accountLogin` and `validate` (docs/protocol.md §5): the calls that turn Apple's session token into iCloud
 * web cookies, and the flags in their answer that decide whether a second factor is needed.
 */
import { AppError } from '../core/errors.js'
import type { HttpResponse } from './http.js'
import type { ICloudSession } from './session.js'

export interface AccountInfo {
  dsid: string
  /** Service URLs by name (`ckdatabasews`, …), used verbatim. */
  webservices: Record<string, string>
  hsaVersion: number
  hsaChallengeRequired: boolean
  hsaTrustedBrowser: boolean
  hasICloudQualifyingDevice: boolean
}

/** What a successful accountLogin/validate means for the next step. */
export type LoginState = 'trusted' | 'needs-2fa' | 'needs-2sa'

export async function accountLogin(
  session: ICloudSession,
): Promise<{ account: AccountInfo; state: LoginState }> {
  const body = JSON.stringify({
    accountCountryCode: session.data.account_country ?? '',
    dsWebAuthToken: session.data.session_token ?? '',
    extended_login: true,
    trustToken: session.data.trust_token ?? '',
  })
  const res = await session.http.request({
    method: 'POST',
    url: `${session.endpoints.setup}/accountLogin`,
    headers: session.homeHeaders(),
    body,
  })
  return readLogin(res, 'accountLogin')
}

/** `validate` with the stored cookies; undefined when the cookies are stale (not an error). */
export async function validate(
  session: ICloudSession,
): Promise<{ account: AccountInfo; state: LoginState } | undefined> {
  const res = await session.http.request({
    method: 'POST',
    url: `${session.endpoints.setup}/validate`,
    headers: session.homeHeaders(),
    body: 'null',
  })
  if (res.status === 503) throw throttled(res)
  if (res.status < 200 || res.status > 299) {
    await res.discard()
    return undefined
  }
  return readLogin(res, 'validate')
}

async function readLogin(
  res: HttpResponse,
  call: string,
): Promise<{ account: AccountInfo; state: LoginState }> {
  if (res.status === 503) throw throttled(res)
  if (res.status === 421 || res.status === 450 || res.status === 500) {
    await res.discard()
    throw new AppError(
      'SESSION_INVALID',
      `Authentication required for Account (Apple answered ${call} with HTTP ${res.status}).`,
      'The stored session is no longer accepted; a fresh sign-in is needed.',
    )
  }
  if (res.status < 200 || res.status > 299) {
    // Apple answers a wrong domain with 302 and a JSON body naming the right one (no Location).
    const text = await res.text().catch(() => '')
    if (text.includes('domainToUse')) {
      try {
        interpretLogin(JSON.parse(text) as Record<string, unknown>)
      } catch (err) {
        if (err instanceof AppError && err.code === 'WRONG_DOMAIN') throw err
      }
    }
    throw new AppError(
      'PROTOCOL_ERROR',
      `Invalid authentication token (Apple answered ${call} with HTTP ${res.status}).`,
      'Try again later; if it persists, reset the session and sign in again.',
    )
  }
  const json = (await res.json()) as Record<string, unknown>
  return interpretLogin(json)
}

/** Pure: the §5.1 checks on an accountLogin/validate body. */
export function interpretLogin(json: Record<string, unknown>): { account: AccountInfo; state: LoginState } {
  if (!json || typeof json !== 'object') throw badShape('not an object')
  if (typeof json.domainToUse === 'string') {
    const domain = /\.cn$/i.test(json.domainToUse) ? 'cn' : 'com'
    throw new AppError(
      'WRONG_DOMAIN',
      `Apple insists on using ${json.domainToUse} for this account.`,
      `Set \`account.domain: ${domain}\` in the configuration (or --domain ${domain}).`,
    )
  }
  const ds = (json.dsInfo ?? {}) as Record<string, unknown>
  if (typeof ds !== 'object') throw badShape('dsInfo')
  if (ds.isWebAccessAllowed === false || json.iCDPEnabled === true || ds.iCDPEnabled === true) {
    throw new AppError(
      'ADP_OR_WEB_ACCESS_DISABLED',
      'iCloud refuses web access for this account (Advanced Data Protection is on, or "Access iCloud Data on the Web" is off).',
      'On an iPhone: Settings → [your name] → iCloud → turn on "Access iCloud Data on the Web" (with Advanced Data Protection on, web access must be allowed explicitly). icloudpd has the same requirement.',
    )
  }
  const dsid = ds.dsid
  if (typeof dsid !== 'string' && typeof dsid !== 'number') throw badShape('dsInfo.dsid')
  const webservices: Record<string, string> = {}
  for (const [name, v] of Object.entries((json.webservices ?? {}) as Record<string, unknown>)) {
    const url = (v as { url?: unknown } | null)?.url
    if (typeof url === 'string') webservices[name] = url
  }
  const account: AccountInfo = {
    dsid: String(dsid),
    webservices,
    hsaVersion: Number(ds.hsaVersion ?? 0),
    hsaChallengeRequired: json.hsaChallengeRequired === true,
    hsaTrustedBrowser: json.hsaTrustedBrowser === true,
    hasICloudQualifyingDevice: ds.hasICloudQualifyingDevice !== false,
  }
  // icloudpd's requires_2fa / requires_2sa.
  const challenge = account.hsaChallengeRequired || !account.hsaTrustedBrowser
  let state: LoginState = 'trusted'
  if (account.hsaVersion === 2 && challenge && account.hasICloudQualifyingDevice) state = 'needs-2fa'
  else if (account.hsaVersion >= 1 && challenge) state = 'needs-2sa'
  return { account, state }
}

function badShape(what: string): AppError {
  return new AppError(
    'PROTOCOL_ERROR',
    `Apple's account answer has an unexpected shape (${what}).`,
    "This may be a change on Apple's side; please report it.",
  )
}

export function throttled(res: HttpResponse): AppError {
  const ra = Number(res.header('retry-after'))
  return new AppError(
    'THROTTLED',
    'Apple iCloud is temporarily refusing to serve requests (HTTP 503).',
    'Apple throttles clients that retry too often: let the next scheduled run try again; do not rerun in a loop.',
    { retryAfter: Number.isFinite(ra) && ra > 0 ? ra : undefined },
  )
}
