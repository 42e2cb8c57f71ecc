/**
 * The words of a notification, rendered once per medium: a subject line, plain text (email,
 * ntfy) and markdown (GitHub issue, Discord; Slack's mrkdwn dialect). Renderers pick event fields
 * one by one, so anything else a caller attaches to the event object is never printed.
 */
import { maskAppleId, type NotificationEvent } from './event.js'

const PRODUCT = 'iCloud Photos'

export function subjectOf(e: NotificationEvent): string {
  const account = maskAppleId(e.username)
  switch (e.kind) {
    case 'trust-expiring':
      return `${PRODUCT}: sign-in for ${account} ${expiryPhrase(e.daysRemaining)}`
    case 'mfa-required':
      return `${PRODUCT}: two-factor sign-in needed for ${account}`
    case 'failure':
      return `${PRODUCT}: backup failed for ${account}${e.errorCode ? ` (${oneLine(e.errorCode)})` : ''}`
    case 'recovered':
      return `${PRODUCT}: backup for ${account} is working again`
    case 'reauth-request':
      return `${PRODUCT}: verification code needed for ${account}`
  }
}

/** The first sentence of every body; markdown passes the account as a code span (its asterisks are literal). */
export function headlineOf(e: NotificationEvent, account: string = maskAppleId(e.username)): string {
  switch (e.kind) {
    case 'trust-expiring':
      return `The iCloud sign-in for ${account} ${expiryPhrase(e.daysRemaining)}; after that, backups stop until it is renewed.`
    case 'mfa-required':
      return `iCloud wants a new two-factor sign-in for ${account}; backups are stopped until it is renewed.`
    case 'failure':
      return `The iCloud Photos backup for ${account} failed.`
    case 'recovered':
      return `The iCloud Photos backup for ${account} is working again.`
    case 'reauth-request':
      return `A verification code is needed to renew the iCloud sign-in for ${account}.`
  }
}

/** `expires in 5 days`, `expires today`, `has expired`. */
export function expiryPhrase(daysRemaining: number | undefined): string {
  if (daysRemaining === undefined) return 'expires soon'
  const d = Math.floor(daysRemaining)
  if (d < 0) return 'has expired'
  if (d === 0) return 'expires today'
  return `expires in ${d} ${d === 1 ? 'day' : 'days'}`
}

/** Plain text for email, ntfy and scripts. */
export function renderText(e: NotificationEvent): string {
  const lines = [headlineOf(e), '']
  const message = oneLine(e.message)
  if (message) lines.push(message, '')
  for (const [label, value] of facts(e)) lines.push(`${label}: ${value}`)
  if (e.runUrl) lines.push(`Run: ${oneLine(e.runUrl)}`)
  if (e.remediation.length > 0) {
    lines.push('', 'What to do:')
    e.remediation.forEach((step, i) => lines.push(`  ${i + 1}. ${oneLine(step)}`))
  }
  lines.push('', '-- ', 'icloud-photos-action')
  return lines.join('\n')
}

export type MarkdownFlavor = 'github' | 'slack'

/**
 * Markdown body (no heading: the issue title or embed title carries the subject). GitHub and
 * Discord read the same markdown; Slack's mrkdwn differs in bold and links.
 */
export function renderMarkdown(e: NotificationEvent, flavor: MarkdownFlavor = 'github'): string {
  const bold = (s: string): string => (flavor === 'slack' ? `*${s}*` : `**${s}**`)
  const link = (url: string, text: string): string =>
    flavor === 'slack' ? `<${url}|${text}>` : `[${text}](${url})`
  const esc = flavor === 'slack' ? escapeSlack : escapeGitHub
  const lines = [bold(esc(headlineOf(e, code(maskAppleId(e.username))))), '']
  const message = esc(oneLine(e.message))
  if (message) lines.push(message, '')
  for (const [label, value] of facts(e)) {
    // Code spans keep the masked account's asterisks literal and stop @-mentions.
    const shown = label === 'Account' || label === 'Error code' ? code(esc(value)) : esc(value)
    lines.push(`- ${label}: ${shown}`)
  }
  if (e.runUrl) lines.push(`- Run: ${link(oneLine(e.runUrl), 'view the workflow run')}`)
  if (e.remediation.length > 0) {
    lines.push('', bold('What to do'))
    e.remediation.forEach((step, i) => lines.push(`${i + 1}. ${esc(oneLine(step))}`))
  }
  return lines.join('\n')
}

