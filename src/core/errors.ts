/**
 * The app-wide error taxonomy (kei-style): every failure the user can meet has a stable code, a one-line
 * message and a remediation. Messages are built from fixed text plus non-secret values only.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'BAD_PASSWORD'
  | 'NO_PASSWORD'
  | 'ACCOUNT_LOCKED'
  | 'MFA_REQUIRED'
  | 'MFA_FAILED'
  | 'MFA_UNSUPPORTED'
  | 'SECURITY_KEY_UNSUPPORTED'
  | 'ADP_OR_WEB_ACCESS_DISABLED'
  | 'REPAIR_REQUIRED'
  | 'WRONG_DOMAIN'
  | 'SESSION_INVALID'
  | 'THROTTLED'
  | 'SRP_INIT_REJECTED'
  | 'PROTOCOL_ERROR'
  | 'ICLOUD_SETUP_INCOMPLETE'
  | 'INDEXING_NOT_FINISHED'
  | 'NETWORK'
  | 'DOWNLOAD_FAILED'
  | 'DISK'
  | 'DESTINATION'
  | 'DESTINATION_AUTH'
  | 'LOCKED'
  | 'VERIFY_FAILED'
  | 'CANCELLED'
  | 'INTERNAL'

export class AppError extends Error {
  readonly code: ErrorCode
  readonly remediation: string
  /** Seconds to wait before trying again, when the server said so (Retry-After). */
  readonly retryAfter?: number

  constructor(
    code: ErrorCode,
    message: string,
    remediation = '',
    options?: { cause?: unknown; retryAfter?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.remediation = remediation
    this.retryAfter = options?.retryAfter
  }

  /** Message and remediation as one text for logs and notifications. */
  describe(): string {
    return this.remediation ? `${this.message} ${this.remediation}` : this.message
  }
}

export function isAppError(e: unknown, code?: ErrorCode): e is AppError {
  return e instanceof AppError && (code === undefined || e.code === code)
}
