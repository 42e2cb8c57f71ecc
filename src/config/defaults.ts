/** Fills in the schema's declared defaults and turns the validated value into a typed Config. */
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Config } from './types.js'
import { configSchema, type JsonSchema } from './validate.js'

/**
 * Adds each missing property's `default`. A missing group is only created when the schema gives
 * it a default (`{}`), so optional groups such as `notifications.email` stay absent.
 */
export function withDefaults(value: unknown, schema: JsonSchema = configSchema): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !schema.properties) return value
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (out[key] === undefined && sub.default !== undefined) out[key] = structuredClone(sub.default)
    if (out[key] !== undefined) out[key] = withDefaults(out[key], sub)
  }
  return out
}

const camel = (key: string): string => key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/** kebab-case keys → camelCase, recursively (the schema has no free-form maps, so this is safe). */
export function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== '$schema')
      .map(([key, v]) => [camel(key), camelKeys(v)]),
  )
}

/** `~` and `~/x` → the home directory; other paths are returned unchanged. */
export function expandHome(path: string): string {
  if (path === '~') return homedir()
  if (path.startsWith('~/')) return join(homedir(), path.slice(2))
  return path
}

/** A schema-valid value → Config, with defaults, `~` expanded and icloudpd's email fallbacks. */
export function toConfig(value: unknown, file: string): Config {
  const config = { file, ...(camelKeys(withDefaults(value)) as Omit<Config, 'file'>) }
  config.auth.cookieDirectory = expandHome(config.auth.cookieDirectory)
  if (config.photos.directory !== undefined) config.photos.directory = expandHome(config.photos.directory)
  const raw = value as { notifications?: { webhook?: unknown } }
  if (raw.notifications?.webhook !== undefined) config.notifications.webhook.configured = true
  const email = config.notifications.email
  if (email) {
    email.notificationEmail ??= email.smtpUsername as string
    // icloudpd: the sender is the SMTP account unless set; without one, the recipient.
    email.notificationEmailFrom ??= (email.smtpUsername as string | undefined) ?? email.notificationEmail
  }
  return config
}
