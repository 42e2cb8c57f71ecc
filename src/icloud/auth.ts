/**
 * The sign-in flow (docs/protocol.md §5.3, kei's order): stored session → /validate → accountLogin with the
 * trust token → only then SRP, at most once per run → second factor through the MFA provider → trust →
 * accountLogin → save. Every failure ends as a typed AppError.
 */
import { AppError, isAppError } from '../core/errors.js'
import type { Log } from '../core/log.js'
import { accountLogin, validate, type AccountInfo, type LoginState } from './account.js'
import type { Endpoints } from './endpoints.js'
import { ICloudSession } from './session.js'
import { copySessionAside, loadSession, moveSessionAside } from './session-store.js'
import { srpSignin } from './signin.js'
import { completeSecondFactor } from './twofa.js'
import { estimateTrust, TRUSTED_AT_KEY, type TrustEstimate } from './trust.js'
import type { MfaProvider, PasswordProvider } from './ports.js'
import { maskableValues } from './secrets.js'

export type AuthLog = Pick<Log, 'info' | 'warning' | 'debug'>

export interface AuthenticateOptions {
  username: string
  cookieDirectory: string
  endpoints: Endpoints
  passwordProviders: PasswordProvider[]
  /** undefined: no way to get a code here (CI, `none`) → MFA_REQUIRED. */
  mfa?: MfaProvider
  log: AuthLog
  /** Called with the password that signed in and the provider it came from (keyring write-back). */
  onPasswordAccepted?: (password: string, provider: PasswordProvider) => Promise<void>
  /** Register secrets with the logger (core.setSecret) before anything can print them. */
  registerSecret?: (value: string) => void
  timeoutMs?: number
  now?: () => number
}

export interface AuthResult {
  session: ICloudSession
  account: AccountInfo
  /** How the run got in: no Apple sign-in at all, the stored token, or SRP. */
  method: 'validate' | 'token' | 'srp'
  srpAttempts: number
  trust: TrustEstimate
  /** Set when a broken session directory was moved aside. */
  movedAside?: string[]
}

export async function authenticate(o: AuthenticateOptions): Promise<AuthResult> {
  const now = o.now ?? Date.now
  const loaded = await loadSession(o.cookieDirectory, o.username)
  const movedAside: string[] = []
  if (loaded.status === 'broken') {
    movedAside.push(...(await moveSessionAside(o.cookieDirectory, o.username)))
    o.log.warning(
      `The stored session could not be read (${loaded.problem ?? 'unreadable'}); it was moved aside to ${movedAside.join(', ')} and a fresh sign-in follows.`,
    )
  }
  const registered = new Set<string>()
  // Only real secret values: `trust_eligible: true` or a status number would mask ordinary text.
  const register = (raw: string | undefined): void => {
    for (const v of maskableValues(raw)) {
      if (!o.registerSecret || registered.has(v)) continue
      registered.add(v)
      o.registerSecret(v)
    }
  }
  for (const v of Object.values(loaded.data)) register(v)
  for (const c of await loaded.jar.store.getAllCookies()) register(c.value)
  const session = new ICloudSession(
    o.username,
    o.cookieDirectory,
    o.endpoints,
    loaded.data,
    loaded.jar,
    o.timeoutMs,
  )
  // Tokens are registered the moment Apple hands them out: a run that fails later still saves
  // them (and the post step caches them), so none may wait for the success path to be masked.
  session.http.onResponse((res) => {
    for (const v of Object.values(session.data)) register(v)
    const setCookie = res.headers['set-cookie']
    for (const c of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie])
      register(/^[^=;]*=([^;]*)/.exec(c)?.[1])
  })
  try {
    const result = await signIn(session, o, movedAside)
    const cookies = await session.jar.store.getAllCookies()
    for (const c of cookies) register(c.value)
    for (const v of Object.values(session.data)) register(v)
    await session.save()
    return {
      session,
      ...result,
      trust: estimateTrust(cookies, session.data, now()),
      movedAside: movedAside.length ? movedAside : undefined,
    }
  } catch (err) {
    // Keep what Apple told us (scnt, session id, trust token): the next run builds on it.
    await session.save().catch(() => undefined)
    await session.close()
    throw err
  }
}

