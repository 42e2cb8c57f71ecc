/** Checks the schema cannot express: provider order and secrets that must not be in the file. */
import { fullFormats } from 'ajv-formats/dist/formats.js'
import { isMap, isScalar, isSeq, type Node } from 'yaml'
import type { PasswordProviderName } from '../core/types.js'
import { createdBoundProblem } from '../util/created-bound.js'
import { didYouMean } from './errors.js'
import { formatPath, locate, spanOf, type Segment, type Source } from './positions.js'
import type { ConfigIssue } from './types.js'

export const PASSWORD_PROVIDERS: readonly PasswordProviderName[] = [
  'parameter',
  'env',
  'keyring',
  'command',
  'console',
  'webui',
]
const INTERACTIVE = new Set(['console', 'webui'])

/** The problem with a password-provider list and the index of the entry it is about. */
export function providerOrderProblem(
  list: readonly string[],
): { index: number; message: string } | undefined {
  for (const [index, name] of list.entries()) {
    if (!PASSWORD_PROVIDERS.includes(name as PasswordProviderName)) {
      const guess = didYouMean(name, PASSWORD_PROVIDERS)
      const hint = guess ? ` (did you mean \`${guess}\`?)` : ''
      return {
        index,
        message: `unknown password provider \`${name}\`${hint}; choose from ${PASSWORD_PROVIDERS.join(', ')}`,
      }
    }
    if (list.indexOf(name) !== index)
      return { index, message: `password provider \`${name}\` is listed twice` }
  }
  const interactive = list.map((name, index) => ({ name, index })).filter((p) => INTERACTIVE.has(p.name))
  if (interactive.length > 1) {
    return {
      index: interactive[1].index,
      message:
        '`console` and `webui` are mutually exclusive; keep one of them, as the last password provider',
    }
  }
  const [only] = interactive
  if (only && only.index !== list.length - 1) {
    return {
      index: only.index,
      message: `\`${only.name}\` must be the last password provider: it asks interactively, so providers after it would never be tried`,
    }
  }
  return undefined
}

/**
 * The one message for a bad password-provider list, used for the config file, action inputs and
 * CLI flags alike; undefined when the list is fine.
 */
export function checkProviderOrder(list: string[]): string | undefined {
  return providerOrderProblem(list)?.message
}

/** Environment variables that carry the secrets the action takes as inputs (CLI and local runs). */
export const SecretEnv = {
  Password: 'ICLOUD_PASSWORD',
  Session: 'ICLOUD_SESSION',
  SessionKey: 'ICLOUD_SESSION_KEY',
  SmtpPassword: 'ICLOUD_SMTP_PASSWORD',
  WebhookUrl: 'ICLOUD_WEBHOOK_URL',
  GithubToken: 'GITHUB_TOKEN',
} as const

interface SecretHome {
  /** What the value is, for the message. */
  what: string
  input?: string
  env?: string
  /** Where it belongs instead, when that is not an action input. */
  advice?: string
}

const APPLE_PASSWORD: SecretHome = {
  what: 'the Apple ID password',
  input: 'password',
  env: `${SecretEnv.Password} (with \`env\` in \`auth.password-providers\`)`,
}
const SMTP_PASSWORD: SecretHome = {
  what: 'the SMTP password',
  input: 'smtp-password',
  env: SecretEnv.SmtpPassword,
}
const WEBHOOK_URL: SecretHome = { what: 'the webhook URL', input: 'webhook-url', env: SecretEnv.WebhookUrl }
const GITHUB_TOKEN: SecretHome = { what: 'a GitHub token', input: 'github-token', env: SecretEnv.GithubToken }
const SESSION: SecretHome = { what: 'session data', input: 'session', env: SecretEnv.Session }
const SESSION_KEY: SecretHome = { what: 'the session key', input: 'session-key', env: SecretEnv.SessionKey }
const OTHER: SecretHome = { what: 'a secret' }
const AWS_CREDENTIAL: SecretHome = {
  what: 'an S3 credential',
  advice:
    'the S3 destination takes its credentials from the standard AWS environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN: on AWS set them with the `aws-actions/configure-aws-credentials` step (OIDC, no stored secret); for other stores set them with `env:` from repository secrets',
}

