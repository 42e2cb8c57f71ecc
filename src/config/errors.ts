/** ConfigError and the translation of ajv's schema errors into positioned, plain-English issues. */
import type { ErrorObject } from 'ajv/dist/2020.js'
import { closest, distance } from 'fastest-levenshtein'
import type { ConfigIssue } from './types.js'
import { isMap } from 'yaml'
import { formatPath, locate, type Segment, type Source } from './positions.js'
import type { JsonSchema } from './validate.js'

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`
  const hint = issue.suggestion ? ` (did you mean \`${issue.suggestion}\`?)` : ''
  return issue.path ? `${where}: ${issue.path}: ${issue.message}${hint}` : `${where}: ${issue.message}${hint}`
}

/** A configuration that cannot be used; `.issues` holds every problem found, in file order. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const
  readonly issues: ConfigIssue[]

  constructor(issues: ConfigIssue[]) {
    const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column)
    const count = sorted.length === 1 ? '1 problem' : `${sorted.length} problems`
    super(`Invalid configuration (${count}):\n${sorted.map((i) => `  ${formatIssue(i)}`).join('\n')}`)
    this.name = 'ConfigError'
    this.issues = sorted
  }
}

export function isConfigError(e: unknown): e is ConfigError {
  return e instanceof ConfigError
}

/** The nearest candidate if it is close enough to be a plausible typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined
  const best = closest(word.toLowerCase(), [...candidates])
  // Short words are all close to each other; only a one-letter slip counts for them.
  const limit = best.length <= 3 ? 1 : Math.max(2, Math.floor(best.length / 3))
  return distance(word.toLowerCase(), best) <= limit ? best : undefined
}

/** Human wording for the patterns used in the schema. */
const PATTERN_HINTS: Record<string, string> = {
  '^\\S+$': 'must not contain spaces',
  '^[A-Za-z_][A-Za-z0-9_]*$':
    'must be an environment variable name (letters, digits and _, not starting with a digit)',
  '^(PrimarySync|SharedSync-.+)$':
    'must be `PrimarySync` or a shared library zone name starting with `SharedSync-`',
  '^(?:0|(?:\\d+(?:ms|s|m|h))+)$':
    'must be a duration such as `90s`, `30m`, `2h` or `1h30m` (units ms, s, m, h)',
  '^\\s*\\d+(?:\\.\\d+)?\\s*(?:[bB]|[kKmMgGtT][iI]?[bB])?\\s*$':
    'must be a size such as `500MB`, `50GB`, `500MiB` or a number of bytes',
}

/** What a value of each `format` is, as the object of "must be …". */
const FORMAT_NAMES: Record<string, string> = {
  email: 'an email address (name@example.com)',
}

/** Patterns that stand for a kind of value, as the object of "must be …" (in `anyOf` choices). */
const PATTERN_NOUNS: Record<string, string> = {
  '^\\+[1-9][0-9]{6,14}$': 'a phone number in international form (`+` and digits, e.g. +4915112345678)',
}

/** One alternative of an `anyOf`, as a noun phrase. */
function alternative(branch: JsonSchema): string {
  if (branch.format) return FORMAT_NAMES[branch.format] ?? `a valid ${branch.format}`
  if (branch.pattern) return PATTERN_NOUNS[branch.pattern] ?? `text matching /${branch.pattern}/`
  return 'another form'
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping of keys',
  array: 'a list',
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: '`true` or `false`',
}

/** Says what a value is without echoing text, which could be something private. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return 'it is empty'
  if (Array.isArray(value)) return 'it is a list'
  if (typeof value === 'object') return 'it is a mapping'
  if (typeof value === 'string') return 'it is text'
  if (typeof value === 'number')
    return Number.isInteger(value) ? `it is ${value}` : `it is the fraction ${value}`
  return `it is \`${String(value)}\``
}

function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return `\`${text.length > 40 ? `${text.slice(0, 40)}…` : text}\``
}

function toSegments(instancePath: string): Segment[] {
  if (!instancePath) return []
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s))
}

/** Where `key` is allowed anywhere in the schema, e.g. `account.username` for `username`. */
function homesOf(key: string, schema: JsonSchema, prefix = ''): string[] {
  const out: string[] = []
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name
    if (name === key) out.push(path)
    out.push(...homesOf(key, sub, path))
  }
  return out
}

interface Translated {
  path: Segment[]
  part: 'key' | 'value'
  message: string
  suggestion?: string
}

