/**
 * icloudpd's asset filters: `skip-photos`, `skip-created-before`, `skip-created-after`
 * (icloudpd's `where_builder` in src/icloudpd/base.py), as one predicate the listing applies to
 * every asset, full listing and change feed alike.
 *
 * The created bounds are parsed as icloudpd parses them (util/created-bound.ts); a value without
 * a zone is in the local zone (icloudpd: `ensure_tzinfo` with `get_localzone()`). An interval counts back from now; the comparison is strict (`created <
 * bound` is skipped by `before`, `created > bound` by `after`) on the asset's capture time
 * (assetDate), as icloudpd compares `photo.created`.
 *
 * Sync tokens: every filter is part of optionsKey, so changing one lists the library in full. A
 * relative `skip-created-after` moves with the clock: an asset it leaves out today is eligible in a
 * few days, yet a delta from today's tokens would never offer it again; such a filter is `moving`
 * and its runs earn no tokens. A relative `skip-created-before` only ever excludes more of the
 * assets it already excluded (they only get older), so its tokens stay valid.
 */
import { AppError } from '../core/errors.js'
import { createdBoundProblem, parseCreatedBound, type WallTime } from '../util/created-bound.js'
import type { Asset } from './asset.js'
import { wallClock } from './folder-format.js'

const DAY_MS = 86_400_000

/** Epoch ms of a wall clock in `timeZone` (IANA), or in the process's zone when none is given. */
function wallToEpoch(w: WallTime, timeZone: string | undefined): number {
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.ms)
  const fixUtcYear = (ms: number): number => {
    // Date.UTC maps years 0–99 to 1900–1999.
    if (w.year >= 100) return ms
    const d = new Date(ms)
    d.setUTCFullYear(w.year)
    return d.getTime()
  }
  if (w.offsetMin !== undefined) return fixUtcYear(asUtc) - w.offsetMin * 60_000
  if (timeZone === undefined) {
    const d = new Date(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.ms)
    if (w.year < 100) d.setFullYear(w.year)
    return d.getTime()
  }
  // Two passes settle the zone's offset at that wall time (the second one corrects across a DST change).
  const utc = fixUtcYear(asUtc)
  let t = utc - offsetAt(utc, timeZone)
  t = utc - offsetAt(t, timeZone)
  return t
}

/** The zone's offset from UTC at `t` (its wall clock minus UTC, whole seconds). */
function offsetAt(t: number, timeZone: string): number {
  const w = wallClock(t, timeZone)
  const wall = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second)
  return wall - (t - (((t % 1000) + 1000) % 1000))
}

export interface FilterOptions {
  skipPhotos?: boolean
  skipCreatedBefore?: string
  skipCreatedAfter?: string
  /** IANA zone for a bound without a zone; default: the process's zone (icloudpd: the local zone). */
  timeZone?: string
  /** The run's clock (epoch ms) for intervals. */
  now: number
}

/** The predicate the listing applies to each asset (skip-videos stays the listing's own option). */
export interface AssetFilter {
  /** False: the asset is left out of this run, like icloudpd's `where_builder` answering False. */
  keep(asset: Asset): boolean
  /** Which assets are kept changes with the clock (a relative skip-created-after): earn no tokens. */
  moving: boolean
  /** What the filter selects, stable across runs, for optionsKey. */
  key: unknown[]
  /** The bounds in epoch ms, for messages and tests. */
  before?: number
  after?: number
}

function resolve(text: string | undefined, name: string, o: FilterOptions): number | undefined {
  if (text === undefined) return undefined
  const b = parseCreatedBound(text)
  // The config layer rejects these with file and line; this guards direct engine callers.
  if (!b) {
    throw new AppError(
      'CONFIG_INVALID',
      `photos.${name}: ${createdBoundProblem(text)}.`,
      'Write a date such as 2024-01-31 or a number of days such as 20d.',
    )
  }
  return b.kind === 'days' ? o.now - b.days * DAY_MS : wallToEpoch(b.wall, o.timeZone)
}

/** The filter for these options, or undefined when nothing is filtered. */
export function buildFilter(o: FilterOptions): AssetFilter | undefined {
  const before = resolve(o.skipCreatedBefore, 'skip-created-before', o)
  const after = resolve(o.skipCreatedAfter, 'skip-created-after', o)
  const skipPhotos = o.skipPhotos === true
  if (!skipPhotos && before === undefined && after === undefined) return undefined
  const days = (text: string | undefined) => {
    const b = text === undefined ? undefined : parseCreatedBound(text)
    return b?.kind === 'days' ? b.days : undefined
  }
  // Absolute bounds go into the key as instants (the same instant written two ways is one key);
  // intervals as themselves, since their instant changes every run.
  const keyOf = (text: string | undefined, ms: number | undefined) =>
    text === undefined ? null : days(text) !== undefined ? `${days(text)}d` : ms
  return {
    keep: (a) =>
      !(skipPhotos && a.kind === 'image') &&
      !(before !== undefined && a.createdAt < before) &&
      !(after !== undefined && a.createdAt > after),
    moving: days(o.skipCreatedAfter) !== undefined,
    key: ['filters', skipPhotos, keyOf(o.skipCreatedBefore, before), keyOf(o.skipCreatedAfter, after)],
    before,
    after,
  }
}
