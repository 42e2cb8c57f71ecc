/**
 * Which values may be registered with the log masker (`core.setSecret`). The masker replaces every
 * occurrence anywhere in the job log, so registering `true`, a number or a short word would blank
 * out ordinary text ("true" became `***` in every later line). Cookie values are registered
 * without their quotes: the bare value is what leaks, and masking it covers the quoted form too.
 */

/** Shorter values are not secrets Apple hands out (tokens are dozens of characters). */
export const MIN_SECRET_LENGTH = 8

const NOT_SECRET = [
  /^(true|false|null|undefined|none|yes|no)$/i,
  /^[+-]?\d+(\.\d+)?$/, // numbers (status codes, counts)
  /^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$/, // dates and times
]

/** The forms of `value` to register: none for non-secrets, the unquoted value for quoted ones. */
export function maskableValues(value: string | undefined | null): string[] {
  if (typeof value !== 'string') return []
  let v = value.trim()
  const quoted = /^"(.*)"$/s.exec(v)
  if (quoted) v = quoted[1]!.trim()
  if (v.length < MIN_SECRET_LENGTH || NOT_SECRET.some((re) => re.test(v))) return []
  return [v]
}