function translate(error: ErrorObject, root: JsonSchema): Translated {
  const at = toSegments(error.instancePath)
  const schema = (error.parentSchema ?? {}) as JsonSchema
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const allowed = Object.keys(schema.properties ?? {}).filter((k) => !k.startsWith('$'))
      const suggestion = didYouMean(key, allowed)
      if (suggestion)
        return { path: [...at, key], part: 'key', message: `unknown key \`${key}\``, suggestion }
      const homes = homesOf(key, root)
      const message = homes.length
        ? `unknown key \`${key}\` here; it belongs under \`${homes[0].split('.').slice(0, -1).join('.')}\``
        : `unknown key \`${key}\`; allowed here: ${allowed.join(', ')}`
      return { path: [...at, key], part: 'key', message }
    }
    case 'required':
      return {
        path: at,
        part: 'key',
        message: `missing required key \`${String(params.missingProperty)}\``,
      }
    case 'type': {
      const expected = String(params.type)
        .split(',')
        .map((t) => TYPE_NAMES[t] ?? t)
        .join(' or ')
      const empty = error.data === null || error.data === undefined
      return {
        path: at,
        part: 'value',
        message: empty ? `is empty; it must be ${expected}` : `must be ${expected}; ${describe(error.data)}`,
      }
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String)
      const list = allowed.map((v) => `\`${v}\``).join(', ')
      const data = error.data
      if (data === null || data === undefined)
        return { path: at, part: 'value', message: `is empty; use one of ${list}` }
      const suggestion = typeof data === 'string' ? didYouMean(data, allowed) : undefined
      return { path: at, part: 'value', message: `${quote(data)} is not one of ${list}`, suggestion }
    }
    case 'minimum':
    case 'exclusiveMinimum':
      return {
        path: at,
        part: 'value',
        message: `must be at least ${String(schema.minimum)}; ${describe(error.data)}`,
      }
    case 'maximum':
    case 'exclusiveMaximum':
      return {
        path: at,
        part: 'value',
        message: `must be at most ${String(schema.maximum)}; ${describe(error.data)}`,
      }
    case 'minLength':
      return { path: at, part: 'value', message: 'must not be empty' }
    case 'minItems':
      return { path: at, part: 'value', message: 'must list at least one value' }
    case 'uniqueItems': {
      const index = Math.max(Number(params.i), Number(params.j))
      const item = Array.isArray(error.data) ? (error.data as unknown[])[index] : undefined
      return { path: [...at, index], part: 'value', message: `${quote(item)} is listed twice` }
    }
    case 'pattern': {
      const pattern = String(params.pattern)
      return {
        path: at,
        part: 'value',
        message: PATTERN_HINTS[pattern] ?? `must match the pattern /${pattern}/`,
      }
    }
    case 'format': {
      const format = String(params.format)
      return { path: at, part: 'value', message: `must be ${FORMAT_NAMES[format] ?? `a valid ${format}`}` }
    }
    case 'anyOf': {
      const choices = (schema.anyOf ?? []).map(alternative)
      return { path: at, part: 'value', message: `must be ${choices.join(', or ')}` }
    }
    default:
      return { path: at, part: 'value', message: error.message ?? 'is invalid' }
  }
}

/**
 * `folder-structure: {:%Y/%m}` is a YAML mapping, not text: a bare `{` opens a flow mapping. When
 * text was expected and the value is written in braces, say how to quote it.
 */
function quoteHint(error: ErrorObject, source: Source, path: Segment[]): string | undefined {
  if (error.keyword !== 'type' || (error.params as { type?: unknown }).type !== 'string') return undefined
  const node = source.doc.getIn(path, true)
  if (!isMap(node) || !node.flow || !node.range || source.text === undefined) return undefined
  const written = source.text.slice(node.range[0], node.range[1]).trim()
  if (written.length > 60 || /['\n]/.test(written)) return undefined
  const key = path[path.length - 1]
  return ` (YAML reads a bare \`{\` as the start of a mapping: quote the value, \`${String(key)}: '${written}'\`)`
}

/**
 * One issue per offending key path (ajv with allErrors can report an empty string as both too
 * short and not matching a pattern; the first is the useful one). Paths in `skip` are already
 * reported by another check, e.g. a literal secret.
 */
export function schemaIssues(
  errors: readonly ErrorObject[],
  source: Source,
  root: JsonSchema,
  skip: ReadonlySet<string> = new Set(),
): ConfigIssue[] {
  const seen = new Set<string>()
  const issues: ConfigIssue[] = []
  // An `anyOf` is reported once, as the choice it offers, and only when no plainer rule (no
  // spaces, not empty) already explains what is wrong with the value.
  const ordered = errors
    .filter((e) => !/\/anyOf\/\d+\//.test(e.schemaPath))
    .sort((a, b) => Number(a.keyword === 'anyOf') - Number(b.keyword === 'anyOf'))
  for (const error of ordered) {
    const t = translate(error, root)
    const quoted = quoteHint(error, source, t.path)
    if (quoted) t.message += quoted
    const path = error.keyword === 'required' ? [...t.path, String(error.params.missingProperty)] : t.path
    const name = formatPath(path)
    if (
      seen.has(name) ||
      [...skip].some((s) => name === s || name.startsWith(`${s}.`) || name.startsWith(`${s}[`))
    )
      continue
    seen.add(name)
    const span = locate(source, t.path, t.part)
    issues.push({ file: source.file, ...span, path: name, message: t.message, suggestion: t.suggestion })
  }
  return issues
}
