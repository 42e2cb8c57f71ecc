/**
 * `use-os-locale` (icloudpd --use-os-locale): icloudpd then calls `setlocale(LC_ALL, "")`, so
 * Python's strftime names months and days in folder-structure (`%B`, `%b`, `%A`, `%a`, `%p`) in the
 * language of LC_ALL / LC_TIME / LANG. Here the same environment picks an Intl locale and Intl
 * supplies the names (CLDR data, where glibc has its own: `%b` may differ in a dot, e.g. German
 * `Jan.` here, `Jan` from glibc; full month and day names agree for common languages).
 */

/** The POSIX locale that governs dates: LC_ALL, then LC_TIME, then LANG (the first that is set). */
export function posixTimeLocale(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const name of ['LC_ALL', 'LC_TIME', 'LANG']) {
    const v = env[name]
    if (v) return v
  }
  return undefined
}

/**
 * The BCP 47 tag for the OS locale (`de_DE.UTF-8` → `de-DE`), or undefined for the C / POSIX
 * locale, an unset environment, or a language Intl does not know (English names, like icloudpd's
 * default).
 */
export function osLocale(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const posix = posixTimeLocale(env)
  if (!posix) return undefined
  const m = /^([A-Za-z]{2,3})(?:_([A-Za-z]{2}|\d{3}))?(?:[.@]|$)/.exec(posix)
  if (!m) return undefined // C, POSIX, C.UTF-8
  const tag = m[2] ? `${m[1]!.toLowerCase()}-${m[2].toUpperCase()}` : m[1]!.toLowerCase()
  try {
    return Intl.DateTimeFormat.supportedLocalesOf([tag])[0]
  } catch {
    return undefined
  }
}

export interface LocaleNames {
  months: string[]
  monthsShort: string[]
  days: string[]
  daysShort: string[]
  am: string
  pm: string
}

const cache = new Map<string, LocaleNames>()

/** Month and day names of `locale`; months in their date form (Polish `stycznia`), like glibc's %B. */
export function localeNames(locale: string): LocaleNames {
  let names = cache.get(locale)
  if (names) return names
  const part = (opts: Intl.DateTimeFormatOptions, t: number, type: Intl.DateTimeFormatPartTypes) =>
    new Intl.DateTimeFormat(locale, { timeZone: 'UTC', ...opts })
      .formatToParts(t)
      .find((p) => p.type === type)?.value ?? ''
  const month = (m: number) => Date.UTC(2021, m, 10, 12)
  // 3 January 2021 was a Sunday: strftime's weeks start there.
  const day = (d: number) => Date.UTC(2021, 0, 3 + d, 12)
  const range = (n: number) => Array.from({ length: n }, (_, i) => i)
  // Where the date form names a month by its number (Japanese `1`), the stand-alone form (`1月`).
  const monthName = (m: number, width: 'long' | 'short') => {
    const name = part({ month: width, day: 'numeric' }, month(m), 'month')
    return /^\d+$/.test(name)
      ? new Intl.DateTimeFormat(locale, { timeZone: 'UTC', month: width }).format(month(m))
      : name
  }
  names = {
    months: range(12).map((m) => monthName(m, 'long')),
    monthsShort: range(12).map((m) => monthName(m, 'short')),
    days: range(7).map((d) => part({ weekday: 'long' }, day(d), 'weekday')),
    daysShort: range(7).map((d) => part({ weekday: 'short' }, day(d), 'weekday')),
    am: part({ hour: 'numeric', hourCycle: 'h12' }, Date.UTC(2021, 0, 1, 1), 'dayPeriod'),
    pm: part({ hour: 'numeric', hourCycle: 'h12' }, Date.UTC(2021, 0, 1, 13), 'dayPeriod'),
  }
  cache.set(locale, names)
  return names
}
