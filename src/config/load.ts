/** Reads and parses a config file, keeping source positions, with limits against hostile YAML. */
import { readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml'
import { ConfigError } from './errors.js'
import { spanOf, type Source } from './positions.js'
import type { ConfigIssue } from './types.js'

/** A config is a few KiB; anything this large is a mistake or an attack. */
export const MAX_CONFIG_BYTES = 256 * 1024
/** Alias expansions allowed before parsing stops (the "billion laughs" defence). */
export const MAX_ALIAS_COUNT = 100

export interface ParsedSource extends Source {
  /** The plain JS value of the document. */
  value: unknown
}

function fileIssue(file: string, message: string, line = 1, column = 1): ConfigIssue {
  return { file, line, column, path: '', message }
}

function checkSize(file: string, bytes: number): void {
  if (bytes > MAX_CONFIG_BYTES) {
    const kib = Math.ceil(bytes / 1024)
    throw new ConfigError([
      fileIssue(file, `the file is ${kib} KiB; a config file may be at most ${MAX_CONFIG_BYTES / 1024} KiB`),
    ])
  }
}

/** What to do about a missing config file in the action: the usual cause is a missing checkout. */
export const MISSING_CONFIG_HINT_ACTION =
  'check out the repository before this step (`- uses: actions/checkout@v5`), or set the `config` input to the path of your config file (see examples/icloud-photos.yml to start one)'

/**
 * Reads the file's text; a missing, unreadable or oversized file is a ConfigError. `missingHint`
 * says what to do when there is no file (default: the action's advice).
 */
export async function readConfigText(
  file: string,
  missingHint: string = MISSING_CONFIG_HINT_ACTION,
): Promise<string> {
  try {
    const info = await stat(file)
    if (!info.isFile()) throw new ConfigError([fileIssue(file, 'is not a file')])
    checkSize(file, info.size)
    return await readFile(file, 'utf8')
  } catch (e) {
    if (e instanceof ConfigError) throw e
    const code = (e as NodeJS.ErrnoException).code
    const message =
      code === 'ENOENT'
        ? `no config file at ${resolve(file)}; ${missingHint}`
        : `cannot read the config file (${code ?? 'unknown error'})`
    throw new ConfigError([fileIssue(file, message)])
  }
}

const YAML_MESSAGES: Record<string, string> = {
  DUPLICATE_KEY: 'duplicate key',
  TAB_AS_INDENT: 'tabs are not allowed for indentation in YAML; use spaces',
  MULTIPLE_DOCS: 'the file holds more than one YAML document (`---`); keep a single one',
  RESOURCE_EXHAUSTION:
    'the YAML is nested too deeply to read; a config file needs only a few levels of indentation',
}

/** The text of the mapping key that starts at `offset`. */
function keyAt(doc: Document.Parsed, offset: number): string | undefined {
  let key: string | undefined
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.range?.[0] === offset) {
        key = String(pair.key.value)
        return visit.BREAK
      }
    },
  })
  return key
}

/** The tag as written (`!!js/function`), never the value after it, which could be private. */
function tagText(text: string, pos: [number, number]): string {
  const tag = /!\S*/.exec(text.slice(pos[0], Math.min(pos[1] + 1, pos[0] + 80)))?.[0]
  return tag ? `the tag \`${tag.slice(0, 40)}\`` : 'a tag'
}

/**
 * A hint for a syntax error on a line like `folder-structure: {%Y}/{%m}`, where an unquoted `{`
 * made YAML expect a mapping.
 */
function unquotedBraces(text: string, line: number): string | undefined {
  const m = /^\s*([\w-]+):\s+(\{[^'"\n#]*?)\s*$/.exec(text.split('\n')[line - 1] ?? '')
  if (!m || m[2].length > 60) return undefined
  return ` (YAML reads a bare \`{\` as the start of a mapping: quote the value, \`${m[1]}: '${m[2]}'\`)`
}

/** Parses YAML text into a document with positions and its JS value. Throws ConfigError. */
export function parseConfigText(text: string, file: string): ParsedSource {
  checkSize(file, Buffer.byteLength(text, 'utf8'))
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const source = { file, doc, lineCounter, text }
  // An unknown tag (`!!js/function`, `!!python/object`, `!foo`) is only a warning to the YAML
  // library, which then keeps the text as a plain string; a config has no use for tags, so refuse.
  const tagErrors = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED')
  if (doc.errors.length > 0 || tagErrors.length > 0) {
    const seen = new Set<string>()
    const issues: ConfigIssue[] = []
    for (const e of [...doc.errors, ...tagErrors]) {
      const span = spanOf(lineCounter, e.pos[0], e.pos[1])
      let message = YAML_MESSAGES[e.code] ?? `YAML syntax error: ${e.message.split('\n')[0]}`
      const braced = unquotedBraces(text, lineCounter.linePos(e.pos[0]).line)
      if (braced) message += braced
      if (e.code === 'DUPLICATE_KEY')
        message += ` \`${keyAt(doc, e.pos[0]) ?? '?'}\`; each key may appear once`
      if (e.code === 'TAG_RESOLVE_FAILED')
        message = `${tagText(text, e.pos)}: YAML tags are not supported; remove it`
      // The parser may report one problem (e.g. exhaustion) several times at the same place.
      const id = `${span.line}:${span.column}:${message}`
      if (seen.has(id)) continue
      seen.add(id)
      issues.push({ file, ...span, path: '', message })
    }
    throw new ConfigError(issues)
  }
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (e) {
    // Excessive or unresolved aliases: point at the first alias, the likely culprit.
    let first: Node | undefined
    visit(doc, {
      Alias(_, node) {
        first = node
        return visit.BREAK
      },
    })
    const span = first?.range
      ? spanOf(lineCounter, first.range[0], first.range[1])
      : spanOf(lineCounter, 0, 0)
    const excessive = e instanceof Error && /excessive alias/i.test(e.message)
    const message = excessive
      ? `YAML aliases expand too much (more than ${MAX_ALIAS_COUNT} expansions); remove the anchors and aliases`
      : `YAML alias error: ${e instanceof Error ? e.message : String(e)}`
    throw new ConfigError([{ file, ...span, path: '', message }])
  }
  if (value === null || value === undefined) {
    throw new ConfigError([
      fileIssue(file, 'the file is empty; it needs at least `account: { username: … }`'),
    ])
  }
  return { ...source, value }
}
