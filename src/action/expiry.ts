/** The trust-expiry warning: an annotation and, once per expiry date, a notification. */
import type { RunContext } from './context.js'
import type { AuthResult } from '../icloud/auth.js'
import { markNotified, notifyAll, shouldNotifyExpiring } from '../notify/dispatch.js'
import type { NotificationEvent } from '../notify/event.js'

export async function handleExpiry(
  auth: AuthResult,
  ctx: RunContext,
  bundleState: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const { config, settings, channels, report, log } = ctx
  const { daysRemaining, expiresAt } = auth.trust
  if (daysRemaining === undefined || !expiresAt) return bundleState
  const when = expiresAt.toISOString()
  log.info(`2FA trust expires ${when} (${daysRemaining} days left, from ${auth.trust.source}).`)
  if (daysRemaining > config.notifications.warnDays) return bundleState
  report.status = 'warning'
  log.warning(
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
