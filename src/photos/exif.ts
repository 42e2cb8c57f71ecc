/**
 * `set-exif-datetime`, as icloudpd does it (exif_datetime.py, base.py): after a JPEG is
 * downloaded (`.jpg`/`.jpeg` by its file name, case-insensitive), when it has no
 * DateTimeOriginal, write the asset's capture time as `YYYY:MM:DD HH:MM:SS` in the local zone
 * (icloudpd: `created.astimezone(get_localzone())`; here the zone that names the folders) into
 * DateTimeOriginal (0x9003) and DateTimeDigitized (0x9004) of the Exif IFD, and DateTime (0x0132)
 * of IFD1 — which, like piexif, is only written when the file has a thumbnail. The bytes come
 * from piexifjs, the JS port of the piexif library icloudpd uses, so the APP1 segment is the one
 * icloudpd writes; the image data is copied untouched (no re-encoding).
 *
 * The edit replaces the file atomically (temp file, fsync, rename): killed at any instant, the
 * photo on disk is the downloaded one or the edited one, never half of either.
 */
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import piexif from 'piexifjs'
import { writeFileAtomic } from '../util/atomic.js'
import { wallClock } from './folder-format.js'

const DATE_TIME = 306
const DATE_TIME_ORIGINAL = 36867
const DATE_TIME_DIGITIZED = 36868

/** icloudpd edits only files whose name says JPEG. */
export function isJpegName(relPath: string): boolean {
  return /\.(jpg|jpeg)$/i.test(relPath)
}

/** `YYYY:MM:DD HH:MM:SS` of an epoch-ms time in `timeZone` (default: the process's zone). */
export function exifDateTime(ms: number, timeZone?: string): string {
  const w = wallClock(Number.isFinite(ms) ? ms : 0, timeZone)
  const p = (n: number, l = 2) => String(n).padStart(l, '0')
  return `${p(w.year, 4)}:${p(w.month)}:${p(w.day)} ${p(w.hour)}:${p(w.minute)}:${p(w.second)}`
}

/** DateTimeOriginal of a JPEG, or undefined when it has none or cannot be read (icloudpd's get_photo_exif). */
export function readDateTimeOriginal(jpeg: Buffer): string | undefined {
  try {
    const v = piexif.load(jpeg.toString('latin1')).Exif[DATE_TIME_ORIGINAL]
    return typeof v === 'string' && v !== '' ? v : undefined
  } catch {
    return undefined
  }
}

/**
 * The JPEG with `date` written as icloudpd writes it, or undefined when there is nothing to do:
 * it already has a DateTimeOriginal, or piexif cannot read or write its EXIF (icloudpd then
 * leaves the file alone too).
 */
export function withExifDateTime(jpeg: Buffer, date: string): Buffer | undefined {
  try {
    const data = jpeg.toString('latin1')
    const exif = piexif.load(data)
    const had = exif.Exif[DATE_TIME_ORIGINAL]
    if (typeof had === 'string' && had !== '') return undefined
    exif['1st'][DATE_TIME] = date
    exif.Exif[DATE_TIME_ORIGINAL] = date
    exif.Exif[DATE_TIME_DIGITIZED] = date
    return Buffer.from(piexif.insert(piexif.dump(exif), data), 'latin1')
  } catch {
    return undefined
  }
}

export interface EditedFile {
  size: number
  sha256: string
}

/**
 * Apply `withExifDateTime` to the file at `fullPath` in place (atomically) and put its mtime back
 * to `mtimeMs`. Returns the new size and SHA-256, or undefined when the file was left as it was.
 */
export async function setExifDateTimeFile(
  fullPath: string,
  date: string,
  mtimeMs: number,
): Promise<EditedFile | undefined> {
  const edited = withExifDateTime(await fs.readFile(fullPath), date)
  if (!edited) return undefined
  // The replacement keeps the downloaded file's permissions.
  const { mode } = await fs.stat(fullPath)
  await writeFileAtomic(fullPath, edited, mode & 0o777)
  const t = new Date(mtimeMs)
  await fs.utimes(fullPath, t, t)
  return { size: edited.length, sha256: createHash('sha256').update(edited).digest('hex') }
}
