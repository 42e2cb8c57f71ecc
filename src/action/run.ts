/**
 * The action's main step: inputs → config → session (cache or seed) → sign-in → trust expiry →
 * photos → outputs, summary and report. One setFailed at most; notifications never hide the error.
 */
import * as core from '@actions/core'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { Inputs, State } from './constants.js'
import { readSettings, type GetInput, type Settings } from './inputs.js'
import { actionsLog, type Log } from './log.js'
import { actionsState, type StateProvider } from './state.js'
import { buildChannels, channelProblems } from './channels.js'
import { readSessionFiles, writeSessionFiles } from './session-files.js'
import { writeReport, type RunReport } from './report.js'
import { runPhotos } from './photos-step.js'
import { runVerify } from './verify-step.js'
import { PendingState } from './checkpoint.js'
import { cancelledRun, throwIfCancelled } from './cancel.js'
import type { Cancellation } from '../util/signals.js'
import {
  applyInputOverrides,
  findConfigIssues,
  isConfigError,
  loadConfig,
  parseConfig,
  readConfigText,
  type Config,
  type ConfigIssue,
} from '../config/index.js'
import { authenticate, type AuthResult } from '../icloud/auth.js'
import { endpointsFor } from '../icloud/endpoints.js'
import { ICloudError, isICloudError } from '../icloud/errors.js'
import { createPasswordProviders } from '../providers/passwords.js'
import { githubIssueMfa, type GitHubIssueMfa } from '../providers/github-issue-mfa.js'
import { GitHubClient } from '../notify/github-client.js'
import { ActionsCacheBackend, type CacheBackend } from '../session-cache/backend.js'
import { restoreSession, type RestoreResult } from '../session-cache/session-cache.js'
import {
  clearProblem,
  markNotified,
  markProblemNotified,
  notifyAll,
  shouldNotifyExpiring,
  shouldNotifyProblem,
  type Channel,
} from '../notify/dispatch.js'
import { maskAppleId, type NotificationEvent } from '../notify/event.js'
import { photosOutcome } from '../photos/outcome.js'
import type { FileProblem } from '../photos/sync.js'

/** What main and post take from outside; tests pass their own (actions/cache's StateProvider idea). */
export interface StepDeps {
  getInput?: GetInput
  env?: NodeJS.ProcessEnv
  state?: StateProvider
  log?: Log
  cache?: CacheBackend
  now?: () => number
  /** SIGINT/SIGTERM, forwarded by the launcher (main.ts). */
  cancel?: Cancellation
}

/** Written by main, read by post: the non-file half of the encrypted bundle. */
export const PENDING_STATE_FILE = 'pending-state.json'

