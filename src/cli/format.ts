/** Human wording shared by the commands: the trust expiry, next-step hints and command lines. */
import type { TrustEstimate } from '../icloud/trust.js'
import type { Output } from './io.js'

/** The name the CLI is installed under (package.json `bin`). */
export const CLI_NAME = 'icloud-photos-action'

/** A command line to copy, in the one form every hint uses: `icloud-photos-action <args>`. */
export function command(args: string): string {
  return `\`${CLI_NAME} ${args}\``
}

/**
 * The one way a next step is printed: `hint: <text>` on its own line, lower-case first letter (as
 * after `error [CODE]: …`), whether it follows an error or a result.
 */
export function hint(out: Output, text: string): void {
  const first = /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text
  out.write(`hint: ${first}\n`)
}

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
