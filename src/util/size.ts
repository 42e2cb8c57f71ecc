/** Sizes as written in the config file: `500MB`, `50GB`, `500MiB`, `1.5TB`, or bytes (`"1000000"`). */
import { AppError } from '../core/errors.js'

/** KB/MB/GB/TB are powers of 1000 (as disks and buckets count), KiB/MiB/GiB/TiB of 1024. */
const UNIT: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
}

/** Bytes of a size string (a number is taken as bytes already); anything else is CONFIG_INVALID naming `key`. */
export function parseSize(value: string | number, key = 'size'): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value
  const text = String(value).trim()
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text)
  const unit = m ? UNIT[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) {
    throw new AppError(
      'CONFIG_INVALID',
      `${key}: "${text}" is not a size.`,
      'Write a number with a unit: 500MB, 50GB, 1TB (powers of 1000) or 500MiB, 50GiB (powers of 1024), or a number of bytes.',
    )
  }
  return Math.floor(Number(m[1]) * unit)
}