export async function run(deps: StepDeps = {}): Promise<RunReport> {
  const env = deps.env ?? process.env
  const state = deps.state ?? actionsState
  // The Apple ID is shown masked everywhere; once it is known, no log line carries it in full.
  let appleId: string | undefined
  const log = redactingLog(deps.log ?? actionsLog, () => appleId)
  const now = deps.now ?? Date.now
  state.set(State.IsPost, 'true')
  const report: RunReport = {
    version: 1,
    status: 'ok',
    mode: 'sync',
    startedAt: new Date(now()).toISOString(),
  }
  let settings: Settings | undefined
  let config: Config | undefined
  let channels: Channel[] = []
  let bundleState: Record<string, unknown> = {}
  let pending: PendingState | undefined
  let unregister = (): void => undefined
  try {
    settings = readSettings(deps.getInput, env)
    // Until the session is restored there is nothing for post to save: no file, post keeps the cache.
    pending = new PendingState(join(settings.cacheTmpDir, PENDING_STATE_FILE), log)
    await rm(pending.file, { force: true })
    const p = pending
    const c = deps.cancel
    const s = settings
    // A forced exit (second signal, grace period over) leaves the last checkpoint and the outputs.
    unregister =
      c?.onForcedExit(async () => {
        await p.flush()
        cancelledRun(c, report, log)
        report.finishedAt = new Date(now()).toISOString()
        await writeReport(report, s)
      }) ?? unregister
    report.mode = settings.mode
    if (settings.mode === 'validate-config') return await validateOnly(settings, report)
    config = applyInputOverrides(await loadConfig(settings.configPath), {
      directory: settings.directory,
      dryRun: settings.dryRun,
      handOff: settings.handOff,
    })
    report.account = config.account.username
    appleId = config.account.username
    channels = buildChannels(config, settings, log)
    if (settings.mode === 'reauth') checkReauthSetup(settings)
    if ((settings.mode === 'sync' || settings.mode === 'verify') && !config.photos.directory) {
      throw new ICloudError(
        'CONFIG_INVALID',
        `No download directory: set \`photos.directory\` in ${relative(settings.workspace, config.file) || config.file} or the \`${Inputs.Directory}\` input.`,
        '',
      )
    }

    if (settings.mode === 'verify') {
      await runVerify(config, settings.repair, log, report)
      if (!settings.repair) return report // no sign-in: the check is local
    }

    // Session: cache → seed → whatever is already in the cookie directory (self-hosted runners).
    const cookieDirectory = config.auth.cookieDirectory
    state.set(State.CookieDirectory, cookieDirectory)
    state.set(State.Username, config.account.username)
    state.set(State.SessionCache, String(config.session.cache))
    const restored = await restore(settings, config, deps.cache, log)
    if (restored.bundle) {
      bundleState = restored.bundle.state
      const n = await writeSessionFiles(cookieDirectory, config.account.username, restored.bundle.files)
      log.info(
        `Session restored from the ${restored.source === 'cache' ? 'Actions cache' : '`session` input'} (${n} files).`,
      )
    }
    report.session = { source: restored.source, method: undefined, srpAttempts: 0 }
    if (restored.cacheKey) state.set(State.SessionCacheKey, restored.cacheKey)
    if (restored.fingerprint) state.set(State.SessionFingerprint, restored.fingerprint)
    if (restored.savedAt) state.set(State.SessionSavedAt, String(restored.savedAt))
    // From here on, post saves at least what was restored, whenever this step ends.
    await pending.write(bundleState)
    throwIfCancelled(deps.cancel)

    const mfa = mfaProvider(config, settings, log)
    let auth: AuthResult
    try {
      auth =
        settings.mode === 'reauth'
          ? await reauthenticate(settings, config, log, now, mfa)
          : await signIn(settings, config, log, now, config.auth.cookieDirectory, mfa)
    } finally {
      await mfa?.cleanup()
    }
    try {
      report.session = { source: restored.source, method: auth.method, srpAttempts: auth.srpAttempts }
      report.trust = {
        expiresAt: auth.trust.expiresAt?.toISOString(),
        daysRemaining: auth.trust.daysRemaining,
        source: auth.trust.source,
      }
      bundleState = await handleExpiry(auth, config, settings, channels, bundleState, report, log)
      await pending.write(bundleState)
      throwIfCancelled(deps.cancel)
      if (settings.mode === 'sync' || settings.mode === 'verify') {
        const p = pending
        const photos = await runPhotos({
          auth,
          config,
          settings,
          bundleState,
          log,
          now,
          signal: deps.cancel?.signal,
          onCheckpoint: (b) => {
            bundleState = b
            return p.write(b)
          },
        })
        bundleState = photos.bundleState
        report.photos = photos.summary
        await pending.write(bundleState)
        throwIfCancelled(deps.cancel)
        bundleState = await photosResult(
          { ...photos.summary, stopReason: photos.stopReason, diskError: photos.diskError },
          config,
          settings,
          channels,
          bundleState,
          report,
          log,
        )
      }
      await recovered(config, channels, report, settings, log)
      if (report.status === 'ok') bundleState = clearProblem(bundleState)
    } finally {
      await auth.session.close()
    }
  } catch (err) {
    if (deps.cancel?.requested) cancelledRun(deps.cancel, report, log)
    else bundleState = await fail(err, report, config, settings, channels, log, bundleState)
  } finally {
    if (pending?.current) {
      await pending.write(bundleState)
      await pending.flush()
    }
    unregister()
    report.finishedAt = new Date(now()).toISOString()
    await writeReport(report, settings)
  }
  return report
}

