/**
 * The configuration layer: YAML file → validated, defaulted Config, or a ConfigError listing every
 * problem as `file:line:col: key: message`.
 *
 * Precedence: action input > config file > schema default.
 */
import { ConfigError, schemaIssues } from './errors.js'
import { parseConfigText, readConfigText } from './load.js'
import { literalSecretIssues, ruleIssues } from './rules.js'
import { configSchema, validateAgainstSchema } from './validate.js'
import { expandHome, toConfig } from './defaults.js'
import type { Config, ConfigIssue } from './types.js'

export type * from './types.js'
export { ConfigError, formatIssue, isConfigError } from './errors.js'
export { checkProviderOrder, PASSWORD_PROVIDERS, SecretEnv } from './rules.js'
export { MAX_ALIAS_COUNT, MAX_CONFIG_BYTES, readConfigText } from './load.js'
export { configSchema } from './validate.js'

/** Every problem in the text, in file order; empty when the config is usable. */
export function findConfigIssues(text: string, file: string): ConfigIssue[] {
  try {
    checkConfigText(text, file)
    return []
  } catch (e) {
    if (e instanceof ConfigError) return e.issues
    throw e
  }
}

function checkConfigText(text: string, file: string): Config {
  const source = parseConfigText(text, file)
  const secrets = literalSecretIssues(source)
  const schemaErrors = validateAgainstSchema(source.value)
  const issues = [
    ...secrets,
    ...schemaIssues(schemaErrors, source, configSchema, new Set(secrets.map((i) => i.path))),
    ...ruleIssues(source, source.value),
  ]
  if (issues.length > 0) throw new ConfigError(issues)
  return toConfig(source.value, file)
}

/** Parses config text (as read from `file`, which only names it in messages). Throws ConfigError. */
export function parseConfig(text: string, file: string): Config {
  return checkConfigText(text, file)
}

/**
 * Reads, validates and defaults the config file at `path`. Throws ConfigError. `missingHint` says
 * what to do when the file does not exist (default: the action's advice about checkout and `config`).
 */
export async function loadConfig(path: string, missingHint?: string): Promise<Config> {
  return parseConfig(await readConfigText(path, missingHint), path)
}

/** Action inputs that override config values; '' and undefined mean "not given". */
export interface InputOverrides {
  /** The `directory` input → `photos.directory`. */
  directory?: string
  /** The `dry-run` input → `photos.dryRun`. */
  dryRun?: boolean
  /** The `hand-off` input → `photos.handOff`. */
  handOff?: boolean
  /** The `max-duration` input → `photos.maxDuration`. */
  maxDuration?: string
}

/** A copy of `config` with the given action inputs applied (input > file > default). */
export function applyInputOverrides(config: Config, overrides: InputOverrides): Config {
  const photos = { ...config.photos }
  if (overrides.directory !== undefined && overrides.directory.trim() !== '') {
    photos.directory = expandHome(overrides.directory.trim())
  }
  if (overrides.dryRun !== undefined) photos.dryRun = overrides.dryRun
  if (overrides.handOff !== undefined) photos.handOff = overrides.handOff
  if (overrides.maxDuration !== undefined) photos.maxDuration = overrides.maxDuration
  return { ...config, photos }
}
