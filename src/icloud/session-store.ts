/**
 * The session in the cookie directory, in the files pyicloud/icloudpd use (docs/protocol.md §7):
 * `<dir>/<B>` (LWP cookie jar) and `<dir>/<B>.session` (JSON of persisted headers and client id).
 * A session made by icloudpd loads here and ours loads in icloudpd. Unlike icloudpd, writes are
 * atomic, so a killed run never leaves a half-written session behind.
 */
import { randomBytes } from 'node:crypto'
import { chmod, copyFile, lstat, mkdir, readFile, rename } from 'node:fs/promises'
import { constants as fsConstants } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import type { CookieJar } from 'tough-cookie'
import { AppError } from '../core/errors.js'
import { writeFileAtomic } from '../util/atomic.js'
import { LwpCookieJar, LwpFormatError, jarToLwp, loadLwpIntoJar } from './lwp-cookies.js'

/** Python's `\w`: letters, numbers and `_`; combining marks are not word characters there. */
const WORD_CHAR = /[\p{L}\p{N}_]/u

/** The Apple ID reduced to the characters pyicloud keeps in file names (`jdoe@example.com` → `jdoeexamplecom`). */
export function sessionBaseName(appleId: string): string {
  return Array.from(appleId)
    .filter((ch) => WORD_CHAR.test(ch))
    .join('')
}

/** `~` expansion and Python `os.path.normpath`-style normalisation (no trailing slash). */
export function expandCookieDirectory(dir: string): string {
  let expanded = dir
  if (dir === '~' || dir.startsWith('~/') || dir.startsWith(`~${path.sep}`)) {
    expanded = path.join(homedir(), dir.slice(1))
  }
  const normal = path.normalize(expanded || '.')
  return normal.length > 1 && normal.endsWith(path.sep) ? normal.slice(0, -1) : normal
}

export interface SessionFiles {
  dir: string
  jarPath: string
  sessionPath: string
}

export function sessionPaths(dir: string, appleId: string): SessionFiles {
  const base = sessionBaseName(appleId)
  if (!base) {
    throw new AppError(
      'CONFIG_INVALID',
      'The Apple ID has no letters or digits, so it cannot name the session files.',
      'Set the username to the Apple ID (an email address or phone number).',
    )
  }
  const d = expandCookieDirectory(dir)
  return { dir: d, jarPath: path.join(d, base), sessionPath: path.join(d, `${base}.session`) }
}

export interface LoadedSession {
  data: Record<string, string>
  jar: CookieJar
  /**
   * `missing`: neither file exists. `broken`: a file exists but cannot be read or parsed; that
   * file's part is empty, the other part is loaded (icloudpd treats the two files the same way).
   */
  status: 'missing' | 'ok' | 'broken'
  /** What is wrong, naming the file; never quotes file content. */
  problem?: string
}

export async function loadSession(dir: string, appleId: string): Promise<LoadedSession> {
  const files = sessionPaths(dir, appleId)
  const jar = new LwpCookieJar()
  const problems: string[] = []
  let found = false

  const jarText = await readText(files.jarPath, problems)
  if (jarText !== undefined) {
    found = true
    try {
      await loadLwpIntoJar(jarText, jar)
    } catch (err) {
      if (!(err instanceof LwpFormatError)) throw err
      await jar.removeAllCookies()
      problems.push(`the cookie jar ${files.jarPath} is not a valid LWP cookie file (${err.message})`)
    }
  }

  let data: Record<string, string> = {}
  const sessionText = await readText(files.sessionPath, problems)
  if (sessionText !== undefined) {
    found = true
    const parsed = parseSessionJson(sessionText)
    if (parsed) data = parsed
    else problems.push(`the session file ${files.sessionPath} is not a JSON object`)
  }

  if (problems.length) return { data, jar, status: 'broken', problem: problems.join('; ') }
  return { data, jar, status: found ? 'ok' : 'missing' }
}