async function validateOnly(settings: Settings, report: RunReport): Promise<RunReport> {
  // A missing or unreadable file is a ConfigError naming the path (and the checkout / `config` hint).
  const text = await readConfigText(settings.configPath)
  const issues = findConfigIssues(text, settings.configPath)
  if (!issues.length) {
    // What a sync would trip over, checked against the inputs this step was given.
    const config = applyInputOverrides(parseConfig(text, settings.configPath), {
      directory: settings.directory,
    })
    for (const p of channelProblems(config, settings)) core.warning(p, { title: 'Notification not set up' })
    if (!config.photos.directory) issues.push(missingDirectoryIssue(text, settings.configPath))
  }
  if (issues.length) {
    annotate(issues, settings)
    report.status = 'failed'
    report.errorCode = 'CONFIG_INVALID'
    report.message = `${issues.length} problem${issues.length === 1 ? '' : 's'} in ${relative(settings.workspace, settings.configPath)}.`
    core.setFailed(report.message)
  } else core.info(`${relative(settings.workspace, settings.configPath)} is valid.`)
  return report
}

/** `mode: sync` needs somewhere to put the photos; positioned at `photos` when the file has it. */
function missingDirectoryIssue(text: string, file: string): ConfigIssue {
  const line = text.split('\n').findIndex((l) => /^photos:/.test(l)) + 1
  return {
    file,
    line: line || 1,
    column: 1,
    path: line ? 'photos' : '',
    message: `no download directory: \`mode: sync\` needs \`photos.directory\` in this file or the \`${Inputs.Directory}\` input (give this step the same \`${Inputs.Directory}\` as the backup step)`,
  }
}

function annotate(issues: ConfigIssue[], settings?: Settings): void {
  for (const i of issues) {
    const file = settings ? relative(settings.workspace, i.file) || i.file : i.file
    const text = `${file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}${i.suggestion ? ` (did you mean \`${i.suggestion}\`?)` : ''}`
    core.error(text, {
      file,
      startLine: i.line,
      startColumn: i.column,
      endLine: i.endLine,
      endColumn: i.endColumn,
    })
  }
}

async function restore(
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
    runnerOs: settings.runnerOs,
    runId: settings.runId,
    runAttempt: settings.runAttempt,
    seed: config.session.seedFromInput ? settings.session : undefined,
    tmpDir: settings.cacheTmpDir,
    log,
  })
}

const disabledCache: CacheBackend = {
  isAvailable: () => false,
  restore: async () => undefined,
  save: async () => false,
}

async function signIn(
  settings: Settings,
  config: Config,
  log: Log,
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
    registerSecret: (v) => v && core.setSecret(v),
    now,
  })
}

/**
 * `mode: reauth` always asks in a GitHub issue, whatever `auth.mfa-provider` says: that is the one
 * way to get a code into a workflow run. So scheduled runs can keep `mfa-provider: none` (fail and
 * notify, never push a prompt nobody expects) while the re-auth workflow still asks. Without a
 * token nobody could be asked.
 */
function checkReauthSetup(settings: Settings): void {
  if (!settings.githubToken) {
    throw new ICloudError(
      'CONFIG_INVALID',
      `\`mode: reauth\` needs the \`${Inputs.GithubToken}\` input to open the issue that asks for the code.`,
      `Pass \`${Inputs.GithubToken}: \${{ github.token }}\` (the default) and give the workflow \`permissions: issues: write\`.`,
    )
  }
}

