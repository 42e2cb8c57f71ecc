/**
 * The sign-in flow's ports: what it needs from wherever passwords and 2FA codes come from.
 * icloud owns them; providers/ implements them.
 */
import type { MfaProviderName, PasswordProviderName } from '../core/types.js'

export type { MfaProviderName, PasswordProviderName }

/** Wrong codes accepted before the run gives up (Apple locks the code after a few more). */
export const MAX_CODE_ATTEMPTS = 3

export interface PasswordProvider {
  readonly name: PasswordProviderName
  /** A password, or undefined to move on to the next provider. Never logs the value. */
  get(username: string): Promise<string | undefined>
}

export interface TrustedPhone {
  id: number
  obfuscatedNumber: string
}

/** What the MFA provider is told when Apple wants a code. */
export interface MfaChallenge {
  username: string
  codeLength: number
  phones: TrustedPhone[]
  /** Number of the attempt (1-based); >1 after a wrong code. */
  attempt: number
  /** Set on a retry: why the previous code was refused. */
  previousError?: string
}

/** The provider's answer: a device code, or a request to send an SMS to a phone first. */
export type MfaAnswer = { kind: 'code'; code: string; phoneId?: number } | { kind: 'sms'; phoneId: number }

export interface MfaProvider {
  readonly name: MfaProviderName
  /** Interactive providers need a human; in CI they are unavailable (MFA_REQUIRED, no waiting). */
  readonly interactive: boolean
  ask(challenge: MfaChallenge): Promise<MfaAnswer>
  /** Told the outcome, so a web page or issue can show success. */
  done?(ok: boolean): Promise<void>
}
