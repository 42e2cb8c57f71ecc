/** Builds the notification channels a run uses from the config and the secret inputs. */
import type { Config } from '../config/index.js'
import type { Channel } from '../notify/dispatch.js'
import { emailChannel } from '../notify/email.js'
import { githubIssueChannel } from '../notify/github-issue.js'
import { webhookChannel } from '../notify/webhook.js'
import { scriptChannel } from '../notify/script.js'
import type { Settings } from './inputs.js'

export function buildChannels(config: Config, s: Settings): Channel[] {
  const n = config.notifications
  const channels: Channel[] = []
  if (n.email) channels.push(emailChannel({ ...n.email, smtpPassword: s.smtpPassword }))
  if (n.githubIssue.enabled && s.githubToken) {
    channels.push(
      githubIssueChannel({
        token: s.githubToken,
        repository: s.repository,
        apiUrl: s.apiUrl,
        labels: n.githubIssue.labels,
        assignees: n.githubIssue.assignees,
      }),
    )
  }
  if (s.webhookUrl) channels.push(webhookChannel({ url: s.webhookUrl, format: n.webhook.format }))
  if (n.script) channels.push(scriptChannel({ command: n.script, cwd: s.workspace }))
  return channels
}
