/**
 * Python's `http.cookiejar.LWPCookieJar` file format ("Set-Cookie3", libwww-perl), which pyicloud
 * and icloudpd use for Apple's cookies, and its mapping to tough-cookie.
 *
 * Reading ports `LWPCookieJar._really_load` + `split_header_words`; writing ports `lwp_cookie_str` +
 * `join_header_words` and the jar's nested-dict order, so a file Python wrote comes back byte for
 * byte and Python reads ours as if it had written it (docs/protocol.md §7).
 */
import { Cookie, CookieJar, canonicalDomain } from 'tough-cookie'
import type { Callback, SetCookieOptions } from 'tough-cookie'

export const LWP_MAGIC = '#LWP-Cookies-2.0'

/** One cookie with the fields Python's `http.cookiejar.Cookie` keeps and LWPCookieJar writes. */
export interface LwpCookie {
  name: string
  /** `null`: a lone token without `=` (Python's `None`). */
  value: string | null
  path: string
  /** As Python stores it: `.icloud.com` for a Domain cookie, the bare host for a host-only one. */
  domain: string
  port: string | null
  /** The Set-Cookie header had a Path attribute. */
  pathSpec: boolean
  portSpec: boolean
  /** The Set-Cookie header's Domain attribute began with a dot (`Domain=apple.com` has none). */
  domainDot: boolean
  secure: boolean
  /** Seconds since the epoch; `null` for a session cookie. */
  expires: number | null
  discard: boolean
  comment: string | null
  commentUrl: string | null
  /** Non-standard attributes (`HttpOnly`, `SameSite`, …); `null` is Python's `None`. */
  rest: Map<string, string | null>
  version: number | null
}

/** The file is not something LWPCookieJar can load. The message never quotes file content. */
export class LwpFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LwpFormatError'
  }
}

// ---------------------------------------------------------------------------------------------
// Text format

const BOOLEAN_ATTRS = new Set(['port_spec', 'path_spec', 'domain_dot', 'secure', 'discard'])
const VALUE_ATTRS = new Set(['version', 'port', 'path', 'domain', 'expires', 'comment', 'commenturl'])

/** Parses a jar file. Lines other than `Set-Cookie3:` ones are skipped, as Python does. */
export function parseLwp(text: string): LwpCookie[] {
  // Python reads the file in text mode: universal newlines.
  const lines = text.split(/\r\n|\r|\n/)
  if (!/#LWP-Cookies-(\d+\.\d+)/.test(lines[0] ?? '')) {
    throw new LwpFormatError('the first line is not "#LWP-Cookies-2.0"')
  }
  const cookies: LwpCookie[] = []
  const header = 'Set-Cookie3:'
  lines.forEach((line, i) => {
    if (i === 0 || !line.startsWith(header)) return
    for (const words of splitHeaderWords(line.slice(header.length).trim())) {
      cookies.push(cookieFromWords(words, i + 1))
    }
  })
  return cookies
}

function cookieFromWords(words: Array<[string, string | null]>, lineNo: number): LwpCookie {
  const [name, value] = words[0]!
  const flags = new Map<string, boolean>()
  const values = new Map<string, string | null>()
  const rest = new Map<string, string | null>()
  for (const [word, v] of words.slice(1)) {
    const lc = word.toLowerCase()
    // Python keeps the case of unknown attributes only.
    const k = BOOLEAN_ATTRS.has(lc) || VALUE_ATTRS.has(lc) ? lc : word
    if (BOOLEAN_ATTRS.has(k)) flags.set(k, v === null || v !== '')
    else if (VALUE_ATTRS.has(k)) values.set(k, v)
    else rest.set(k, v)
  }
  const domain = values.get('domain')
  const path = values.get('path')
  if (!domain) throw new LwpFormatError(`line ${lineNo}: a cookie without a domain`)
  if (!path) throw new LwpFormatError(`line ${lineNo}: a cookie without a path`)
  const expiresText = values.get('expires')
  const expires = expiresText == null ? null : iso2time(expiresText)
  const versionText = values.get('version')
  let version: number | null = null
  if (versionText != null) {
    if (!/^\s*[+-]?\d+\s*$/.test(versionText)) throw new LwpFormatError(`line ${lineNo}: a bad version`)
    version = Number.parseInt(versionText, 10)
  }
  return {
    name,
    value,
    path,
    domain,
    port: values.get('port') ?? null,
    pathSpec: flags.get('path_spec') ?? false,
    portSpec: flags.get('port_spec') ?? false,
    domainDot: flags.get('domain_dot') ?? false,
    secure: flags.get('secure') ?? false,
    expires,
    // A cookie without a (readable) expiry is a session cookie.
    discard: (flags.get('discard') ?? false) || expires === null,
    comment: values.get('comment') ?? null,
    commentUrl: values.get('commenturl') ?? null,
    rest,
    version,
  }
}

