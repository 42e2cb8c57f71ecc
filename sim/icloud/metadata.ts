/**
 * The fake library's descriptive metadata and real JPEG bytes.
 *
 * Metadata fields are encoded as Apple's CPLAsset records carry them (and as icloudpd's
 * xmp_sidecar.py decodes them): `captionEnc` / `extendedDescEnc` base64 of UTF-8,
 * `keywordsEnc` / `locationEnc` base64 of a binary plist (an array of strings; a dictionary of
 * `lat`, `lon`, `alt`, `speed`, `course`, `horzAcc`, `vertAcc` reals and a `timestamp` date),
 * `adjustmentSimpleDataEnc` base64 of raw-deflated JSON (`{"metadata":{"orientation":8}}`),
 * `assetSubtypeV2` 3 for a screenshot — all `ENCRYPTED_BYTES` / `INT64` fields.
 *
 * JPEGs are real baseline JPEGs (a 1×1 image, the same one icloudpd's tests use), padded with
 * COM segments to the resource's size, with or without an APP1 Exif segment that carries a
 * DateTimeOriginal.
 */
import { deflateRawSync } from 'node:zlib'
import piexif from 'piexifjs'
import { buildBinary } from 'plist'

export interface FakeMetadata {
  title?: string
  description?: string
  keywords?: string[]
  location?: { lat: number; lon: number; alt?: number; speed?: number; timestamp?: Date }
  /** EXIF orientation 1–8, in the simple adjustments. */
  orientation?: number
  screenshot?: boolean
  /** Raw `adjustmentSimpleDataEnc` value (e.g. a `crdt` drawing), overriding `orientation`. */
  adjustmentSimpleDataEnc?: string
}

const bytesField = (b: Buffer | Uint8Array) => ({
  value: Buffer.from(b).toString('base64'),
  type: 'ENCRYPTED_BYTES',
})

/** The CPLAsset fields of `meta`. */
export function metadataFields(meta: FakeMetadata): Record<string, unknown> {
  const f: Record<string, unknown> = {}
  if (meta.title !== undefined) f.captionEnc = bytesField(Buffer.from(meta.title, 'utf8'))
  if (meta.description !== undefined) f.extendedDescEnc = bytesField(Buffer.from(meta.description, 'utf8'))
  if (meta.keywords) f.keywordsEnc = bytesField(buildBinary(meta.keywords))
  if (meta.location) {
    const l = meta.location
    const dict: Record<string, number | Date> = {
      lat: l.lat,
      lon: l.lon,
      alt: l.alt ?? 0,
      speed: l.speed ?? 0,
      course: 0,
      horzAcc: 5,
      vertAcc: 3,
    }
    if (l.timestamp) dict.timestamp = l.timestamp
    f.locationEnc = bytesField(buildBinary(dict))
  }
  if (meta.adjustmentSimpleDataEnc !== undefined) {
    f.adjustmentSimpleDataEnc = { value: meta.adjustmentSimpleDataEnc, type: 'ENCRYPTED_BYTES' }
  } else if (meta.orientation !== undefined) {
    const json = JSON.stringify({ adjustmentFormatVersion: 1, metadata: { orientation: meta.orientation } })
    f.adjustmentSimpleDataEnc = bytesField(deflateRawSync(Buffer.from(json)))
  }
  if (meta.screenshot) f.assetSubtypeV2 = { value: 3, type: 'INT64' }
  return f
}

/** A valid 1×1 baseline JPEG without EXIF (SOI, APP0 JFIF, DQT, SOF0, DHT, SOS, data, EOI). */
const HEAD = Buffer.from([
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
  0x00, 0x00,
])
const BODY = Buffer.concat([
  Buffer.from([0xff, 0xdb, 0x00, 0x43, 0x00]),
  Buffer.alloc(64, 0x01),
  Buffer.from([
    0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x1f,
    0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xda, 0x00, 0x08, 0x01,
    0x01, 0x00, 0x00, 0x3f, 0x00, 0x7b, 0x40, 0xff, 0xd9,
  ]),
])

/** APP1 Exif with DateTimeOriginal / DateTimeDigitized (what a camera writes). */
function exifSegment(dateTimeOriginal: string): Buffer {
  const exif = {
    '0th': {},
    Exif: { 36867: dateTimeOriginal, 36868: dateTimeOriginal },
    GPS: {},
    Interop: {},
    '1st': {},
    thumbnail: null,
  }
  const body = Buffer.from(piexif.dump(exif), 'latin1')
  const head = Buffer.from([0xff, 0xe1, 0, 0])
  head.writeUInt16BE(body.length + 2, 2)
  return Buffer.concat([head, body])
}

/** The smallest size `fakeJpeg` can produce. */
export function minJpegSize(dateTimeOriginal?: string): number {
  return HEAD.length + BODY.length + (dateTimeOriginal ? exifSegment(dateTimeOriginal).length : 0) + 4
}

/**
 * A real JPEG of exactly `size` bytes: the 1×1 image, an optional Exif segment, and COM segments
 * filled from `fill` up to the size. Undefined when `size` is too small for it.
 */
export function fakeJpeg(size: number, fill: () => number, dateTimeOriginal?: string): Buffer | undefined {
  const exif = dateTimeOriginal ? exifSegment(dateTimeOriginal) : Buffer.alloc(0)
  let pad = size - HEAD.length - exif.length - BODY.length
  if (pad < 4 && pad !== 0) return undefined
  const parts: Buffer[] = [HEAD, exif]
  while (pad > 0) {
    // A COM segment: marker, 2-byte length (counting itself), payload; at most 65535.
    let len = Math.min(pad - 2, 65535)
    if (pad - (len + 2) > 0 && pad - (len + 2) < 4) len -= 4
    const seg = Buffer.alloc(len + 2)
    seg[0] = 0xff
    seg[1] = 0xfe
    seg.writeUInt16BE(len, 2)
    for (let k = 4; k < seg.length; k++) seg[k] = 0x20 + (fill() % 0x5f)
    parts.push(seg)
    pad -= seg.length
  }
  parts.push(BODY)
  return Buffer.concat(parts)
}