async function signIn(
  session: ICloudSession,
  o: AuthenticateOptions,
  movedAside: string[],
): Promise<{ account: AccountInfo; method: AuthResult['method']; srpAttempts: number }> {
  let rejectedTwice = 0
  // 1. The cookies alone (no call to idmsa at all).
  if (
    session.data.session_token ||
    (await session.jar.getCookieString(`${session.endpoints.setup}/validate`))
  ) {
    const v = await validate(session)
    if (v?.state === 'trusted') return { account: v.account, method: 'validate', srpAttempts: 0 }
    o.log.debug(v ? `validate: ${v.state}` : 'validate: stored cookies are stale')
    if (!v) rejectedTwice++
  }
  // 2. The stored session token with the trust token (kei): no password, no code.
  if (session.data.session_token && session.data.trust_token) {
    try {
      const r = await accountLogin(session)
      if (r.state === 'trusted') return { account: r.account, method: 'token', srpAttempts: 0 }
      o.log.debug(`accountLogin with the stored token: ${r.state}`)
    } catch (err) {
      if (!isAppError(err, 'SESSION_INVALID')) throw err
      o.log.debug('accountLogin with the stored token was refused')
      rejectedTwice++
    }
  }
  if (rejectedTwice >= 2) {
    // icloudpd's advice for this is "delete ~/.pyicloud"; do it for the user, keeping a copy. The
    // trust token survives in memory: Apple ignores a dead one, and a live one spares a 2FA code.
    // The files are copied, not moved: until the fresh session is saved over them, a killed run
    // (or a full disk) leaves the old ones — and their trust token — in place.
    const aside = await copySessionAside(session.cookieDirectory, session.username).catch((err: unknown) => {
      o.log.debug(`could not keep a copy of the rejected session: ${(err as Error).message}`)
      return [] as string[]
    })
    await session.reset(['client_id', 'trust_token'])
    movedAside.push(...aside)
    o.log.warning(
      `Apple rejected the stored session twice (validate and accountLogin); it was moved aside${aside.length ? ` to ${aside.join(', ')}` : ''} and a fresh sign-in follows.`,
    )
  }
  // 3. SRP, once.
  const { password, provider } = await firstPassword(o)
  o.registerSecret?.(password)
  // The CLI shows the Apple ID its user typed; the action's log masks it (run.ts redactingLog).
  o.log.info(`Signing in to iCloud as ${o.username} (password from ${provider.name}).`)
  const outcome = await srpSignin(session, password, o.log)
  let r = await accountLogin(session)
  if (outcome.kind === 'needs-mfa' || r.state !== 'trusted') {
    if (r.state === 'needs-2sa') {
      throw new AppError(
        'MFA_UNSUPPORTED',
        'This Apple ID uses the legacy two-step verification, which is not supported.',
        'Turn on two-factor authentication for the Apple ID (Apple has required it for new accounts since 2019).',
      )
    }
    if (!o.mfa) throw mfaRequired(o.username)
    await completeSecondFactor(session, o.mfa, o.log)
    session.data[TRUSTED_AT_KEY] = new Date((o.now ?? Date.now)()).toISOString()
    r = await accountLogin(session)
    if (r.state !== 'trusted') {
      throw new AppError(
        'MFA_FAILED',
        'Apple accepted the code but did not trust this session.',
        'Sign in again; if it repeats, reset the session directory.',
      )
    }
  }
  await o.onPasswordAccepted?.(password, provider)
  return { account: r.account, method: 'srp', srpAttempts: 1 }
}

async function firstPassword(
  o: AuthenticateOptions,
): Promise<{ password: string; provider: PasswordProvider }> {
  for (const provider of o.passwordProviders) {
    const password = await provider.get(o.username)
    if (password) return { password, provider }
    o.log.debug(`password provider ${provider.name}: nothing`)
  }
  const tried = o.passwordProviders.map((p) => p.name).join(', ') || 'none configured'
  throw new AppError(
    'NO_PASSWORD',
    `The stored session needs a fresh sign-in, but no password provider produced a password (tried: ${tried}).`,
    'In CI pass the `password` input from a secret (with `parameter` in `password-providers`), or renew the session locally and update the ICLOUD_SESSION secret.',
  )
}

export function mfaRequired(username: string): AppError {
  return new AppError(
    'MFA_REQUIRED',
    `Apple asks for a two-factor code for ${username}, and no one can enter it here.`,
    'Renew the session on your computer (`icloud-photos-action login` then `session export`) and update the ICLOUD_SESSION secret, or run the re-auth workflow.',
  )
}

export type { LoginState }
