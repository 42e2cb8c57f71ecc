/** Interfaces between the sign-in flow and where passwords and 2FA codes come from. */

export type PasswordProviderName = 'parameter' | 'env' | 'keyring' | 'command' | 'console' | 'webui'
export type MfaProviderName = 'console' | 'webui' | 'github-issue' | 'none'

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