/**
 * Reads a UTF-8 file; `undefined` when it does not exist or its content is unusable (then a problem
 * is noted and the file is set aside). A file that cannot be opened (permissions, a file where the
 * directory should be) says nothing about its content: that is DISK, and the files stay as they are.
 */
async function readText(file: string, problems: string[]): Promise<string | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw cookieDirectoryError(path.dirname(file), err, 'read')
  }
  try {
    // Keep a BOM: Python's json.load rejects one, so the file is broken there too.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    problems.push(`${file} is not UTF-8 text`)
    return undefined
  }
}

/** The `.session` object with every value as a string; `undefined` when it is not a JSON object. */
export function parseSessionJson(text: string): Record<string, string> | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    // The parser's message quotes the text, which holds tokens: say nothing more.
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  // pyicloud only writes strings; anything else (hand-edited) is kept as its JSON text.
  return Object.fromEntries(
    Object.entries(parsed).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  )
}

/** Python `json.dump(data, f)`: `", "`/`": "` separators, ASCII only (`\uXXXX`), no newline. */
export function formatSessionJson(data: Record<string, string>): string {
  return `{${Object.entries(data)
    .map(([k, v]) => `${pythonJsonString(k)}: ${pythonJsonString(String(v))}`)
    .join(', ')}}`
}

const PY_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
}

function pythonJsonString(s: string): string {
  // Per UTF-16 unit (no `u` flag), so astral characters become surrogate pairs as in Python.
  return `"${s.replace(/["\\]|[^ -~]/g, (ch) => PY_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`
}

/**
 * Writes both files atomically (temp file in the same directory, fsync, rename), mode 0600, in a
 * directory created with mode 0700. Cookies are written as icloudpd does with
 * `ignore_discard=True, ignore_expires=True`.
 */
export async function saveSession(
  dir: string,
  appleId: string,
  data: Record<string, string>,
  jar: CookieJar,
): Promise<void> {
  const files = sessionPaths(dir, appleId)
  const jarText = await jarToLwp(jar)
  try {
    await ensureDirectory(files.dir)
    await writeFileAtomic(files.jarPath, jarText)
    await writeFileAtomic(files.sessionPath, formatSessionJson(data))
  } catch (err) {
    throw cookieDirectoryError(files.dir, err, 'save')
  }
}

/** EACCES/EPERM/ENOTDIR/… on the cookie directory → DISK naming the path and the fix. */
export function cookieDirectoryError(dir: string, err: unknown, what: 'read' | 'save'): AppError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error'
  const fix =
    code === 'ENOTDIR' || code === 'EEXIST'
      ? `${dir} (or a parent) is a file, not a directory: move it away, or set \`auth.cookie-directory\` to another path.`
      : code === 'EISDIR'
        ? `A session file in ${dir} is a directory: move it away.`
        : code === 'EACCES' || code === 'EPERM'
          ? `The user running this may not ${what === 'read' ? 'read' : 'write'} it: give it access (e.g. \`sudo chown -R $(id -u) ${dir}\`), or set \`auth.cookie-directory\` to a directory it owns. The session files were left untouched.`
          : 'Check that the cookie directory is writable and the disk is not full.'
  return new AppError('DISK', `Cannot ${what} the iCloud session in ${dir} (${code}).`, fix, {
    cause: err,
  })
}

async function ensureDirectory(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 })
  // The umask may have narrowed the mode; it can't widen it, but be exact about what we created.
  if (created !== undefined) await chmod(dir, 0o700)
}

/**
 * Renames both files (those that exist) to `<name>.broken-<UTC timestamp>`, so a fresh sign-in can
 * start clean while the old files stay around for inspection. Returns the new paths.
 */
export async function moveSessionAside(
  dir: string,
  appleId: string,
  now: Date = new Date(),
): Promise<string[]> {
  return setAside(dir, appleId, now, rename)
}

