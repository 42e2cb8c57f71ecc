/**
 * icloudpd's `skip-created-before` / `skip-created-after` values, parsed as icloudpd parses them
 * (src/icloudpd/string_helpers.py `parse_timestamp_or_timedelta`): first an interval of whole days
 * (`20d`), then Python's `datetime.fromisoformat`. Shared by the config rules (errors with file
 * and line) and the engine's filter (photos/filters.ts).
 */

/** A parsed `skip-created-*` value: a point in time, or whole days back from the run's clock. */
export type CreatedBound =
  | { kind: 'date'; /** Without a zone, the instant is settled when the filter is built. */ wall: WallTime }
  | { kind: 'days'; days: number }

/** A date-time as written: the wall clock and, when given, its offset from UTC in minutes. */
export interface WallTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  ms: number
  offsetMin?: number
}

// icloudpd: re.match(r"(\d+)([dD]{1})", s). Python's re.match anchors only the start, so icloudpd
// also reads `1d12h` as one day; here the whole value must be the interval, and anything else is
// an error rather than a silent misreading.
const INTERVAL = /^(\d+)[dD]$/

// Python 3.11+ datetime.fromisoformat: the extended (2024-01-31) or basic (20240131) date, then a
// separator and a time in either form, fractions of a second, and Z / ±HH[:MM[:SS[.f]]].
const DATE = /^(\d{4})(?:-(\d{2})-(\d{2})|(\d{2})(\d{2}))/
const TIME = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?/
const ZONE = /^(?:(Z)|([+-])(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,]\d+)?)?)?)$/

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  return month === 2 && leap ? 29 : MONTH_DAYS[month - 1]!
}

/** `datetime.fromisoformat` for the forms people write; undefined when Python would refuse it. */
export function parseIsoDateTime(text: string): WallTime | undefined {
  const d = DATE.exec(text)
  if (!d) return undefined
  const year = Number(d[1])
  const month = Number(d[2] ?? d[4])
  const day = Number(d[3] ?? d[5])
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined
  const wall: WallTime = { year, month, day, hour: 0, minute: 0, second: 0, ms: 0 }
  let rest = text.slice(d[0].length)
  if (rest === '') return wall
  // Python accepts any single character between date and time; `T` and a space are what is written.
  if (!/^[Tt ]/.test(rest)) return undefined
  rest = rest.slice(1)
  const t = TIME.exec(rest)
  if (!t) return undefined
  wall.hour = Number(t[1])
  wall.minute = Number(t[2] ?? 0)
  wall.second = Number(t[3] ?? 0)
  wall.ms = t[4] ? Math.floor(Number(`0.${t[4]}`) * 1000) : 0
  if (wall.hour > 23 || wall.minute > 59 || wall.second > 59) return undefined
  rest = rest.slice(t[0].length)
  if (rest === '') return wall
  const z = ZONE.exec(rest)
  if (!z) return undefined
  if (z[1]) wall.offsetMin = 0
  else {
    const h = Number(z[3])
    const m = Number(z[4] ?? 0)
    if (h > 23 || m > 59) return undefined
    wall.offsetMin = (z[2] === '-' ? -1 : 1) * (h * 60 + m)
  }
  return wall
}

/** icloudpd's `parse_timestamp_or_timedelta`: an interval in days, else an ISO date-time. */
export function parseCreatedBound(text: string): CreatedBound | undefined {
  const s = text.trim()
  const m = INTERVAL.exec(s)
  if (m) return { kind: 'days', days: Number(m[1]) }
  const wall = parseIsoDateTime(s)
  return wall && { kind: 'date', wall }
}

/** Why a `skip-created-*` value is refused; undefined when it parses. */
export function createdBoundProblem(text: string): string | undefined {
  if (parseCreatedBound(text)) return undefined
  return `\`${text}\` is neither an ISO date or date-time (2024-01-31, 2024-01-31T08:00:00+02:00) nor a number of days (20d)`
}