// Python's http.cookiejar.split_header_words, for one line.
const HEADER_TOKEN_RE = /^\s*([^=\s;,]+)/
const HEADER_QUOTED_VALUE_RE = /^\s*=\s*"([^"\\]*(?:\\[^\n][^"\\]*)*)"/
const HEADER_VALUE_RE = /^\s*=\s*([^\s;,]*)/

export function splitHeaderWords(line: string): Array<Array<[string, string | null]>> {
  const result: Array<Array<[string, string | null]>> = []
  let pairs: Array<[string, string | null]> = []
  let text = line
  while (text) {
    const token = HEADER_TOKEN_RE.exec(text)
    if (token) {
      text = text.slice(token[0].length)
      let value: string | null = null
      const quoted = HEADER_QUOTED_VALUE_RE.exec(text)
      if (quoted) {
        text = text.slice(quoted[0].length)
        value = quoted[1]!.replace(/\\([^\n])/g, '$1')
      } else {
        const bare = HEADER_VALUE_RE.exec(text)
        if (bare) {
          text = text.slice(bare[0].length)
          value = bare[1]!.trimEnd()
        }
      }
      pairs.push([token[1]!, value])
    } else if (text.trimStart().startsWith(',')) {
      // Concatenated headers: a new cookie.
      text = text.trimStart().slice(1)
      if (pairs.length) result.push(pairs)
      pairs = []
    } else {
      const rest = text.replace(/^[=\s;]+/, '')
      if (rest.length === text.length) break // unreachable with these patterns; never loop forever
      text = rest
    }
  }
  if (pairs.length) result.push(pairs)
  return result
}

/** The whole file, as `LWPCookieJar.save(ignore_discard=True, ignore_expires=True)` writes it. */
export function formatLwp(cookies: readonly LwpCookie[]): string {
  return `${LWP_MAGIC}\n${cookies.map((c) => `Set-Cookie3: ${lwpCookieString(c)}\n`).join('')}`
}

/** Python's `lwp_cookie_str`: attribute order and quoting are part of the format. */
export function lwpCookieString(c: LwpCookie): string {
  const h: Array<[string, string | null]> = [
    [c.name, c.value],
    ['path', c.path],
    ['domain', c.domain],
  ]
  if (c.port !== null) h.push(['port', c.port])
  if (c.pathSpec) h.push(['path_spec', null])
  if (c.portSpec) h.push(['port_spec', null])
  if (c.domainDot) h.push(['domain_dot', null])
  if (c.secure) h.push(['secure', null])
  if (c.expires) h.push(['expires', time2isoz(c.expires)])
  if (c.discard) h.push(['discard', null])
  if (c.comment) h.push(['comment', c.comment])
  if (c.commentUrl) h.push(['commenturl', c.commentUrl])
  for (const k of [...c.rest.keys()].sort()) h.push([k, c.rest.get(k) ?? 'None'])
  h.push(['version', String(c.version)])
  return h.map(([k, v]) => (v === null ? k : `${k}=${quoteValue(v)}`)).join('; ')
}

// Python's `re.search(r"^\w+$", v)`; Python's Unicode \w is letters, numbers and `_`, not marks.
function quoteValue(v: string): string {
  return /^[\p{L}\p{N}_]+$/u.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`
}

function time2isoz(seconds: number): string {
  const d = new Date(Math.floor(seconds) * 1000)
  const p = (n: number) => String(n).padStart(2, '0')
  return (
    `${String(d.getUTCFullYear()).padStart(4, '0')}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}Z`
  )
}

// Python's `iso2time`: `2027-01-12 05:06:31Z`, also `T`, offsets, or no zone (UTC).
const ISO_DATE_RE =
  /^(\d{4})[-/]?(\d\d?)[-/]?(\d\d?)(?:(?:\s+|[-:Tt])(\d\d?):?(\d\d)(?::?(\d\d)(?:\.\d*)?)?)?\s*(?:([-+])(\d\d?):?(\d\d)?|Z|z)?\s*$/

function iso2time(text: string): number | null {
  const m = ISO_DATE_RE.exec(text.trimStart())
  if (!m) return null
  const [yr, mon, day, hr, min, sec] = m.slice(1, 7).map((s) => Number(s ?? 0)) as number[]
  if (mon! < 1 || mon! > 12 || day! < 1 || day! > 31 || hr! > 23 || min! > 59 || sec! > 61) return null
  let t = Date.UTC(yr!, mon! - 1, day!, hr, min, sec) / 1000
  if (m[7]) t -= (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 3600 + Number(m[9] ?? 0) * 60)
  return t
}

// ---------------------------------------------------------------------------------------------
// tough-cookie mapping

/** Set on cookies read from a file: the record, so an untouched cookie is written back as it was. */
const fileRecords = new WeakMap<Cookie, { record: LwpCookie; fingerprint: string }>()
/** Whether the Domain attribute had a leading dot; tough-cookie drops that detail when parsing. */
const domainDots = new WeakMap<Cookie, boolean>()

/** A tough-cookie Cookie for a record (expired ones included: the caller stores it directly). */
export function toToughCookie(r: LwpCookie): Cookie {
  const hostOnly = !r.domain.startsWith('.')
  const extensions: string[] = []
  let httpOnly = false
  for (const [k, v] of r.rest) {
    if (k.toLowerCase() === 'httponly') httpOnly = true
    else extensions.push(v === null ? k : `${k}=${v}`)
  }
  const cookie = new Cookie({
    key: r.name,
    value: r.value ?? '',
    domain: canonicalDomain(r.domain) ?? r.domain,
    hostOnly,
    path: r.path,
    pathIsDefault: !r.pathSpec,
    secure: r.secure,
    httpOnly,
    expires: r.expires === null ? 'Infinity' : new Date(r.expires * 1000),
    extensions: extensions.length ? extensions : null,
  })
  domainDots.set(cookie, r.domainDot)
  return cookie
}

/**
 * The record Python would hold for a cookie tough-cookie accepted; `undefined` for a cookie the
 * format cannot express (an empty or unparseable name).
 */
export function fromToughCookie(c: Cookie): LwpCookie | undefined {
  if (!c.domain || !c.key || /[=\s;,]/.test(c.key)) return undefined
  const hostOnly = c.hostOnly === true
  const expiry = c.expiryTime()
  const expires = expiry === undefined || !Number.isFinite(expiry) ? null : Math.floor(expiry / 1000)
  const rest = new Map<string, string | null>()
  for (const ext of c.extensions ?? []) {
    const eq = ext.indexOf('=')
    if (eq === -1) rest.set(ext.trim(), null)
    else rest.set(ext.slice(0, eq).trim(), ext.slice(eq + 1).trim())
  }
  const has = (name: string) => [...rest.keys()].some((k) => k.toLowerCase() === name)
  if (c.httpOnly && !has('httponly')) rest.set('HttpOnly', null)
  if (c.sameSite && c.sameSite !== 'unspecified' && !has('samesite')) {
    rest.set('SameSite', c.sameSite.charAt(0).toUpperCase() + c.sameSite.slice(1))
  }
  return {
    name: c.key,
    value: c.value,
    path: c.path ?? '/',
    domain: hostOnly ? c.domain : `.${c.domain}`,
    port: null,
    pathSpec: c.pathIsDefault !== true,
    portSpec: false,
    // Without a hint (a cookie set through a plain CookieJar), Apple's usual `.icloud.com` form.
    domainDot: hostOnly ? false : (domainDots.get(c) ?? true),
    secure: c.secure,
    expires,
    discard: expires === null,
    comment: null,
    commentUrl: null,
    rest,
    version: 0,
  }
}

function fingerprint(c: Cookie): string {
  return JSON.stringify([
    c.key,
    c.value,
    c.domain,
    c.path,
    c.hostOnly,
    c.pathIsDefault,
    c.secure,
    c.httpOnly,
    c.expiryTime(),
    c.extensions,
    c.sameSite,
  ])
}

/**
 * Puts every cookie of an LWP file into the jar's store, expired and session cookies included
 * (`ignore_discard`/`ignore_expires`): tough-cookie applies expiry when it picks cookies for a
 * request, so expiry acts in memory only. Throws LwpFormatError for a file Python could not load.
 */
export async function loadLwpIntoJar(text: string, jar: CookieJar): Promise<number> {
  const records = parseLwp(text)
  for (const record of records) {
    const cookie = toToughCookie(record)
    fileRecords.set(cookie, { record, fingerprint: fingerprint(cookie) })
    await jar.store.putCookie(cookie)
  }
  return records.length
}

/**
 * The jar as an LWP file. Cookies read from a file and still unchanged are written exactly as
 * read, expired or not; a cookie that arrived already expired is left out (Python deletes it).
 * Order follows Python's `_cookies[domain][path][name]` dict: first-seen domain, then path.
 */
export async function jarToLwp(jar: CookieJar, now: Date = new Date()): Promise<string> {
  const byDomain = new Map<string, Map<string, LwpCookie[]>>()
  for (const cookie of await jar.store.getAllCookies()) {
    const loaded = fileRecords.get(cookie)
    let record: LwpCookie | undefined
    if (loaded && loaded.fingerprint === fingerprint(cookie)) {
      record = loaded.record
    } else {
      const expiry = cookie.expiryTime()
      if (expiry !== undefined && expiry <= now.getTime()) continue
      record = fromToughCookie(cookie)
      if (record && loaded) {
        // Keep what tough-cookie has no field for.
        record = { ...record, port: loaded.record.port, portSpec: loaded.record.portSpec }
      }
    }
    if (!record) continue
    const byPath = byDomain.get(record.domain) ?? new Map<string, LwpCookie[]>()
    byDomain.set(record.domain, byPath)
    const list = byPath.get(record.path) ?? []
    byPath.set(record.path, list)
    // Same domain, path and name twice (a hand-edited file): the later one wins, like a dict.
    const same = list.findIndex((r) => r.name === record.name)
    if (same === -1) list.push(record)
    else list[same] = record
  }
  return formatLwp([...byDomain.values()].flatMap((byPath) => [...byPath.values()].flat()))
}

/**
 * A CookieJar that remembers what tough-cookie's parser forgets but the LWP file records: whether
 * the Domain attribute started with a dot. It also turns Max-Age into an absolute expiry when the
 * cookie arrives (RFC 6265 §5.2.2, and what Python stores); tough-cookie would otherwise count it
 * from the last access. `loadSession` hands out this jar, so HttpClient's `setCookie(header, url)`
 * calls go through here.
 */
export class LwpCookieJar extends CookieJar {
  private readonly looseMode: boolean

  constructor(...args: ConstructorParameters<typeof CookieJar>) {
    super(...args)
    const options = args[1]
    this.looseMode = typeof options === 'boolean' ? options : (options?.looseMode ?? false)
  }

  override setCookie(cookie: string | Cookie, url: string | URL, callback: Callback<Cookie | undefined>): void
  override setCookie(
    cookie: string | Cookie,
    url: string | URL,
    options: SetCookieOptions,
    callback: Callback<Cookie | undefined>,
  ): void
  override setCookie(
    cookie: string | Cookie,
    url: string | URL,
    options?: SetCookieOptions,
  ): Promise<Cookie | undefined>
  override setCookie(
    cookie: string | Cookie,
    url: string | URL,
    options: SetCookieOptions | Callback<Cookie | undefined>,
    callback?: Callback<Cookie | undefined>,
  ): unknown
  override setCookie(
    cookie: string | Cookie,
    url: string | URL,
    options?: SetCookieOptions | Callback<Cookie | undefined>,
    callback?: Callback<Cookie | undefined>,
  ): unknown {
    const opts = typeof options === 'object' ? options : undefined
    if (typeof cookie === 'string') {
      const parsed = Cookie.parse(cookie, { loose: opts?.loose || this.looseMode })
      if (parsed) {
        const dot = domainAttributeDot(cookie)
        if (dot !== undefined) domainDots.set(parsed, dot)
        if (typeof parsed.maxAge === 'number' && parsed.maxAge > 0) {
          const now = opts?.now ?? new Date()
          parsed.expires = new Date(now.getTime() + parsed.maxAge * 1000)
          parsed.maxAge = null
        }
        cookie = parsed
      }
    }
    if (options === undefined) return super.setCookie(cookie, url)
    return super.setCookie(cookie, url, options, callback)
  }
}

/** Whether the Domain attribute tough-cookie uses (the last non-empty one) starts with a dot. */
function domainAttributeDot(header: string): boolean | undefined {
  let dot: boolean | undefined
  for (const av of header.split(';').slice(1)) {
    const eq = av.indexOf('=')
    if (eq === -1 || av.slice(0, eq).trim().toLowerCase() !== 'domain') continue
    const value = av.slice(eq + 1).trim()
    if (value.replace(/^\./, '')) dot = value.startsWith('.')
  }
  return dot
}