/**
 * Like moveSessionAside, but copies: the files stay in place until a new session is saved over
 * them (atomically). A run killed before that still finds the old files — with the trust token
 * that spares a 2FA code — instead of nothing.
 */
export async function copySessionAside(
  dir: string,
  appleId: string,
  now: Date = new Date(),
): Promise<string[]> {
  return setAside(dir, appleId, now, (from, to) => copyFile(from, to, fsConstants.COPYFILE_EXCL))
}

async function setAside(
  dir: string,
  appleId: string,
  now: Date,
  put: (from: string, to: string) => Promise<void>,
): Promise<string[]> {
  const files = sessionPaths(dir, appleId)
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '')
  const moved: string[] = []
  for (const file of [files.jarPath, files.sessionPath]) {
    if (!(await exists(file))) continue
    let target = `${file}.broken-${stamp}`
    for (let n = 2; await exists(target); n++) target = `${file}.broken-${stamp}-${n}`
    await put(file, target)
    moved.push(target)
  }
  return moved
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** Response headers icloudpd copies into `.session` from every response (§2). */
export const PERSISTED_HEADERS: Record<string, string> = {
  'x-apple-id-account-country': 'account_country',
  'x-apple-id-session-id': 'session_id',
  'x-apple-session-token': 'session_token',
  'x-apple-twosv-trust-token': 'trust_token',
  'x-apple-twosv-trust-eligible': 'trust_eligible',
  'x-apple-i-rscd': 'apple_rscd',
  'x-apple-i-ercd': 'apple_ercd',
  scnt: 'scnt',
}

/**
 * Copies the non-empty §2 headers of a response into the session data (any host, any status, as
 * icloudpd does). Repeated headers are joined with `, ` like Python `requests`. Returns whether
 * anything changed, so callers save only then.
 */
export function captureSessionHeaders(
  data: Record<string, string>,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  let changed = false
  for (const [name, raw] of Object.entries(headers)) {
    const key = PERSISTED_HEADERS[name.toLowerCase()]
    if (key === undefined || raw === undefined) continue
    const value = Array.isArray(raw) ? raw.join(', ') : raw
    if (!value || data[key] === value) continue
    data[key] = value
    changed = true
  }
  return changed
}

/** `auth-` + a lower-case UUIDv1, the form pyicloud creates once and keeps in `.session`. */
export function newClientId(): string {
  return `auth-${uuidV1()}`
}

/** The session's client id, created (as the first key of a new session) when there is none. */
export function ensureClientId(data: Record<string, string>): string {
  const existing = data.client_id
  if (existing) return existing
  const id = newClientId()
  data.client_id = id
  return id
}

// 100 ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
const GREGORIAN_OFFSET = 0x01b21dd213814000n
let uuidState: { node: string; clockSeq: number; last: bigint } | undefined

/** RFC 9562 UUIDv1 with a random node id (multicast bit set, as the RFC asks for random nodes). */
function uuidV1(): string {
  if (!uuidState) {
    const node = randomBytes(6)
    node[0] = node[0]! | 0x01
    uuidState = { node: node.toString('hex'), clockSeq: randomBytes(2).readUInt16BE(0) & 0x3fff, last: 0n }
  }
  let ts = BigInt(Date.now()) * 10_000n + GREGORIAN_OFFSET
  // Several ids in one millisecond (or a clock step back) still get distinct, increasing times.
  if (ts <= uuidState.last) ts = uuidState.last + 1n
  uuidState.last = ts
  const hex = (n: bigint | number, width: number) => n.toString(16).padStart(width, '0')
  return [
    hex(ts & 0xffffffffn, 8),
    hex((ts >> 32n) & 0xffffn, 4),
    hex(((ts >> 48n) & 0x0fffn) | 0x1000n, 4),
    hex(uuidState.clockSeq | 0x8000, 4),
    uuidState.node,
  ].join('-')
}
