/**
 * SRP sign-in against idmsa (docs/protocol.md §3): signin/init → signin/complete, one attempt. The outcome
 * says whether Apple still wants a second factor; repair (412) is handled here too.
 */
import { AppError } from '../core/errors.js'
import type { HttpResponse } from './http.js'
import { computeClientProof, createClientEphemeral, type SrpProtocol } from './srp.js'
import { throttled } from './account.js'
import type { ICloudSession } from './session.js'

export type SigninOutcome = { kind: 'ok' } | { kind: 'needs-mfa' }

/** Longest Retry-After we honour in-process; longer waits end the run as THROTTLED. */
const MAX_RETRY_AFTER_S = 30

export async function srpSignin(
  session: ICloudSession,
  password: string,
  log: { debug(m: string): void },
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<SigninOutcome> {
  const accountName = session.username
  const { a, A, Abase64 } = createClientEphemeral()
  const origin = session.endpoints.authRoot
  const initBody = JSON.stringify({ a: Abase64, accountName, protocols: ['s2k', 's2k_fo'] })

  // init carries no proof of the password, so one retry after a 503/429 is safe.
  let init = await post(session, `${session.endpoints.auth}/signin/init`, initBody, origin)
  if (init.status === 503 || init.status === 429) {
    const wait = Number(init.header('retry-after'))
    await init.discard()
    if (Number.isFinite(wait) && wait > MAX_RETRY_AFTER_S) throw throttled(init)
    await sleep((Number.isFinite(wait) && wait > 0 ? wait : 5) * 1000)
    init = await post(session, `${session.endpoints.auth}/signin/init`, initBody, origin)
  }
  if (init.status === 503 || init.status === 429) throw throttled(init)
  if (init.status === 401) {
    await init.discard()
    throw new AppError(
      'SRP_INIT_REJECTED',
      'Apple rejected the start of the sign-in (HTTP 401 at signin/init); this is about the session context, not the password.',
      'Try again later; if it repeats, reset the session (`icloud-photos-action session reset`).',
    )
  }
  if (init.status !== 200) throw await unexpected(init, 'signin/init')
  const ij = (await init.json()) as Record<string, unknown>
  const protocol = ij.protocol
  const salt = typeof ij.salt === 'string' ? Buffer.from(ij.salt, 'base64') : undefined
  const B = typeof ij.b === 'string' ? Buffer.from(ij.b, 'base64') : undefined
  const iterations = Number(ij.iteration)
  if ((protocol !== 's2k' && protocol !== 's2k_fo') || !salt || !B || !Number.isInteger(iterations)) {
    throw new AppError(
      'PROTOCOL_ERROR',
      'Apple answered signin/init with an unexpected body.',
      "This may be a change on Apple's side; please report it.",
    )
  }
  const { m1, m2 } = computeClientProof({
    accountName,
    password,
    salt,
    iterations,
    protocol: protocol as SrpProtocol,
    a,
    A,
    B,
  })
  const completeBody = JSON.stringify({
    accountName,
    c: ij.c,
    m1: m1.toString('base64'),
    m2: m2.toString('base64'),
    rememberMe: true,
    trustTokens: session.data.trust_token ? [session.data.trust_token] : [],
  })
  const complete = await post(
    session,
    `${session.endpoints.auth}/signin/complete?isRememberMeEnabled=true`,
    completeBody,
    origin,
  )
  switch (complete.status) {
    case 200:
      await complete.discard()
      return { kind: 'ok' }
    case 409: {
      const body = (await complete.json().catch(() => ({}))) as Record<string, unknown>
      const keyNames = Array.isArray(body.keyNames) ? body.keyNames.map(String) : []
      if (body.fsaChallenge || keyNames.length) {
        throw new AppError(
          'SECURITY_KEY_UNSUPPORTED',
          `This Apple ID uses security keys for two-factor authentication${keyNames.length ? ` (${keyNames.join(', ')})` : ''}, which the iCloud web sign-in used here cannot complete.`,
          'Remove the security keys from the Apple ID (Settings → [your name] → Sign-In & Security) to use device codes, as with icloudpd.',
        )
      }
      return { kind: 'needs-mfa' }
    }
    case 412: {
      await complete.discard()
      const repair = await post(
        session,
        `${session.endpoints.auth}/repair/complete`,
        '{}',
        session.endpoints.home,
      )
      await repair.discard()
      if (repair.status >= 200 && repair.status < 300) return { kind: 'ok' }
      throw new AppError(
        'REPAIR_REQUIRED',
        'Apple requires an action on this Apple ID before it can sign in (terms, password change or account repair).',
        'Sign in at https://appleid.apple.com or on icloud.com in a browser, complete what Apple asks, then run again.',
      )
    }
    case 401: {
      await complete.discard()
      // A salt is fixed per account; its first byte tells whether icloudpd's salt rule applies (§3.2).
      log.debug(`signin/complete 401; salt first byte 0x${salt[0]?.toString(16).padStart(2, '0')}`)
      throw new AppError(
        'BAD_PASSWORD',
        'Invalid email/password combination.',
        'Check the password source (action input, keyring or environment variable); the run makes no second attempt, to avoid locking the account.',
      )
    }
    case 403:
      await complete.discard()
      throw new AppError(
        'ACCOUNT_LOCKED',
        'Apple refused the sign-in: the Apple ID appears to be locked.',
        'Unlock it at https://iforgot.apple.com, then sign in again locally.',
      )
    case 429:
    case 503:
      throw throttled(complete)
    default:
      throw await unexpected(complete, 'signin/complete')
  }
}

async function post(
  session: ICloudSession,
  url: string,
  body: string,
  origin: string,
): Promise<HttpResponse> {
  return session.http.request({ method: 'POST', url, headers: session.authHeaders(origin), body })
}

export async function unexpected(res: HttpResponse, call: string): Promise<AppError> {
  await res.discard()
  if (res.status >= 500) {
    return new AppError(
      'NETWORK',
      `Apple answered ${call} with HTTP ${res.status}.`,
      "This is a fault on Apple's side; the next run will try again.",
    )
  }
  return new AppError(
    'PROTOCOL_ERROR',
    `Apple answered ${call} with an unexpected HTTP ${res.status}.`,
    "This may be a change on Apple's side; please report it.",
  )
}
