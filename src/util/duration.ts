/** Durations as written in the config file: `90s`, `30m`, `2h`, `1h30m`, `500ms`, `0`. */
import { AppError } from '../core/errors.js'

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
/** The schema's pattern for a duration (kept in step with schemas/config.schema.json). */
export const DURATION_PATTERN = /^(?:0|(?:\d+(?:ms|s|m|h))+)$/

/** Milliseconds of a duration string; a number is taken as milliseconds already. */
export function parseDuration(value: string | number, key = 'duration'): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value
  const text = String(value).trim()
  if (!DURATION_PATTERN.test(text)) {
    throw new AppError(
      'CONFIG_INVALID',
      `${key}: "${text}" is not a duration.`,
      'Write a number with a unit: 90s, 30m, 2h or 1h30m (ms, s, m, h).',
    )
  }
  let ms = 0
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit!]!
  return ms
}
