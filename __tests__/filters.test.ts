/**
 * icloudpd's asset filters without a server: how skip-created-* values parse (icloudpd's
 * `parse_timestamp_or_timedelta`: `Nd`, else `datetime.fromisoformat`, a value without a zone in
 * the local zone), the predicate, the option keys that decide when a full listing is needed,
 * use-os-locale's names, and the config file's errors (file, line, key).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { findConfigIssues, formatIssue, parseConfig } from '../src/config/index.js'
import type { Asset } from '../src/photos/asset.js'
import { buildFilter } from '../src/photos/filters.js'
import { folderFor } from '../src/photos/folder-format.js'
import { osLocale } from '../src/photos/locale.js'
import { deprecationWarnings, optionsKey, resolveOptions } from '../src/photos/options.js'
import { parseCreatedBound, parseIsoDateTime } from '../src/util/created-bound.js'

const DAY = 86_400_000
const HEAD = 'account:\n  username: me@example.com\n'

function asset(createdAt: number, kind: Asset['kind'] = 'image'): Asset {
  return {
    id: 'A',
    masterId: 'M',
    filename: 'IMG_1.JPG',
    kind,
    createdAt,
    addedAt: createdAt,
    isFavorite: false,
    isHidden: false,
    isDeleted: false,
    versions: {},
    liveVersions: {},
  }
}

describe('skip-created-* values, parsed like icloudpd', () => {
  it('reads whole days (`20d`, `20D`) as an interval', () => {
    expect(parseCreatedBound('20d')).toEqual({ kind: 'days', days: 20 })
    expect(parseCreatedBound('365D')).toEqual({ kind: 'days', days: 365 })
    expect(parseCreatedBound('0d')).toEqual({ kind: 'days', days: 0 })
  })

  it('reads the ISO forms datetime.fromisoformat accepts', () => {
    expect(parseIsoDateTime('2024-01-31')).toEqual({
      year: 2024,
      month: 1,
      day: 31,
      hour: 0,
      minute: 0,
      second: 0,
      ms: 0,
    })
    expect(parseIsoDateTime('20240131')).toMatchObject({ year: 2024, month: 1, day: 31 })
    expect(parseIsoDateTime('2024-01-31T08:05')).toMatchObject({ hour: 8, minute: 5, second: 0 })
    expect(parseIsoDateTime('2024-01-31 08:05:09.25')).toMatchObject({ second: 9, ms: 250 })
    expect(parseIsoDateTime('2024-01-31T08')).toMatchObject({ hour: 8, minute: 0 })
    expect(parseIsoDateTime('2024-01-31T08:00:00Z')).toMatchObject({ offsetMin: 0 })
    expect(parseIsoDateTime('2024-01-31T08:00:00+02:00')).toMatchObject({ offsetMin: 120 })
    expect(parseIsoDateTime('2024-01-31T08:00-0530')).toMatchObject({ offsetMin: -330 })
    expect(parseIsoDateTime('2024-02-29')).toMatchObject({ month: 2, day: 29 })
  })

  it.each([
    ['1d12h', 'trailing text after the days (icloudpd would silently read 1 day)'],
    ['-5d', 'a negative interval'],
    ['yesterday', 'words'],
    ['2024-13-01', 'month 13'],
    ['2023-02-29', 'a day that does not exist'],
    ['2024-01-31T25:00', 'hour 25'],
    ['2024-01-31T08:00+2', 'a one-digit offset'],
    ['31.01.2024', 'a local date format'],
    ['', 'nothing'],
  ])('refuses %j (%s)', (text) => {
    expect(parseCreatedBound(text)).toBeUndefined()
  })
})

describe('the filter', () => {
  const now = Date.UTC(2024, 5, 15, 12)

  it('skip-created-before / -after compare the capture time strictly, as icloudpd does', () => {
    const bound = Date.UTC(2024, 0, 31, 6) // 2024-01-31T08:00:00+02:00
    const f = buildFilter({ skipCreatedBefore: '2024-01-31T08:00:00+02:00', now })!
    expect(f.before).toBe(bound)
    expect(f.keep(asset(bound - 1))).toBe(false)
    expect(f.keep(asset(bound))).toBe(true)
    const g = buildFilter({ skipCreatedAfter: '2024-01-31T08:00:00+02:00', now })!
    expect(g.keep(asset(bound + 1))).toBe(false)
    expect(g.keep(asset(bound))).toBe(true)
    expect(f.moving || g.moving).toBe(false)
  })

  it('a value without a zone is in the local zone: photos.timeZone, else the process zone', () => {
    expect(buildFilter({ skipCreatedBefore: '2024-01-31', timeZone: 'Europe/Berlin', now })!.before).toBe(
      Date.UTC(2024, 0, 30, 23),
    )
    // Summer time: +02:00.
    expect(
      buildFilter({ skipCreatedBefore: '2024-07-01T12:00', timeZone: 'Europe/Berlin', now })!.before,
    ).toBe(Date.UTC(2024, 6, 1, 10))
    expect(buildFilter({ skipCreatedBefore: '2024-01-31T08:00', now })!.before).toBe(
      new Date(2024, 0, 31, 8).getTime(),
    )
  })

  it('an interval counts back from the run clock; only a relative skip-created-after is moving', () => {
    const after = buildFilter({ skipCreatedAfter: '20d', now })!
    expect(after.after).toBe(now - 20 * DAY)
    expect(after.moving).toBe(true)
    expect(after.keep(asset(now - 21 * DAY))).toBe(true)
    expect(after.keep(asset(now - 19 * DAY))).toBe(false)
    const before = buildFilter({ skipCreatedBefore: '20d', now })!
    expect(before.before).toBe(now - 20 * DAY)
    expect(before.moving).toBe(false)
  })

  it('skip-photos leaves out images, Live Photos included (their kind is image), and keeps videos', () => {
    const f = buildFilter({ skipPhotos: true, now })!
    expect(f.keep(asset(now, 'image'))).toBe(false)
    expect(f.keep(asset(now, 'movie'))).toBe(true)
    expect(buildFilter({ now })).toBeUndefined()
  })

  it('a bad value handed to the engine directly (not through the config) is a config error', () => {
    expect(() => buildFilter({ skipCreatedAfter: 'soon', now })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(/skip-created-after: `soon`/),
      }),
    )
  })
})

describe('options keys: a filter change forces a full listing', () => {
  const key = (o: Parameters<typeof resolveOptions>[0]) => optionsKey(resolveOptions(o))

  it('options without the new keys keep the key they always had', () => {
    // The keys optionsKey gave before these options existed: stored sync tokens stay valid after an upgrade.
    expect(key({})).toBe('ZsBKyDZgBOYlTlWg')
    expect(key({ folderStructure: 'none', size: ['original', 'medium'] })).toBe('GOytI3yYeczcCbV3')
    expect(key({ skipPhotos: false, forceSize: false, keepUnicodeInFilenames: false })).toBe(
      'ZsBKyDZgBOYlTlWg',
    )
    expect(key({ useOsLocale: false, threadsNum: 4 })).toBe('ZsBKyDZgBOYlTlWg')
  })

  it('every filter and naming switch changes the key', () => {
    const keys = [
      key({}),
      key({ skipPhotos: true }),
      key({ skipCreatedBefore: '2024-01-01' }),
      key({ skipCreatedAfter: '2024-01-01' }),
      key({ skipCreatedBefore: '20d' }),
      key({ forceSize: true }),
      key({ keepUnicodeInFilenames: true }),
      key({ useOsLocale: true, locale: 'de-DE' }),
      key({ useOsLocale: true, locale: 'fr-FR' }),
    ]
    expect(new Set(keys).size).toBe(keys.length)
  })

  it('one instant written two ways is one key; an interval keeps its key as the clock moves', () => {
    expect(key({ skipCreatedAfter: '2024-01-31T08:00:00+02:00' })).toBe(
      key({ skipCreatedAfter: '2024-01-31T06:00:00Z' }),
    )
    expect(key({ skipCreatedBefore: '20d', now: () => 0 })).toBe(
      key({ skipCreatedBefore: '20d', now: () => 40 * DAY }),
    )
  })

  it('keep-unicode-in-filenames and force-size reach the naming options', () => {
    const r = resolveOptions({ keepUnicodeInFilenames: true, forceSize: true })
    expect(r.naming.keepUnicode).toBe(true)
    expect(r.naming.forceSize).toBe(true)
  })
})

describe('threads-num', () => {
  it('is accepted with a warning that names threads, and does not change threads', () => {
    const config = parseConfig(`${HEAD}photos:\n  threads-num: 4\n  threads: 6\n`, 'c.yml')
    expect(config.photos.threads).toBe(6)
    expect(resolveOptions(config.photos).threads).toBe(6)
    const [warning, ...more] = deprecationWarnings(config.photos)
    expect(more).toEqual([])
    expect(warning).toMatch(/threads-num is deprecated/)
    expect(warning).toMatch(/photos\.threads \(now 6\)/)
    expect(deprecationWarnings(parseConfig(HEAD, 'c.yml').photos)).toEqual([])
  })
})

describe('use-os-locale', () => {
  const saved = { LC_ALL: process.env.LC_ALL, LC_TIME: process.env.LC_TIME, LANG: process.env.LANG }
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })

  it('takes the locale from LC_ALL, then LC_TIME, then LANG; C and unknown languages are English', () => {
    expect(osLocale({ LANG: 'de_DE.UTF-8' })).toBe('de-DE')
    expect(osLocale({ LANG: 'de_DE.UTF-8', LC_TIME: 'fr_FR.UTF-8' })).toBe('fr-FR')
    expect(osLocale({ LANG: 'de_DE.UTF-8', LC_TIME: 'fr_FR', LC_ALL: 'pl_PL.UTF-8' })).toBe('pl-PL')
    expect(osLocale({ LC_ALL: 'C.UTF-8', LANG: 'de_DE.UTF-8' })).toBeUndefined()
    expect(osLocale({ LANG: 'POSIX' })).toBeUndefined()
    expect(osLocale({})).toBeUndefined()
  })

  it('names months and days in folders in that language; off, in English', () => {
    const a = asset(Date.UTC(2024, 2, 4, 12)) // Monday 4 March 2024
    const f = '{:%Y/%B/%A %d %b %a}'
    expect(folderFor(a, f, 'UTC')).toBe('2024/March/Monday 04 Mar Mon')
    expect(folderFor(a, f, 'UTC', 'de-DE')).toBe('2024/März/Montag 04 März Mo')
    expect(folderFor(a, f, 'UTC', 'fr-FR')).toBe('2024/mars/lundi 04 mars lun.')
  })

  it('resolveOptions reads the environment only when use-os-locale is on', () => {
    process.env.LANG = 'de_DE.UTF-8'
    delete process.env.LC_ALL
    delete process.env.LC_TIME
    expect(resolveOptions({ useOsLocale: true }).naming.locale).toBe('de-DE')
    expect(resolveOptions({}).naming.locale).toBeUndefined()
  })
})

describe('config file errors name the file, line and key', () => {
  it('an unparsable date or interval', () => {
    const text = `${HEAD}photos:\n  skip-created-before: 2024-13-01\n  skip-created-after: 1d12h\n`
    expect(findConfigIssues(text, 'cfg.yml').map(formatIssue)).toEqual([
      'cfg.yml:4:24: photos.skip-created-before: `2024-13-01` is neither an ISO date or date-time (2024-01-31, 2024-01-31T08:00:00+02:00) nor a number of days (20d)',
      'cfg.yml:5:23: photos.skip-created-after: `1d12h` is neither an ISO date or date-time (2024-01-31, 2024-01-31T08:00:00+02:00) nor a number of days (20d)',
    ])
  })

  it('skip-videos with skip-photos, as icloudpd refuses them together', () => {
    const issues = findConfigIssues(`${HEAD}photos:\n  skip-videos: true\n  skip-photos: true\n`, 'cfg.yml')
    expect(issues.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^cfg\.yml:5:3: photos\.skip-photos: only one of `skip-videos` and `skip-photos`/,
      ),
    ])
  })

  it('valid values load', () => {
    const c = parseConfig(
      `${HEAD}photos:\n  skip-created-before: '2024-01-31T08:00:00+02:00'\n  skip-created-after: 20d\n  skip-photos: true\n  force-size: true\n  keep-unicode-in-filenames: true\n  use-os-locale: true\n`,
      'c.yml',
    )
    expect(c.photos).toMatchObject({
      skipCreatedBefore: '2024-01-31T08:00:00+02:00',
      skipCreatedAfter: '20d',
      skipPhotos: true,
      forceSize: true,
      keepUnicodeInFilenames: true,
      useOsLocale: true,
    })
  })
})
