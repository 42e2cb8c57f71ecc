/**
 * `status`: is the stored session still good, and for how long? Only the no-password paths run
 * (validate, then the stored trust token): no password provider and no MFA provider are passed, so
 * it never signs in and never asks for anything. The exit code tells scripts the answer.
 */
import { authenticate, type AuthResult } from '../icloud/auth.js'
import { endpointsFor } from '../icloud/endpoints.js'
import { isAppError } from '../core/errors.js'
import { loadSession, sessionPaths } from '../icloud/session-store.js'
import type { TrustEstimate } from '../icloud/trust.js'
import { command, describeTrust, hint } from './format.js'
import { cliLog, ExitCode, line, type CliIo } from './io.js'
import { resolveConfig } from './options.js'

export interface StatusOptions extends Record<string, unknown> {
  json?: boolean
  verbose?: boolean
}

interface StatusReport {
  username: string
  cookieDirectory: string
  valid: boolean
  /** How the session was confirmed: Apple accepted the cookies, or the stored trust token. */
  method?: AuthResult['method']
  trustExpiresAt?: string
  daysRemaining?: number
  warnDays: number
  /** Why the session is not usable. */
  problem?: string
  exitCode: number
}

/** Apple (or the files) said no: a new sign-in with a code is needed. Anything else is an error. */
const EXPIRED_CODES = new Set(['NO_PASSWORD', 'MFA_REQUIRED', 'SESSION_INVALID'])

export async function status(opts: StatusOptions, io: CliIo): Promise<number> {
  const config = await resolveConfig(opts)
  const username = config.account.username
  const dir = sessionPaths(config.auth.cookieDirectory, username).dir
  const warnDays = config.notifications.warnDays
  const report: StatusReport = {
    username,
    cookieDirectory: dir,
    valid: false,
    warnDays,
    exitCode: ExitCode.Expired,
  }

  let trust: TrustEstimate | undefined
  const loaded = await loadSession(config.auth.cookieDirectory, username)
  if (loaded.status === 'missing') report.problem = `there is no session for ${username} in ${dir}`
  else if (loaded.status === 'broken') report.problem = `the session files cannot be read: ${loaded.problem}`
  else {
    let auth: AuthResult | undefined
    try {
      auth = await authenticate({
        username,
        cookieDirectory: config.auth.cookieDirectory,
        endpoints: endpointsFor(config.account.domain, io.env),
        passwordProviders: [],
        mfa: undefined,
        log: cliLog(io, Boolean(opts.verbose)),
        now: io.now,
      })
    } catch (err) {
      if (!isAppError(err) || !EXPIRED_CODES.has(err.code)) throw err
      report.problem =
        err.code === 'SESSION_INVALID'
          ? 'Apple no longer accepts the stored session'
          : 'the 2FA trust has expired or was revoked: Apple wants a new sign-in with a code'
    }
    if (auth) {
      await auth.session.close()
      trust = auth.trust
      Object.assign(report, {
        valid: true,
        method: auth.method,
        trustExpiresAt: trust.expiresAt?.toISOString(),
        daysRemaining: trust.daysRemaining,
      })
      const days = trust.daysRemaining
      report.exitCode = days !== undefined && days <= warnDays ? ExitCode.Expiring : ExitCode.Ok
    }
  }

  if (opts.json) {
    line(io.stdout, JSON.stringify(report, null, 2))
    return report.exitCode
  }
  if (trust) {
    line(io.stdout, `Session for ${username}: valid.`)
    line(io.stdout, describeTrust(trust))
    if (report.exitCode === ExitCode.Expiring) {
      hint(
        io.stdout,
        `that is within ${warnDays} days: renew it now with ${command(`login --force --username ${username}`)}, then ${command(`session export --username ${username} --repo <owner/name>`)} for CI.`,
      )
    }
  } else {
    line(io.stdout, `Session for ${username}: not usable — ${report.problem}.`)
    hint(io.stdout, `sign in again: ${command(`login --username ${username}`)}`)
  }
  return report.exitCode
}
