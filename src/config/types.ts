/**
 * The validated configuration with defaults applied. Keys are the camelCase forms of the YAML's
 * kebab-case keys (`photos.folder-structure` → `config.photos.folderStructure`).
 */
import type * as Schema from '../core/config.generated.js'

// Every option, its type and its default come from schemas/config.schema.json
// (core/config.generated.ts); only what config/defaults.ts adds is declared here.
export type {
  AccountConfig,
  AlignRaw,
  AuthConfig,
  Domain,
  FileMatchPolicy,
  GithubIssueConfig,
  LivePhotoMovFilenamePolicy,
  LivePhotoSize,
  MfaProviderName,
  PasswordProviderName,
  PhotosConfig,
  PhotoSize,
  SessionConfig,
  WebhookFormat,
} from '../core/config.generated.js'

export interface EmailConfig extends Schema.EmailConfig {
  /** Falls back to `smtpUsername` (icloudpd); the rules guarantee one of them is set. */
  notificationEmail: string
  /** Falls back to `smtpUsername`, then `notificationEmail` (icloudpd). */
  notificationEmailFrom: string
}

export interface WebhookConfig extends Schema.WebhookConfig {
  /** True when the file has a `notifications.webhook` group: the webhook is wanted, so a missing URL is worth a warning. */
  configured?: true
}

export interface NotificationsConfig extends Omit<Schema.NotificationsConfig, 'email' | 'webhook'> {
  /** Present only when the file has a `notifications.email` group. */
  email?: EmailConfig
  webhook: WebhookConfig
}

/** `auth.cookieDirectory` and `photos.directory` have `~` expanded. */
export interface Config extends Omit<Schema.ConfigValues, 'notifications'> {
  /** Path of the file the configuration was read from, for messages. */
  file: string
  notifications: NotificationsConfig
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
