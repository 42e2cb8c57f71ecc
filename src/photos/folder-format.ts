/**
 * `folder-structure` (icloudpd --folder-structure): a Python `str.format` over an aware datetime,
 * with C-locale `strftime` directives and time zones, evaluated as icloudpd (Python) would, so an
 * existing backup's folders are found again. Pure; errors are CONFIG_INVALID.
 */
import { AppError } from '../core/errors.js'
import type { Asset } from './asset.js'
import { localeNames } from './locale.js'

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]

interface LocalTime {
  year: number
  month: number // 1-12
  day: number
  hour: number
  minute: number
  second: number
  micro: number
  weekday: number // 0 = Sunday
  yday: number // 1-366
  offsetMin: number
  zoneName: () => string
  /** BCP 47 tag for month and day names (use-os-locale); undefined: the C locale's English. */
  locale?: string
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatterFor(timeZone: string | undefined, zoneName: boolean): Intl.DateTimeFormat {
  // The default zone follows TZ, which Node lets a process change at run time: key on it.
  const key = `${timeZone ?? `default:${process.env.TZ ?? ''}`}|${zoneName}`
  let f = formatters.get(key)
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat(
        'en-US',
        zoneName
          ? { timeZone, timeZoneName: 'short' }
          : {
              timeZone,
              hourCycle: 'h23',
              year: 'numeric',
              month: 'numeric',
              day: 'numeric',
              hour: 'numeric',
              minute: 'numeric',
              second: 'numeric',
            },
      )
    } catch {
      throw new AppError(
        'CONFIG_INVALID',
        `Unknown time zone ${JSON.stringify(timeZone)}.`,
        'Use an IANA name such as Europe/Berlin.',
      )
    }
    formatters.set(key, f)
  }
  return f
}

export type WallClock = Record<'year' | 'month' | 'day' | 'hour' | 'minute' | 'second', number>

/**
 * The wall clock of `t`. The process's own zone (the default; it follows TZ) is read from Date:
 * the same zone rules, without the ~8 MiB of ICU locale data an Intl formatter brings in.
 */
export function wallClock(t: number, timeZone: string | undefined): WallClock {
  if (timeZone === undefined) {
    const d = new Date(t)
    return {
      year: d.getFullYear(),
      month: d.getMonth() + 1,
      day: d.getDate(),
      hour: d.getHours(),
      minute: d.getMinutes(),
      second: d.getSeconds(),
    }
  }
  const parts: Record<string, number> = {}
  for (const p of formatterFor(timeZone, false).formatToParts(t)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value)
  }
  return parts as WallClock
}

function localTime(ms: number, timeZone: string | undefined, locale?: string): LocalTime {
  const t = Number.isFinite(ms) ? ms : 0
  const parts = wallClock(t, timeZone)
  const wall = new Date(0)
  wall.setUTCFullYear(parts.year, parts.month - 1, parts.day)
  wall.setUTCHours(parts.hour, parts.minute, parts.second, 0)
  const secondStart = t - (((t % 1000) + 1000) % 1000)
  const offsetMin = Math.round((wall.getTime() - secondStart) / 60_000)
  const jan1 = new Date(0)
  jan1.setUTCFullYear(parts.year, 0, 1)
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour,
    minute: parts.minute,
    second: parts.second,
    micro: (((t % 1000) + 1000) % 1000) * 1000,
    weekday: wall.getUTCDay(),
    yday: Math.floor((wall.getTime() - jan1.getTime()) / 86_400_000) + 1,
    offsetMin,
    locale,
    zoneName: () =>
      formatterFor(timeZone, true)
        .formatToParts(t)
        .find((p) => p.type === 'timeZoneName')?.value ?? '',
  }
}

function pad(n: number, width: number, noPad: boolean, fill = '0'): string {
  return noPad ? String(n) : String(n).padStart(width, fill)
}

function offsetText(min: number, colon: boolean): string {
  const sign = min < 0 ? '-' : '+'
  const a = Math.abs(min)
  return `${sign}${pad(Math.floor(a / 60), 2, false)}${colon ? ':' : ''}${pad(a % 60, 2, false)}`
}

function badFolder(structure: string, why: string): AppError {
  return new AppError(
    'CONFIG_INVALID',
    `folder-structure ${JSON.stringify(structure)} is invalid: ${why}.`,
    'Use a Python-style date format such as {:%Y/%m/%d}, or none.',
  )
}

type Directive = (lt: LocalTime, noPad: boolean) => string

