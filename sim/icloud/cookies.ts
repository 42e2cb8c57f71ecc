/**
 * Cookie helpers for the fake: Apple-shaped Set-Cookie lines and Cookie-header parsing.
 * Every cookie is host-only (no Domain attribute): the fake is 127.0.0.1, where a `.icloud.com`
 * domain would be refused by the client's jar. Expiry comes from the virtual clock.
 */
import type { IncomingHttpHeaders } from 'node:http'

export interface CookieSpec {
  name: string
  /** The value exactly as sent; Apple's quotes are part of it. */
  value: string
  /** Epoch ms; omitted → a session cookie. */
  expiresAt?: number
  httpOnly?: boolean
}

export function setCookie(c: CookieSpec): string {
  const parts = [`${c.name}=${c.value}`]
  if (c.expiresAt !== undefined) parts.push(`Expires=${new Date(c.expiresAt).toUTCString()}`)
  parts.push('Path=/', 'Secure')
  if (c.httpOnly !== false) parts.push('HttpOnly')
  return parts.join('; ')
}

/** Apple wraps many cookie values in double quotes and expects them back verbatim. */
export function quoted(v: string): string {
  return `"${v}"`
}

export function parseCookies(headers: IncomingHttpHeaders): Map<string, string> {
  const out = new Map<string, string>()
  const raw = headers.cookie
  for (const line of raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      out.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
    }
  }
  return out
}