function facts(e: NotificationEvent): Array<[string, string]> {
  const out: Array<[string, string]> = [['Account', maskAppleId(e.username)]]
  if (e.trustExpiresAt !== undefined || e.daysRemaining !== undefined) {
    const when = e.trustExpiresAt ? formatInstant(e.trustExpiresAt) : undefined
    const days = e.daysRemaining === undefined ? undefined : daysLeft(e.daysRemaining)
    out.push(['Sign-in trust', [when && `until ${when}`, days && `(${days})`].filter(Boolean).join(' ')])
  }
  if (e.errorCode) out.push(['Error code', oneLine(e.errorCode)])
  if (e.repository) out.push(['Repository', oneLine(e.repository)])
  return out
}

function daysLeft(days: number): string {
  const d = Math.floor(days)
  if (d < 0) return 'expired'
  return `${d} ${d === 1 ? 'day' : 'days'} left`
}

/** `2026-05-01 00:00 UTC`; an unparseable value is shown as given. */
export function formatInstant(iso: string): string {
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return oneLine(iso)
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
}

export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim()
}

/**
 * GitHub: text must not open an HTML comment (issue markers live in comments). Entities would show
 * literally inside code spans, so nothing else is touched.
 */
function escapeGitHub(s: string): string {
  return s.replace(/<!--/g, '&lt;!--')
}

/** Slack requires &, < and > escaped everywhere (it decodes them back, code spans included). */
function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function code(s: string): string {
  return '`' + s.replace(/`/g, "'") + '`'
}

/** `10 minutes`, `1 minute`, `30 seconds`, `1 minute 30 seconds`. */
export function formatWait(ms: number): string {
  const total = Math.max(1, Math.round(ms / 1000))
  const m = Math.floor(total / 60)
  const s = total % 60
  const part = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`
  if (m && s) return `${part(m, 'minute')} ${part(s, 'second')}`
  return m ? part(m, 'minute') : part(s, 'second')
}

const runLink = (runUrl: string | undefined): string => (runUrl ? ` ([workflow run](${runUrl}))` : '')

/**
 * What the re-auth issue says (providers/github-issue-mfa.ts holds the conversation). The request
 * itself is a `reauth-request` event rendered like every notification; these are its parts and
 * the comments that follow it.
 */
export const reauthText = {
  requestMessage: (codeLength: number): string =>
    `This workflow run signed in with the password and Apple sent a ${codeLength}-digit code to the devices trusted for this Apple ID.`,
  requestSteps: (codeLength: number, waitMs: number, untilIso: string): string[] => [
    'Find the code on your iPhone, iPad or Mac (allow the "Apple Account Sign-In Requested" prompt to see it).',
    `Reply to this issue with a comment holding only the ${codeLength}-digit code. Only replies from people with write, maintain or admin permission on this repository are read.`,
    `This run waits ${formatWait(waitMs)} for the reply (until ${formatInstant(untilIso)}). The comment is deleted as soon as the code was used, and this issue closes itself when the session is trusted again.`,
  ],
  /** Lines offering a text message instead, one per trusted phone. */
  smsOffer: (phones: { id: number; text: string }[]): string[] =>
    phones.length
      ? [
          '**No code on a device?** Reply `sms` to get it by text message instead:',
          '',
          ...phones.map((p) => `- \`sms ${p.id}\`: ${p.text}`),
          '',
        ]
      : [],
  safety:
    '**About safety.** The code alone cannot sign in to the account: it only completes this sign-in, which already used the password, and it expires within minutes. ' +
    'Still, in a public repository anyone can read this issue; keep the backup in a private repository.',
  askedAgain: (request: string): string =>
    `A new sign-in started; earlier codes no longer work.\n\n${request}`,
  smsSent: (phone: string | undefined, waitMs: number): string =>
    `Apple sent the code by text message${phone ? ` to ${phone}` : ''}. Reply with it; this run waits ${formatWait(waitMs)}.`,
  notAccepted: (wasSms: boolean, why: string, waitMs: number, attempt: number, maxAttempts: number): string =>
    `${wasSms ? 'That did not work' : 'That code was not accepted'} (${why.replace(/\.$/, '')}). Send the newest code shown on your device; this run waits ${formatWait(waitMs)} (attempt ${attempt} of ${maxAttempts}).`,
  timedOut: (waitMs: number, runUrl: string | undefined): string =>
    `**No code arrived within ${formatWait(waitMs)}, so this run stopped**${runLink(runUrl)}.\n\n` +
    'To try again, run the re-auth workflow again: Apple sends a new code and this issue asks for it. ' +
    'Or renew the session on a computer (`icloud-photos-action login`, then `session export`) and update the ICLOUD_SESSION secret.',
  accepted: (account: string, runUrl: string | undefined): string =>
    `**Done.** Apple accepted the code and the iCloud session for \`${account}\` is trusted again; the scheduled backups use it from now on.${runLink(runUrl)}`,
  rejected:
    'No code was accepted, so this run stopped. Wait a few minutes, then run the re-auth workflow again and reply with the newest code.',
}