/** The `github-issue` provider when configured (or re-authenticating) and a token is there; otherwise a needed code fails the run. */
function mfaProvider(config: Config, settings: Settings, log: Log): GitHubIssueMfa | undefined {
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
    registerSecret: (v) => core.setSecret(v),
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
async function reauthenticate(
  settings: Settings,
  config: Config,
  log: Log,
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

async function handleExpiry(
  auth: AuthResult,
  config: Config,
  settings: Settings,
  channels: Channel[],
  bundleState: Record<string, unknown>,
  report: RunReport,
  log: Log,
): Promise<Record<string, unknown>> {
  const { daysRemaining, expiresAt } = auth.trust
  if (daysRemaining === undefined || !expiresAt) return bundleState
  const when = expiresAt.toISOString()
  log.info(`2FA trust expires ${when} (${daysRemaining} days left, from ${auth.trust.source}).`)
  if (daysRemaining > config.notifications.warnDays) return bundleState
  report.status = 'warning'
  core.warning(
    `The iCloud 2FA trust for this account expires in ${daysRemaining} day${daysRemaining === 1 ? '' : 's'} (${when}). Renew it before then: run \`icloud-photos-action login\` and \`session export\` locally and update the ICLOUD_SESSION secret, or run the re-auth workflow.`,
    { title: 'iCloud session expires soon' },
  )
  if (!shouldNotifyExpiring(bundleState, when)) {
    log.info('The expiry notification for this date was already sent.')
    return bundleState
  }
  const event: NotificationEvent = {
    kind: 'trust-expiring',
    username: config.account.username,
    daysRemaining,
    trustExpiresAt: when,
    message: `The iCloud session used by the backup expires in ${daysRemaining} days.`,
    remediation: RENEW_STEPS,
    runUrl: settings.runUrl,
    repository: settings.repository,
  }
  report.notifications = await notifyAll(channels, event, log)
  return markNotified(bundleState, when)
}

export const RENEW_STEPS = [
  'On your computer: `icloud-photos-action login --username <apple id>` (enter the password and the 2FA code).',
  'Then `icloud-photos-action session export` and paste its output into the ICLOUD_SESSION repository secret (the commands are printed).',
  'Or run the re-auth workflow and answer with the code from your phone.',
]

async function recovered(
  config: Config,
  channels: Channel[],
  report: RunReport,
  settings: Settings,
  log: Log,
): Promise<void> {
  // Only the issue channel has something to close; mail, webhooks and scripts stay quiet when healthy.
  // A warning (trust expiring, failed downloads) keeps the issue open: only a clean run closes it.
  const issue = channels.filter((c) => c.name === 'github-issue')
  if (!issue.length || report.status !== 'ok') return
  await notifyAll(
    issue,
    {
      kind: 'recovered',
      username: config.account.username,
      message: 'The iCloud backup signed in successfully again.',
      remediation: [],
      runUrl: settings.runUrl,
      repository: settings.repository,
    },
    { info: (m) => log.debug(m), warning: (m) => log.warning(m) },
  )
}

async function fail(
  err: unknown,
  report: RunReport,
  config: Config | undefined,
  settings: Settings | undefined,
  channels: Channel[],
  log: Log,
  bundleState: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  report.status = 'failed'
  if (isConfigError(err)) {
    annotate(err.issues, settings)
    report.errorCode = 'CONFIG_INVALID'
    report.message = `The configuration has ${err.issues.length} problem${err.issues.length === 1 ? '' : 's'}; see the annotations.`
    core.setFailed(report.message)
    return bundleState
  }
  const e = isICloudError(err)
    ? err
    : (err as { code?: string }).code === 'CONFIG_INVALID'
      ? new ICloudError('CONFIG_INVALID', (err as Error).message, '')
      : new ICloudError(
          'INTERNAL',
          `Unexpected error: ${(err as Error)?.message ?? String(err)}`,
          'Please report this.',
        )
  const username = config?.account.username
  report.errorCode = e.code
  report.message = redactAppleId(e.describe(), username)
  if (!isICloudError(err)) log.debug((err as Error)?.stack ?? String(err))
  const needsHuman = [
    'MFA_REQUIRED',
    'NO_PASSWORD',
    'BAD_PASSWORD',
    'ACCOUNT_LOCKED',
    'MFA_UNSUPPORTED',
  ].includes(e.code)
  if (config && channels.length && e.code !== 'CONFIG_INVALID') {
    const event: NotificationEvent = {
      kind: needsHuman ? 'mfa-required' : 'failure',
      username: config.account.username,
      errorCode: e.code,
      message: redactAppleId(e.message, username) + filesSample(report.photos?.failures),
      remediation:
        needsHuman && e.code !== 'BAD_PASSWORD' && e.code !== 'ACCOUNT_LOCKED'
          ? RENEW_STEPS
          : [e.remediation].filter(Boolean),
      runUrl: settings?.runUrl,
      repository: settings?.repository,
    }
    bundleState = await notifyProblem(channels, event, bundleState, report, log)
  }
  core.setFailed(`[${e.code}] ${report.message}`)
  return bundleState
}

/** Problems a run can repeat every schedule: notified once until a clean run, then again. */
const ONCE_PER_PROBLEM = new Set(['DOWNLOAD_FAILED', 'THROTTLED', 'DISK', 'LOCKED'])

async function notifyProblem(
  channels: Channel[],
  event: NotificationEvent,
  bundleState: Record<string, unknown>,
  report: RunReport,
  log: Log,
): Promise<Record<string, unknown>> {
  const problem = event.errorCode
  if (!problem || !ONCE_PER_PROBLEM.has(problem)) {
    report.notifications = await notifyAll(channels, event, log)
    return bundleState
  }
  if (!shouldNotifyProblem(bundleState, problem)) {
    log.info(`The ${problem} notification was already sent; the next clean run closes it.`)
    return bundleState
  }
  report.notifications = await notifyAll(channels, event, log)
  return markProblemNotified(bundleState, problem)
}

/**
 * The photos outcome: files missing fail the run (DOWNLOAD_FAILED, THROTTLED, DISK) unless the
 * owner chose `photos.allow-partial-backup` (then a warning, still notified); a planned stop is
 * `incomplete`. Throws the error of a failing outcome, so `fail` reports it like any other.
 */
async function photosResult(
  result: Parameters<typeof photosOutcome>[0],
  config: Config,
  settings: Settings,
  channels: Channel[],
  bundleState: Record<string, unknown>,
  report: RunReport,
  log: Log,
): Promise<Record<string, unknown>> {
  const outcome = photosOutcome(result, {
    allowPartial: config.photos.allowPartialBackup,
    directory: config.photos.directory,
  })
  if (outcome.status === 'ok') return bundleState
  if (outcome.status === 'failed') {
    if (outcome.error) throw outcome.error
    report.status = 'failed'
    report.message = outcome.note
    core.setFailed(outcome.note ?? 'The run did not finish.')
    return bundleState
  }
  if (outcome.status === 'incomplete') {
    if (report.status === 'ok') report.status = 'incomplete'
    report.message = outcome.note
    log.info(outcome.note ?? '')
    return bundleState
  }
  // allow-partial-backup: green, but said, listed and notified.
  const e = outcome.error!
  report.status = 'warning'
  report.errorCode = e.code
  report.message = e.describe()
  core.warning(`[${e.code}] ${e.describe()}`, { title: 'Files not backed up' })
  if (!channels.length) return bundleState
  return notifyProblem(
    channels,
    {
      kind: 'failure',
      username: config.account.username,
      errorCode: e.code,
      message: e.message + filesSample(result.failures),
      remediation: [e.remediation],
      runUrl: settings.runUrl,
      repository: settings.repository,
    },
    bundleState,
    report,
    log,
  )
}

/** ` Files: a, b, c and 12 more.` for a notification's one line (the report has them all). */
function filesSample(failures: FileProblem[] | undefined, max = 5): string {
  if (!failures?.length) return ''
  const names = failures.slice(0, max).map((f) => f.relPath || `asset ${f.assetId}`)
  const more = failures.length > max ? ` and ${failures.length - max} more` : ''
  return ` Files: ${names.join(', ')}${more}.`
}

/** Replaces the full Apple ID with its masked form (messages built deep in the sign-in code). */
export function redactAppleId(text: string, appleId: string | undefined): string {
  const id = appleId?.trim()
  if (!id || id.length < 3) return text
  return text.split(id).join(maskAppleId(id))
}

function redactingLog(log: Log, appleId: () => string | undefined): Log {
  const r = (m: string) => redactAppleId(m, appleId())
  return {
    info: (m) => log.info(r(m)),
    notice: (m) => log.notice(r(m)),
    warning: (m) => log.warning(r(m)),
    debug: (m) => log.debug(r(m)),
  }
}
