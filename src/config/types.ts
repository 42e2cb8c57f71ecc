/**
 * The validated configuration with defaults applied. Keys are the camelCase forms of the YAML's
 * kebab-case keys (`photos.folder-structure` → `config.photos.folderStructure`).
 */
import type { MfaProviderName, PasswordProviderName } from '../core/types.js'

export type Domain = 'com' | 'cn'
export type PhotoSize = 'original' | 'medium' | 'thumb' | 'adjusted' | 'alternative'
export type LivePhotoSize = 'original' | 'medium' | 'thumb'
export type LivePhotoMovFilenamePolicy = 'suffix' | 'original'
export type AlignRaw = 'as-is' | 'original' | 'alternative'
export type FileMatchPolicy = 'name-size-dedup-with-suffix' | 'name-id7'
export type WebhookFormat = 'json' | 'ntfy' | 'discord' | 'slack'

export interface AccountConfig {
  username: string
  domain: Domain
}

export interface AuthConfig {
  passwordProviders: PasswordProviderName[]
  passwordEnv: string
  passwordCommand?: string
  mfaProvider: MfaProviderName
  /** `github-issue`: minutes to wait for a comment with the code (per request); unset: the provider's 10. */
  reauthTimeoutMinutes?: number
  /** `github-issue`: seconds between reads of the issue's comments; unset: the provider's 10. */
  reauthPollSeconds?: number
  /** With `~` expanded. */
  cookieDirectory: string
}

export interface SessionConfig {
  cache: boolean
  seedFromInput: boolean
}

export interface EmailConfig {
  smtpHost: string
  smtpPort: number
  smtpNoTls: boolean
  smtpUsername?: string
  /** Falls back to `smtpUsername` (icloudpd); the rules guarantee one of them is set. */
  notificationEmail: string
  /** Falls back to `smtpUsername`, then `notificationEmail` (icloudpd). */
  notificationEmailFrom: string
}

export interface GithubIssueConfig {
  enabled: boolean
  labels: string[]
  assignees: string[]
}

export interface WebhookConfig {
  format: WebhookFormat
  /** True when the file has a `notifications.webhook` group: the webhook is wanted, so a missing URL is worth a warning. */
  configured?: true
}

export interface NotificationsConfig {
  warnDays: number
  /** Present only when the file has a `notifications.email` group. */
  email?: EmailConfig
  githubIssue: GithubIssueConfig
  webhook: WebhookConfig
  script?: string
}

export interface PhotosConfig {
  /** With `~` expanded; unset when neither the file nor the `directory` input gives one. */
  directory?: string
  folderStructure: string
  size: PhotoSize[]
  livePhotoSize: LivePhotoSize
  livePhotoMovFilenamePolicy: LivePhotoMovFilenamePolicy
  alignRaw: AlignRaw
  fileMatchPolicy: FileMatchPolicy
  skipVideos: boolean
  skipLivePhotos: boolean
  albums: string[]
  library: string
  recent?: number
  untilFound?: number
  threads: number
  /** `max-throttle-wait`: a duration string (`30m`), parsed by the engine. */
  maxThrottleWait: string
  dryRun: boolean
  /** Missing files make the run a `warning` (exit 0) instead of `failed`. */
  allowPartialBackup: boolean
  /** Seconds to wait for another run's lock on the photos directory. */
  lockWait: number
  /** Files count as backed up only once the job that downloaded them succeeded (action/handoff.ts). */
  handOff: boolean
}

export interface Config {
  /** Path of the file the configuration was read from, for messages. */
  file: string
  account: AccountConfig
  auth: AuthConfig
  session: SessionConfig
  notifications: NotificationsConfig
  photos: PhotosConfig
}

/** One problem found in a config file, positioned for `file:line:col` messages and annotations. */
export interface ConfigIssue {
  file: string
  /** 1-based. */
  line: number
  /** 1-based. */
  column: number
  endLine?: number
  endColumn?: number
  /** Dotted key path such as `photos.threads` or `auth.password-providers[2]`; '' for the whole file. */
  path: string
  message: string
  /** A replacement to offer, e.g. the nearest allowed key for a typo. */
  suggestion?: string
}
