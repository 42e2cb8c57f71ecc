/**
 * How a run ends when something is wrong: annotations, the one setFailed, the report's error code
 * and the notification (once per problem for the ones a schedule repeats); and the issue closed
 * again by a clean run.
 */
import { relative } from 'node:path'
import type { Settings } from './inputs.js'
import { redactAppleId, type ActionLog, type Log } from './log.js'
import type { RunReport } from './report.js'
import { isConfigError, type Config, type ConfigIssue } from '../config/index.js'
import { AppError, isAppError } from '../core/errors.js'
import { markProblemNotified, notifyAll, shouldNotifyProblem, type Channel } from '../notify/dispatch.js'
import type { NotificationEvent } from '../notify/event.js'
import { photosOutcome } from '../photos/outcome.js'
import type { FileProblem } from '../photos/sync.js'
import type { RunContext } from './context.js'
import { RENEW_STEPS } from './expiry.js'

export function annotate(issues: ConfigIssue[], log: ActionLog, settings?: Settings): void {
  for (const i of issues) {
    const file = settings ? relative(settings.workspace, i.file) || i.file : i.file
    const text = `${file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}${i.suggestion ? ` (did you mean \`${i.suggestion}\`?)` : ''}`
    log.error(text, {
      file,
      startLine: i.line,
      startColumn: i.column,
      endLine: i.endLine,
      endColumn: i.endColumn,
    })
  }
}

export async function fail(
  err: unknown,
  report: RunReport,
  config: Config | undefined,
  settings: Settings | undefined,
  channels: Channel[],
  log: ActionLog,
  bundleState: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  report.status = 'failed'
  if (isConfigError(err)) {
    annotate(err.issues, log, settings)
    report.errorCode = 'CONFIG_INVALID'
    report.message = `The configuration has ${err.issues.length} problem${err.issues.length === 1 ? '' : 's'}; see the annotations.`
    log.fail(report.message)
    return bundleState
  }
  const e = isAppError(err)
    ? err
    : new AppError(
        'INTERNAL',
        `Unexpected error: ${(err as Error)?.message ?? String(err)}`,
        'Please report this.',
      )
  const username = config?.account.username
  report.errorCode = e.code
  report.message = redactAppleId(e.describe(), username)
  if (!isAppError(err)) log.debug((err as Error)?.stack ?? String(err))
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
  log.fail(`[${e.code}] ${report.message}`)
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
export async function photosResult(
  result: Parameters<typeof photosOutcome>[0],
  ctx: RunContext,
  bundleState: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const { config, settings, channels, report, log } = ctx
  const outcome = photosOutcome(result, {
    allowPartial: config.photos.allowPartialBackup,
    directory: config.photos.directory,
  })
  if (outcome.status === 'ok') return bundleState
  if (outcome.status === 'failed') {
    if (outcome.error) throw outcome.error
    report.status = 'failed'
    report.message = outcome.note
    log.fail(outcome.note ?? 'The run did not finish.')
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
  log.warning(`[${e.code}] ${e.describe()}`, { title: 'Files not backed up' })
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

export async function recovered({ config, channels, report, settings, log }: RunContext): Promise<void> {
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
