/**
 * The session half of a run: restore it (cache or seed), then sign in with it, or re-authenticate
 * from scratch (`mode: reauth`) with the code asked for in a GitHub issue.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { Inputs } from './constants.js'
import type { Settings } from './inputs.js'
import type { ActionLog, Log } from './log.js'
import { readSessionFiles, writeSessionFiles } from '../icloud/session-files.js'
import type { Config } from '../config/index.js'
import { authenticate, type AuthResult } from '../icloud/auth.js'
import { endpointsFor } from '../icloud/endpoints.js'
import { AppError } from '../core/errors.js'
import { createPasswordProviders } from '../providers/passwords.js'
import { githubIssueMfa, type GitHubIssueMfa } from '../providers/github-issue-mfa.js'
import { GitHubClient } from '../github/client.js'
import { ActionsCacheBackend, type CacheBackend } from '../session-cache/backend.js'
import { restoreSession, type RestoreResult } from '../session-cache/session-cache.js'
import type { SessionBundle } from '../session-cache/blob.js'
import { sessionPaths } from '../icloud/session-store.js'
import { basename } from 'node:path'

export async function restore(
  settings: Settings,
  config: Config,
  cache: CacheBackend | undefined,
  log: Log,
): Promise<RestoreResult> {
  if (!config.session.cache && !(config.session.seedFromInput && settings.session))
    return { source: 'none', reason: 'disabled' }
  return restoreSession({
    backend: config.session.cache ? (cache ?? new ActionsCacheBackend()) : disabledCache,
    key: settings.sessionKey,
    repository: settings.repository,
    account: config.account.username,
    ownsLegacyBundle: (bundle) => ownsSession(bundle, config),
    runnerOs: settings.runnerOs,
    runId: settings.runId,
    runAttempt: settings.runAttempt,
    seed: config.session.seedFromInput ? settings.session : undefined,
    tmpDir: settings.cacheTmpDir,
    log,
  })
}

/** A session bundle is this account's when it holds the cookie jar named for its Apple ID. */
export function ownsSession(bundle: SessionBundle, config: Config): boolean {
  const jar = basename(sessionPaths(config.auth.cookieDirectory, config.account.username).jarPath)
  return Object.hasOwn(bundle.files, jar)
}

const disabledCache: CacheBackend = {
  isAvailable: () => false,
  restore: async () => undefined,
  save: async () => false,
}

export async function signIn(
  settings: Settings,
  config: Config,
  log: ActionLog,
  now: () => number,
  cookieDirectory: string,
  mfa: GitHubIssueMfa | undefined,
): Promise<AuthResult> {
  const providers = createPasswordProviders(config.auth.passwordProviders, {
    parameter: settings.password,
    passwordEnv: config.auth.passwordEnv,
    passwordCommand: config.auth.passwordCommand,
    // Never the OS keyring or a prompt in CI: nobody can unlock or answer them.
    interactive: false,
    log,
  })
  return authenticate({
    username: config.account.username,
    cookieDirectory,
    endpoints: endpointsFor(config.account.domain),
    passwordProviders: providers,
    mfa,
    log,
    // authenticate registers only real secret values (never `true`, numbers, dates) and the password.
    registerSecret: (v) => v && log.secret(v),
    now,
  })
}

/**
 * `mode: reauth` always asks in a GitHub issue, whatever `auth.mfa-provider` says: that is the one
 * way to get a code into a workflow run. So scheduled runs can keep `mfa-provider: none` (fail and
 * notify, never push a prompt nobody expects) while the re-auth workflow still asks. Without a
 * token nobody could be asked.
 */
export function checkReauthSetup(settings: Settings): void {
  if (!settings.githubToken) {
    throw new AppError(
      'CONFIG_INVALID',
      `\`mode: reauth\` needs the \`${Inputs.GithubToken}\` input to open the issue that asks for the code.`,
      `Pass \`${Inputs.GithubToken}: \${{ github.token }}\` (the default) and give the workflow \`permissions: issues: write\`.`,
    )
  }
}

/** The `github-issue` provider when configured (or re-authenticating) and a token is there; otherwise a needed code fails the run. */
export function mfaProvider(config: Config, settings: Settings, log: ActionLog): GitHubIssueMfa | undefined {
  if (config.auth.mfaProvider !== 'github-issue' && settings.mode !== 'reauth') return undefined
  if (!settings.githubToken) {
    log.warning(
      `\`auth.mfa-provider\` is github-issue, but there is no \`${Inputs.GithubToken}\` input: if Apple asks for a code, the run fails instead of asking in an issue.`,
    )
    return undefined
  }
  const issue = config.notifications.githubIssue
  return githubIssueMfa({
    client: new GitHubClient({
      token: settings.githubToken,
      repository: settings.repository,
      apiUrl: settings.apiUrl,
    }),
    username: config.account.username,
    labels: issue.labels,
    assignees: issue.assignees,
    timeoutMs: scaled(config.auth.reauthTimeoutMinutes, 60_000),
    pollMs: scaled(config.auth.reauthPollSeconds, 1000),
    runUrl: settings.runUrl,
    repository: settings.repository,
    log,
    registerSecret: (v) => log.secret(v),
  })
}

const scaled = (v: number | undefined, unit: number): number | undefined =>
  v === undefined ? undefined : v * unit

/**
 * `mode: reauth`: a fresh sign-in in a scratch directory. Without the stored trust token Apple
 * asks for a code even while the old trust is valid, so the trust is renewed ahead of expiry; and
 * the stored session is only replaced once the new one is trusted, so a run that times out leaves
 * it (and the cache) as it was.
 */
export async function reauthenticate(
  settings: Settings,
  config: Config,
  log: ActionLog,
  now: () => number,
  mfa: GitHubIssueMfa | undefined,
): Promise<AuthResult> {
  log.info(
    'Re-authenticating: a fresh sign-in with the password, then a two-factor code asked for in an issue.',
  )
  await mkdir(settings.runnerTemp, { recursive: true })
  const scratch = await mkdtemp(`${settings.cacheTmpDir}-reauth-`)
  try {
    const auth = await signIn(settings, config, log, now, scratch, mfa)
    const files = await readSessionFiles(scratch, config.account.username)
    await writeSessionFiles(config.auth.cookieDirectory, config.account.username, files)
    log.info('The renewed session replaced the stored one.')
    return auth
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}