/** C-locale strftime directives (what icloudpd users put in folder structures); `%-d` drops padding. */
const DIRECTIVES: Readonly<Record<string, Directive | string>> = {
  Y: (lt) => String(lt.year),
  y: (lt, np) => pad(lt.year % 100, 2, np),
  m: (lt, np) => pad(lt.month, 2, np),
  d: (lt, np) => pad(lt.day, 2, np),
  e: (lt, np) => pad(lt.day, 2, np, ' '),
  H: (lt, np) => pad(lt.hour, 2, np),
  I: (lt, np) => pad(lt.hour % 12 || 12, 2, np),
  p: (lt) => (lt.locale ? localeNames(lt.locale)[lt.hour < 12 ? 'am' : 'pm'] : lt.hour < 12 ? 'AM' : 'PM'),
  M: (lt, np) => pad(lt.minute, 2, np),
  S: (lt, np) => pad(lt.second, 2, np),
  f: (lt) => pad(lt.micro, 6, false),
  j: (lt, np) => pad(lt.yday, 3, np),
  a: (lt) => (lt.locale ? localeNames(lt.locale).daysShort[lt.weekday] : DAYS[lt.weekday].slice(0, 3)),
  A: (lt) => (lt.locale ? localeNames(lt.locale).days : DAYS)[lt.weekday],
  w: (lt) => String(lt.weekday),
  u: (lt) => String(lt.weekday || 7),
  b: (lt) =>
    lt.locale ? localeNames(lt.locale).monthsShort[lt.month - 1] : MONTHS[lt.month - 1].slice(0, 3),
  h: (lt) =>
    lt.locale ? localeNames(lt.locale).monthsShort[lt.month - 1] : MONTHS[lt.month - 1].slice(0, 3),
  B: (lt) => (lt.locale ? localeNames(lt.locale).months : MONTHS)[lt.month - 1],
  U: (lt, np) => pad(Math.floor((lt.yday - 1 + 7 - lt.weekday) / 7), 2, np),
  W: (lt, np) => pad(Math.floor((lt.yday - 1 + 7 - ((lt.weekday + 6) % 7)) / 7), 2, np),
  z: (lt) => offsetText(lt.offsetMin, false),
  Z: (lt) => lt.zoneName(),
  '%': () => '%',
  // Composites, as in the C locale (with use-os-locale too: only the names above follow it).
  c: '%a %b %e %H:%M:%S %Y',
  x: '%m/%d/%y',
  D: '%m/%d/%y',
  X: '%H:%M:%S',
  T: '%H:%M:%S',
  F: '%Y-%m-%d',
  R: '%H:%M',
}

function strftime(spec: string, lt: LocalTime, structure: string): string {
  let out = ''
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] !== '%') {
      out += spec[i]
      continue
    }
    let d = spec[++i]
    const noPad = d === '-'
    if (noPad) d = spec[++i]
    const directive = d === undefined || !Object.hasOwn(DIRECTIVES, d) ? undefined : DIRECTIVES[d]
    if (directive === undefined) {
      throw badFolder(structure, d === undefined ? 'it ends with a lone %' : `unsupported directive %${d}`)
    }
    out += typeof directive === 'string' ? strftime(directive, lt, structure) : directive(lt, noPad)
  }
  return out
}

/** Python's `str(datetime)` for an aware datetime: `2024-01-02 03:04:05+00:00`. */
function pythonStr(lt: LocalTime): string {
  const date = `${pad(lt.year, 4, false)}-${pad(lt.month, 2, false)}-${pad(lt.day, 2, false)}`
  const time = `${pad(lt.hour, 2, false)}:${pad(lt.minute, 2, false)}:${pad(lt.second, 2, false)}`
  return `${date} ${time}${lt.micro ? '.' + pad(lt.micro, 6, false) : ''}${offsetText(lt.offsetMin, true)}`
}

/** `str.format(datetime)`: `{}`/`{0}` with an optional `:strftime` spec, `{{`/`}}` escapes. */
function formatPython(structure: string, lt: LocalTime): string {
  let out = ''
  for (let i = 0; i < structure.length; i++) {
    const c = structure[i]
    if (c === '{' && structure[i + 1] === '{') {
      out += '{'
      i++
    } else if (c === '}' && structure[i + 1] === '}') {
      out += '}'
      i++
    } else if (c === '{') {
      const end = structure.indexOf('}', i)
      if (end < 0) throw badFolder(structure, 'a { is never closed')
      const field = structure.slice(i + 1, end)
      if (field.includes('{')) throw badFolder(structure, 'nested fields are not supported')
      const colon = field.indexOf(':')
      const name = colon < 0 ? field : field.slice(0, colon)
      if (name !== '' && name !== '0')
        throw badFolder(structure, `only the date itself can be formatted, not {${name}}`)
      out +=
        colon < 0 || colon === field.length - 1
          ? pythonStr(lt)
          : strftime(field.slice(colon + 1), lt, structure)
      i = end
    } else if (c === '}') {
      throw badFolder(structure, 'a single } must be written }}')
    } else {
      out += c
    }
  }
  return out
}

function folderPath(structure: string, ms: number, timeZone: string | undefined, locale?: string): string {
  if (structure.toLowerCase() === 'none') return ''
  const raw = formatPython(structure, localTime(ms, timeZone, locale))
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw badFolder(structure, 'it must be a relative path')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001F]/.test(raw)) throw badFolder(structure, 'it contains control characters')
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.')
  if (segments.includes('..')) throw badFolder(structure, 'it must not contain ..')
  return segments.join('/')
}

/** Throws the CONFIG_INVALID error `folderFor` would, without needing an asset. */
export function checkFolderStructure(structure: string, timeZone?: string): void {
  folderPath(structure, Date.now(), timeZone)
}

/**
 * The asset's folder: `folder-structure` applied to its capture time (assetDate) in the local time
 * zone, like icloudpd. `none` → '' (flat). POSIX, relative, no `..`. `locale` (use-os-locale)
 * names months and days in that language.
 */
export function folderFor(asset: Asset, folderStructure: string, timeZone?: string, locale?: string): string {
  return folderPath(folderStructure, asset.createdAt, timeZone, locale)
}
