/**
 * Names of the action's inputs, outputs and saved state, in one place. A test keeps Inputs and
 * Outputs in step with action.yml.
 */

export const Inputs = {
  Config: 'config',
  Password: 'password',
  Session: 'session',
  SessionKey: 'session-key',
  SmtpPassword: 'smtp-password',
  WebhookUrl: 'webhook-url',
  GithubToken: 'github-token',
  Mode: 'mode',
  Directory: 'directory',
  DryRun: 'dry-run',
  HandOff: 'hand-off',
  MaxDuration: 'max-duration',
  Repair: 'repair',
} as const

export const Outputs = {
  Status: 'status',
  ErrorCode: 'error-code',
  DaysRemaining: 'days-remaining',
  TrustExpiresAt: 'trust-expires-at',
  Downloaded: 'downloaded',
  Skipped: 'skipped',
  Failed: 'failed',
  Remaining: 'remaining',
  NewFiles: 'new-files',
  Report: 'report',
  List: 'list',
} as const

/** Saved by main for post (core.saveState). Paths, keys and flags only — never secrets. */
export const State = {
  /** Set by main; its presence makes the same bundle run as post. */
  IsPost: 'isPost',
  /** Cookie directory holding the session files post saves to the cache. */
  CookieDirectory: 'cookieDirectory',
  /** Cache key the session was restored from (post skips saving under an identical key). */
  SessionCacheKey: 'sessionCacheKey',
  /** Fingerprint of the session as restored, so post only saves a session that changed. */
  SessionFingerprint: 'sessionFingerprint',
  /** When the restored cache entry was saved (epoch ms), for the keep-alive decision. */
  SessionSavedAt: 'sessionSavedAt',
  /** Apple ID the session belongs to (part of the cache key). */
  Username: 'username',
  /** Whether session caching is on (`session.cache`), so post need not reload the config. */
  SessionCache: 'sessionCache',
  /** Hand-off: the photos directory whose state file post saves to its own cache entry. */
  StateDirectory: 'stateDirectory',
  /** The state entry this run restored, its fingerprint and save time (as for the session). */
  StateCacheKey: 'stateCacheKey',
  StateFingerprint: 'stateFingerprint',
  StateSavedAt: 'stateSavedAt',
} as const

export const Modes = ['sync', 'check', 'reauth', 'validate-config', 'verify', 'list'] as const
export type Mode = (typeof Modes)[number]
