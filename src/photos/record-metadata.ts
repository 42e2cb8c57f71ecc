/**
 * The descriptive fields of a CPLAsset record (title, description, keywords, location,
 * orientation, screenshot), decoded the way icloudpd's xmp_sidecar.py decodes them:
 * base64 → UTF-8 for the texts, base64 → plist (binary or XML) for keywords and location,
 * base64 → raw deflate → JSON for the simple adjustments. Real records carry other encodings
 * in some of these fields (a `crdt` drawing, a `bplist00` slow-motion range in the adjustments):
 * those, and anything unreadable, are left out — metadata never fails an asset.
 */
import { inflateRawSync } from 'node:zlib'
import { parse as parseXmlPlist, parseBinary } from 'plist'
import type { AssetMetadata } from './asset.js'

type Fields = Record<string, { value?: unknown } | undefined>

/** Python's `base64.b64decode` (non-validating): characters outside the alphabet are dropped. */
function b64(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || value === '') return undefined
  const clean = value.replace(/[^A-Za-z0-9+/=]/g, '')
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(clean)) return undefined
  return Buffer.from(clean, 'base64')
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function text(value: unknown): string | undefined {
  const bytes = b64(value)
  if (!bytes) return undefined
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

/** plistlib.loads: binary when it starts with `bplist00`, XML otherwise. */
function plist(value: unknown): unknown {
  const bytes = b64(value)
  if (!bytes) return undefined
  try {
    return bytes.subarray(0, 8).toString('latin1') === 'bplist00'
      ? parseBinary(bytes)
      : parseXmlPlist(utf8.decode(bytes))
  } catch {
    return undefined
  }
}

const finite = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined

function location(value: unknown): AssetMetadata['location'] {
  const p = plist(value)
  if (p === null || typeof p !== 'object' || Array.isArray(p) || p instanceof Date) return undefined
  const d = p as Record<string, unknown>
  const loc: NonNullable<AssetMetadata['location']> = {}
  const set = (k: 'lat' | 'lon' | 'alt' | 'speed', v: number | undefined) => {
    if (v !== undefined) loc[k] = v
  }
  set('lat', finite(d.lat))
  set('lon', finite(d.lon))
  set('alt', finite(d.alt))
  set('speed', finite(d.speed))
  // icloudpd only takes a real date (a datetime), never a number.
  if (d.timestamp instanceof Date && Number.isFinite(d.timestamp.getTime()))
    loc.timestamp = d.timestamp.getTime()
  return Object.keys(loc).length ? loc : undefined
}

function keywords(value: unknown): string[] | undefined {
  const p = plist(value)
  if (!Array.isArray(p)) return undefined
  const words = p.filter((k): k is string => typeof k === 'string')
  return words.length ? words : undefined
}

function orientation(value: unknown): number | undefined {
  // `crdt…` (drawings) and `bplist00…` (slow-motion ranges) are other formats: only the JSON counts.
  if (typeof value !== 'string' || value.startsWith('Y3JkdA') || value.startsWith('YnBsaXN0MD'))
    return undefined
  const bytes = b64(value)
  if (!bytes) return undefined
  try {
    const json = JSON.parse(utf8.decode(inflateRawSync(bytes))) as { metadata?: { orientation?: unknown } }
    const o = json?.metadata?.orientation
    return typeof o === 'number' && Number.isInteger(o) ? o : undefined
  } catch {
    return undefined
  }
}

/** The metadata of one CPLAsset's fields; undefined when it has none. */
export function readAssetMetadata(fields: Fields): AssetMetadata | undefined {
  const meta: AssetMetadata = {}
  const title = text(fields.captionEnc?.value)
  if (title) meta.title = title
  const description = text(fields.extendedDescEnc?.value)
  if (description) meta.description = description
  const kw = keywords(fields.keywordsEnc?.value)
  if (kw) meta.keywords = kw
  const loc = location(fields.locationEnc?.value)
  if (loc) meta.location = loc
  const o = orientation(fields.adjustmentSimpleDataEnc?.value)
  if (o !== undefined) meta.orientation = o
  const subtype = fields.assetSubtypeV2?.value
  if (Number(subtype) === 3) meta.screenshot = true
  return Object.keys(meta).length ? meta : undefined
}