/** `smtpPassword`, `smtp_password` and `SMTP-Password` all become `smtp-password`. */
function normalise(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[_\s]+/g, '-')
    .toLowerCase()
}

/** Whether a key at `parents` holds a secret, and where that secret belongs instead. */
function secretHome(parents: readonly Segment[], rawKey: string, value: unknown): SecretHome | undefined {
  const key = normalise(rawKey)
  const parent = parents.length ? String(parents[parents.length - 1]) : ''
  if (
    /^(aws-)?(access-key(-id)?|secret-(access-)?key|secret-key-id)$/.test(key) ||
    (parent === 'destination' &&
      /(^|-)(session-token|credentials?|secret|key-id|application-key)$/.test(key) &&
      key !== 'kms-key-id')
  ) {
    return AWS_CREDENTIAL
  }
  if (/(^|-)(password|passwd|pwd|pass)$/.test(key)) {
    return key.startsWith('smtp') || parent === 'email' ? SMTP_PASSWORD : APPLE_PASSWORD
  }
  if (key === 'webhook-url' || (parent === 'webhook' && key === 'url')) return WEBHOOK_URL
  if (['session-key', 'encryption-key', 'session-encryption-key'].includes(key)) return SESSION_KEY
  if (/(^|-)(trust-token|session-token|session-data|cookie|cookies)$/.test(key)) return SESSION
  // A pasted session blob where the `session` group belongs.
  if (parents.length === 0 && key === 'session' && typeof value === 'string') return SESSION
  if (/(^|-)(github-token|gh-token|access-token|token)$/.test(key))
    return key.includes('github') || key === 'token' || key === 'gh-token' ? GITHUB_TOKEN : OTHER
  if (/(^|-)(secret|secrets|api-key|apikey|private-key|client-secret)$/.test(key)) return OTHER
  return undefined
}

function secretMessage(key: string, home: SecretHome): string {
  const why = `\`${key}\` looks like ${home.what}, and secrets must not be written in the config file`
  if (home.advice) return `${why}; ${home.advice}`
  if (!home.input) {
    return `${why}; pass it to the action through an input from a repository secret, or through an environment variable`
  }
  return `${why}; remove it and pass the \`${home.input}\` action input from a repository secret (\`${home.input}: \${{ secrets.… }}\`), or set the environment variable ${home.env}`
}

/** Literal secrets anywhere in the document, positioned at their key. Values are never echoed. */
export function literalSecretIssues(source: Source): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const walk = (node: unknown, path: Segment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue
        const key = String(pair.key.value)
        const value = isScalar(pair.value) ? pair.value.value : undefined
        const home = secretHome(path, key, value)
        if (home) {
          const range = (pair.key as Node).range
          const span = range
            ? spanOf(source.lineCounter, range[0], range[1])
            : locate(source, [...path, key], 'key')
          issues.push({
            file: source.file,
            ...span,
            path: formatPath([...path, key]),
            message: secretMessage(key, home),
          })
          continue
        }
        walk(pair.value, [...path, key])
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]))
    }
  }
  walk(source.doc.contents, [])
  return issues
}

/** `photos.destination` rules the schema does not state: what `type: s3` needs, KMS only with aws:kms. */
function destinationIssues(source: Source, root: Record<string, unknown>): ConfigIssue[] {
  const photos = isRecord(root.photos) ? root.photos : {}
  const dest = photos.destination
  if (!isRecord(dest)) return []
  const issues: ConfigIssue[] = []
  const at = (key: string | undefined, message: string): void => {
    const path = key ? ['photos', 'destination', key] : ['photos', 'destination']
    issues.push({ file: source.file, ...locate(source, path, 'key'), path: formatPath(path), message })
  }
  if (dest.type === 's3') {
    for (const key of ['bucket', 'region']) {
      if (dest[key] === undefined) at(undefined, `\`type: s3\` needs \`${key}\``)
    }
  } else if (dest.type === 'directory') {
    // prefix, force-path-style and checksums are left out: their schema defaults are always there.
    for (const key of [
      'bucket',
      'region',
      'endpoint',
      'storage-class',
      'server-side-encryption',
      'kms-key-id',
    ]) {
      if (dest[key] !== undefined)
        at(key, `only applies to \`type: s3\` (the directory is \`photos.directory\`)`)
    }
  }
  if (dest['kms-key-id'] !== undefined && dest['server-side-encryption'] !== 'aws:kms') {
    at('kms-key-id', 'needs `server-side-encryption: aws:kms`')
  }
  return issues
}

