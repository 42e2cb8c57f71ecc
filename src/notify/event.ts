/**
 * What a notification is about. Every channel renders the same event; the event carries only
 * non-secret facts (no tokens, no passwords), and channels show the account masked.
 */
import { createHash } from 'node:crypto'

export type NotificationKind = 'trust-expiring' | 'mfa-required' | 'failure' | 'recovered' | 'reauth-request'

export interface NotificationEvent {
  kind: NotificationKind
  /** Full Apple ID; channels show it masked (maskAppleId), only the user's script gets it plain. */
  username: string
  daysRemaining?: number
  /** ISO 8601. */
  trustExpiresAt?: string
  errorCode?: string
  /** One line, no secrets. */
  message: string
  /** Steps the owner can take, in order. */
  remediation: string[]
  /** Link to the workflow run. */
  runUrl?: string
  /** `owner/name`. */
  repository?: string
}

/**
 * Problems (expiring, MFA needed, failure) and their recovery share one thread per account, so a
 * recovery closes whatever problem was reported; a re-auth request is a conversation of its own.
 */
export type KindGroup = 'health' | 'reauth'

export function kindGroup(kind: NotificationKind): KindGroup {
  return kind === 'reauth-request' ? 'reauth' : 'health'
}

/**
 * `jdoe@example.com` → `j***@e******.com`: enough for the owner to recognise the account, not
 * enough to harvest it from a public issue. Phone-number Apple IDs keep their first and last two
 * characters.
 */
export function maskAppleId(id: string): string {
  const trimmed = id.trim()
  if (trimmed === '') return ''
  const at = trimmed.lastIndexOf('@')
  if (at < 0) {
    if (trimmed.length <= 4) return '*'.repeat(trimmed.length)
    return `${trimmed.slice(0, 2)}${'*'.repeat(trimmed.length - 4)}${trimmed.slice(-2)}`
  }
  const local = trimmed.slice(0, at)
  const domain = trimmed.slice(at + 1)
  // A one-letter local part would be shown whole by "first letter + stars"; hide it entirely.
  const maskedLocal = local.length <= 1 ? '***' : `${local[0]}***`
  const labels = domain.split('.')
  const maskedDomain = labels
    .map((label, i) => {
      if (i === labels.length - 1 && labels.length > 1) return label // the TLD says little
      if (label.length <= 1) return '*'
      return label[0] + '*'.repeat(label.length - 1)
    })
    .join('.')
  return `${maskedLocal}@${maskedDomain}`
}

/** Short stable id of an account for markers and state keys; not reversible at a glance. */
export function accountHash(username: string): string {
  return createHash('sha256').update(username.trim().toLowerCase()).digest('hex').slice(0, 12)
}
