/** Builds the notification channels a run uses from the config and the secret inputs. */
import type { Config } from '../config/index.js'
import type { Channel } from '../notify/dispatch.js'
import { emailChannel } from '../notify/email.js'
import { githubIssueChannel } from '../notify/github-issue.js'
import { webhookChannel } from '../notify/webhook.js'
import { scriptChannel } from '../notify/script.js'
import { Inputs } from './constants.js'
import type { Settings } from './inputs.js'

/**
 * Channels the config turns on but whose secret input is empty: each would fail (email) or be
 * dropped (webhook) exactly when a notification is due. One message per channel, naming the input.
 * A warning, not an error: the backup itself works, and runs without secrets (pull requests from
 * forks, Dependabot) must still be able to validate the config.
 */
export function channelProblems(config: Config, s: Settings): string[] {
  const n = config.notifications
  const problems: string[] = []
  // Without `smtp-username` the server takes mail without a login, so no password is needed.
  if (n.email?.smtpUsername && !s.smtpPassword) {
    problems.push(
      `Email notifications are configured (\`notifications.email\` with \`smtp-username\`), but the \`${Inputs.SmtpPassword}\` input is empty: the mail will fail when it is needed. Pass \`${Inputs.SmtpPassword}: \${{ secrets.SMTP_PASSWORD }}\` (the SMTP password, e.g. a Gmail app password), or remove \`smtp-username\` for a server that needs no login.`,
    )
  }
  if (n.webhook.configured && !s.webhookUrl) {
    problems.push(
      `Webhook notifications are configured (\`notifications.webhook\`), but the \`${Inputs.WebhookUrl}\` input is empty: no webhook will be sent. Pass \`${Inputs.WebhookUrl}: \${{ secrets.WEBHOOK_URL }}\` (for ntfy, the topic URL such as https://ntfy.sh/<topic>), or remove \`notifications.webhook\`.`,
    )
  }
  if (n.githubIssue.enabled && !s.githubToken) {
    problems.push(
      `GitHub issue notifications are enabled (\`notifications.github-issue\`), but the \`${Inputs.GithubToken}\` input is empty: no issue will be opened. Leave \`${Inputs.GithubToken}\` at its default (\`\${{ github.token }}\`) and give the workflow \`permissions: issues: write\`.`,
    )
  }
  return problems
}

export function buildChannels(config: Config, s: Settings, log?: { warning(m: string): void }): Channel[] {
  if (log) for (const p of channelProblems(config, s)) log.warning(p)
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