/** The schema's `format: email` check (ajv-formats), for rules the schema cannot state. */
export function isEmailAddress(text: string): boolean {
  return (fullFormats.email as RegExp).test(text)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Post-schema rules, run on the raw value; they skip parts the schema already rejects. */
export function ruleIssues(source: Source, value: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const root = isRecord(value) ? value : {}
  const auth = isRecord(root.auth) ? root.auth : {}
  const providers = auth['password-providers']
  if (
    Array.isArray(providers) &&
    providers.every((p) => PASSWORD_PROVIDERS.includes(p as PasswordProviderName)) &&
    new Set(providers).size === providers.length
  ) {
    const problem = providerOrderProblem(providers as string[])
    if (problem) {
      const path = ['auth', 'password-providers', problem.index]
      issues.push({
        file: source.file,
        ...locate(source, path, 'value'),
        path: formatPath(path),
        message: problem.message,
      })
    }
  }
  const notifications = isRecord(root.notifications) ? root.notifications : {}
  const email = notifications.email
  if (isRecord(email) && email['notification-email'] === undefined && email['smtp-username'] === undefined) {
    const path = ['notifications', 'email']
    issues.push({
      file: source.file,
      ...locate(source, path, 'key'),
      path: formatPath(path),
      message:
        'email notifications need a recipient: set `notification-email` (or `smtp-username`, its default)',
    })
  }
  issues.push(...photosRuleIssues(source, isRecord(root.photos) ? root.photos : {}))
  const username = isRecord(email) ? email['smtp-username'] : undefined
  if (isRecord(email) && email['notification-email'] === undefined && typeof username === 'string') {
    if (username && !isEmailAddress(username)) {
      const path = ['notifications', 'email', 'smtp-username']
      issues.push({
        file: source.file,
        ...locate(source, path, 'value'),
        path: formatPath(path),
        message:
          'is not an email address, so it cannot be the recipient (`notification-email` defaults to it): set `notification-email`',
      })
    }
  }
  issues.push(...destinationIssues(source, root))
  return issues
}

/**
 * skip-created-* must parse as icloudpd parses them; skip-videos and skip-photos exclude each other
 * (icloudpd); sidecars and EXIF edits need a directory.
 */
function photosRuleIssues(source: Source, photos: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const at = (key: string, where: 'key' | 'value', message: string): void => {
    const path = ['photos', key]
    issues.push({ file: source.file, ...locate(source, path, where), path: formatPath(path), message })
  }
  for (const key of ['skip-created-before', 'skip-created-after']) {
    const value = photos[key]
    const problem = typeof value === 'string' && value !== '' ? createdBoundProblem(value) : undefined
    if (problem) at(key, 'value', problem)
  }
  if (photos['skip-videos'] === true && photos['skip-photos'] === true) {
    at(
      'skip-photos',
      'key',
      'only one of `skip-videos` and `skip-photos` can be used (as in icloudpd): together they leave nothing to download',
    )
  }
  const destination = photos.destination as Record<string, unknown> | undefined
  if (destination?.type === 's3') {
    for (const key of ['xmp-sidecar', 'set-exif-datetime']) {
      if (photos[key] === true)
        at(
          key,
          'key',
          `\`${key}\` edits files beside the photos, which an S3 destination does not offer yet: turn it off, or back up to \`photos.directory\``,
        )
    }
  }
  return issues
}
