/** Human wording shared by the commands: the trust expiry and file lists. */
import type { TrustEstimate } from '../icloud/trust.js'

/** `2026-12-25 12:45 UTC`: unambiguous, and the same whatever the machine's locale. */
export function formatUtc(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

export function describeTrust(trust: TrustEstimate): string {
  if (!trust.expiresAt || trust.daysRemaining === undefined) {
    return 'The 2FA trust expiry is unknown (Apple sent no trust cookie with an expiry).'
  }
  const days = trust.daysRemaining
  const when = formatUtc(trust.expiresAt)
  if (days < 0) return `The 2FA trust expired on ${when}.`
  const left = days === 0 ? 'less than a day left' : `${days} day${days === 1 ? '' : 's'} left`
  return `The 2FA trust expires on ${when} (${left}).`
}
