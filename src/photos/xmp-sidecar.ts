/**
 * `xmp-sidecar`: `<file>.xmp` beside each downloaded photo (not beside a live-photo movie), with
 * the elements and values icloudpd's xmp_sidecar.py writes for the same asset:
 *
 * | element | from | written when |
 * |---|---|---|
 * | dc:title, dc:description | captionEnc, extendedDescEnc | non-empty |
 * | dc:subject/rdf:Seq/rdf:li | keywordsEnc | at least one keyword |
 * | exif:GPSAltitude/Latitude/Longitude/Speed | locationEnc | non-zero (Python truthiness) |
 * | exif:GPSTimeStamp | locationEnc `timestamp` | a date; naive UTC, so no zone suffix |
 * | Iptc4xmpExt:DigitalSourceType, tiff:Make | assetSubtypeV2 == 3 | `screenCapture`, `Screenshot` |
 * | photoshop:DateCreated, xmp:CreateDate | assetDate + timeZoneOffset | `%Y-%m-%dT%H:%M:%S%z` |
 * | tiff:Orientation | adjustmentSimpleDataEnc JSON | non-zero |
 * | xmp:Rating | isHidden/isDeleted → -1, else isFavorite → 5 | |
 *
 * Numbers are written as Python's `str()` writes them (`0.0`, `1e-05`), so the text matches
 * icloudpd's. One `rdf:Description` per namespace, in icloudpd's order, empty ones left out. The
 * root is `x:xmpmeta` (the XMP standard, and icloudpd's until a rename made some releases write
 * `x:xml_doc`); `x:xmptk` names this tool. An existing sidecar is replaced only when it is ours
 * or icloudpd's (its `x:xmptk` says so, as icloudpd checks); one from another program is kept.
 *
 * The XML is built as a DOM and serialised by @xmldom/xmldom (escaping, namespaces), never by
 * joining strings. Characters XML 1.0 cannot carry (controls other than tab and newlines) are
 * dropped from user text: icloudpd writes them raw, which makes a file no XMP reader accepts.
 */
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { DOMImplementation, DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom'
import { writeFileAtomic } from '../util/atomic.js'
import type { Asset } from './asset.js'

/** `<photo>.xmp`, as icloudpd names it. */
export const SIDECAR_SUFFIX = '.xmp'
/** The `x:xmptk` of the sidecars this tool writes. */
export const XMP_TOOLKIT = 'icloud-photos-action'
/** Sidecars whose `x:xmptk` starts with one of these may be replaced (icloudpd checks for `icloudpd`). */
const REPLACEABLE = ['icloudpd', XMP_TOOLKIT]

const NS = {
  x: 'adobe:ns:meta/',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dc: 'http://purl.org/dc/elements/1.1/',
  exif: 'http://ns.adobe.com/exif/1.0/',
  Iptc4xmpExt: 'http://iptc.org/std/Iptc4xmpExt/2008-02-29/',
  photoshop: 'http://ns.adobe.com/photoshop/1.0/',
  tiff: 'http://ns.adobe.com/tiff/1.0/',
  xmp: 'http://ns.adobe.com/xap/1.0/',
} as const
const XMLNS = 'http://www.w3.org/2000/xmlns/'

/** The values of one sidecar, as icloudpd's `XMPMetadata`. */
export interface XmpValues {
  title?: string
  description?: string
  orientation?: number
  make?: string
  digitalSourceType?: string
  keywords?: string[]
  gpsAltitude?: number
  gpsLatitude?: number
  gpsLongitude?: number
  gpsSpeed?: number
  /** epoch ms (written as naive UTC). */
  gpsTimeStamp?: number
  /** epoch ms and the capture zone in seconds east of UTC. */
  createDate?: { ms: number; offsetSeconds: number }
  rating?: number
}

/** icloudpd's build_metadata for one asset. */
export function xmpValues(asset: Asset): XmpValues {
  const m = asset.meta ?? {}
  const v: XmpValues = {
    title: m.title,
    description: m.description,
    orientation: m.orientation,
    keywords: m.keywords,
    gpsAltitude: m.location?.alt,
    gpsLatitude: m.location?.lat,
    gpsLongitude: m.location?.lon,
    gpsSpeed: m.location?.speed,
    gpsTimeStamp: m.location?.timestamp,
  }
  if (m.screenshot) {
    v.make = 'Screenshot'
    v.digitalSourceType = 'screenCapture'
  }
  // Python's timezone() refuses offsets of a day or more; such a record gets UTC.
  const tz = asset.timeZoneOffset
  const offsetSeconds = tz !== undefined && Math.abs(tz) < 86_400 ? Math.trunc(tz) : 0
  v.createDate = { ms: asset.createdAt, offsetSeconds }
  if (asset.isHidden || asset.isDeleted) v.rating = -1
  else if (asset.isFavorite) v.rating = 5
  return v
}

/** Python's `repr(float)` / `str(float)`: shortest round-trip digits, `.0` on whole numbers. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const [mant, e] = x.toExponential().split('e') as [string, string]
  const exp = Number(e)
  const sign = mant.startsWith('-') ? '-' : ''
  const digits = mant.replace('-', '').replace('.', '')
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`
  if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}.0`
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`
}

/** `strftime("%Y-%m-%dT%H:%M:%S%z")`; `offsetSeconds` undefined = a naive datetime (no `%z`). */
export function pyIsoTime(ms: number, offsetSeconds?: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000 + (offsetSeconds ?? 0) * 1000)
  const p = (n: number, l = 2) => String(n).padStart(l, '0')
  const base =
    `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}` +
    `T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
  if (offsetSeconds === undefined) return base
  const a = Math.abs(offsetSeconds)
  const secs = a % 60
  const z = `${offsetSeconds < 0 ? '-' : '+'}${p(Math.floor(a / 3600))}${p(Math.floor(a / 60) % 60)}`
  return base + z + (secs ? p(secs) : '')
}

/** Python truthiness of a number: 0 is false, NaN is true. */
const truthy = (n: number | undefined): n is number => n !== undefined && n !== 0

/** Characters XML 1.0 cannot carry at all. */
const NOT_XML =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
const xmlText = (s: string) => s.replace(NOT_XML, '')

/** The sidecar document (UTF-8 XML with declaration). */
export function formatSidecar(v: XmpValues, toolkit = XMP_TOOLKIT): string {
  const doc = new DOMImplementation().createDocument(NS.x, 'x:xmpmeta', null)
  const el = (ns: string, name: string, parent: Element): Element => {
    const e = doc.createElementNS(ns, name)
    parent.appendChild(e)
    return e
  }
  const root = doc.documentElement!
  root.setAttributeNS(XMLNS, 'xmlns:x', NS.x)
  root.setAttributeNS(NS.x, 'x:xmptk', xmlText(toolkit))
  const rdf = el(NS.rdf, 'rdf:RDF', root)
  rdf.setAttributeNS(XMLNS, 'xmlns:rdf', NS.rdf)

  type Prefix = Exclude<keyof typeof NS, 'x' | 'rdf'>
  const groups: Record<Prefix, Array<[string, string | string[]]>> = {
    dc: [],
    exif: [],
    Iptc4xmpExt: [],
    photoshop: [],
    tiff: [],
    xmp: [],
  }
  if (v.title) groups.dc.push(['title', v.title])
  if (v.description) groups.dc.push(['description', v.description])
  if (truthy(v.orientation)) groups.tiff.push(['Orientation', String(v.orientation)])
  if (v.make) groups.tiff.push(['Make', v.make])
  if (v.digitalSourceType) groups.Iptc4xmpExt.push(['DigitalSourceType', v.digitalSourceType])
  if (v.keywords?.length) groups.dc.push(['subject', v.keywords])
  if (truthy(v.gpsAltitude)) groups.exif.push(['GPSAltitude', pyFloat(v.gpsAltitude)])
  if (truthy(v.gpsLatitude)) groups.exif.push(['GPSLatitude', pyFloat(v.gpsLatitude)])
  if (truthy(v.gpsLongitude)) groups.exif.push(['GPSLongitude', pyFloat(v.gpsLongitude)])
  if (truthy(v.gpsSpeed)) groups.exif.push(['GPSSpeed', pyFloat(v.gpsSpeed)])
  if (v.gpsTimeStamp !== undefined) groups.exif.push(['GPSTimeStamp', pyIsoTime(v.gpsTimeStamp)])
  if (v.createDate) {
    const when = pyIsoTime(v.createDate.ms, v.createDate.offsetSeconds)
    groups.xmp.push(['CreateDate', when])
    // Apple Photos reads this one when it imports a sidecar.
    groups.photoshop.push(['DateCreated', when])
  }
  if (truthy(v.rating)) groups.xmp.push(['Rating', String(v.rating)])

  for (const [prefix, items] of Object.entries(groups) as [Prefix, Array<[string, string | string[]]>][]) {
    if (items.length === 0) continue
    const desc = el(NS.rdf, 'rdf:Description', rdf)
    desc.setAttributeNS(NS.rdf, 'rdf:about', '')
    desc.setAttributeNS(XMLNS, `xmlns:${prefix}`, NS[prefix])
    for (const [name, value] of items) {
      const e = el(NS[prefix], `${prefix}:${name}`, desc)
      if (typeof value === 'string') e.appendChild(doc.createTextNode(xmlText(value)))
      else {
        const seq = el(NS.rdf, 'rdf:Seq', e)
        for (const item of value) el(NS.rdf, 'rdf:li', seq).appendChild(doc.createTextNode(xmlText(item)))
      }
    }
  }
  return "<?xml version='1.0' encoding='utf-8'?>\n" + new XMLSerializer().serializeToString(doc)
}

/** A parsed XML document; throws on anything that is not well-formed. */
export function parseXml(xml: string) {
  return new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(message)
    },
  }).parseFromString(xml, 'text/xml')
}

/** The sidecar icloudpd would write for this asset. */
export function sidecarFor(asset: Asset): string {
  return formatSidecar(xmpValues(asset))
}

/** The `x:xmptk` of a sidecar; undefined when it has none; throws when it is not XML. */
export function toolkitOf(xml: string): string | undefined {
  return parseXml(xml).documentElement?.getAttributeNS(NS.x, 'xmptk') ?? undefined
}

export type SidecarWrite =
  { status: 'written' | 'same'; size: number; sha256: string } | { status: 'kept'; reason: string }

/**
 * Write `xml` to `sidecarPath` atomically. An identical file is left alone (`same`); a non-empty
 * file from another program (or one that is not XML) is kept (`kept`), as icloudpd does.
 */
export async function writeSidecar(sidecarPath: string, xml: string): Promise<SidecarWrite> {
  const bytes = Buffer.from(xml, 'utf8')
  const digest = () => createHash('sha256').update(bytes).digest('hex')
  let existing: Buffer | undefined
  try {
    existing = await fs.readFile(sidecarPath)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (existing && existing.length > 0) {
    if (existing.equals(bytes)) return { status: 'same', size: bytes.length, sha256: digest() }
    let toolkit: string | undefined
    try {
      toolkit = toolkitOf(existing.toString('utf8'))
    } catch {
      return { status: 'kept', reason: 'it is not valid XML' }
    }
    if (!toolkit || !REPLACEABLE.some((t) => toolkit.startsWith(t))) {
      return {
        status: 'kept',
        reason: `it was written by ${toolkit ? JSON.stringify(toolkit) : 'another program'}`,
      }
    }
  }
  await writeFileAtomic(sidecarPath, bytes, 0o644)
  return { status: 'written', size: bytes.length, sha256: digest() }
}
