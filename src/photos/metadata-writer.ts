/**
 * What a run does to a file after it is on disk, for icloudpd's `set-exif-datetime` and
 * `xmp-sidecar` (exif.ts, xmp-sidecar.ts), and the manifest entries that result: the edited
 * photo with its new size and SHA-256 (and the size iCloud listed, so naming still matches it),
 * and the sidecar as a file of the backup of its own.
 *
 * Like icloudpd: EXIF only right after a JPEG's download; a sidecar for every photo file of a
 * listed asset, downloaded now or already here (so a title changed in iCloud reaches the sidecar
 * with the next delta). A sidecar whose content the manifest already records is not touched.
 * A failure here is a warning, never a lost photo: the downloaded file stays as it is.
 */
import { createHash } from 'node:crypto'
import pLimit from 'p-limit'
import type { Asset } from './asset.js'
import { exifDateTime, isJpegName, setExifDateTimeFile } from './exif.js'
import { safeJoin } from './filenames.js'
import type { PhotosLog } from './progress.js'
import type { ManifestFile } from './state.js'
import { SIDECAR_SUFFIX, sidecarFor, writeSidecar } from './xmp-sidecar.js'

export interface MetadataOptions {
  directory: string
  setExifDatetime: boolean
  xmpSidecar: boolean
  /** The zone of folder dates, also the zone of EXIF dates (icloudpd: the local zone for both). */
  timeZone?: string
  log: PhotosLog
}

/** One photo file of an asset: the live-photo movie gets neither EXIF nor a sidecar. */
export interface PhotoFile {
  relPath: string
  /** False for a live-photo movie. */
  photo: boolean
}

export interface SidecarEntry {
  entry: ManifestFile
  written: boolean
}

export class MetadataWriter {
  /** EXIF edits hold a whole photo in memory (several times over): two at a time whatever the threads. */
  private readonly editSlots = pLimit(2)

  constructor(private readonly o: MetadataOptions) {}

  get active(): boolean {
    return this.o.setExifDatetime || this.o.xmpSidecar
  }

  /**
   * After a download: edit the JPEG, write the sidecar. Returns the manifest entries to record,
   * the downloaded file first (its entry replaced by the edited file's when EXIF was written).
   */
  async afterDownload(asset: Asset, file: PhotoFile, downloaded: ManifestFile): Promise<ManifestFile[]> {
    const out: ManifestFile[] = [downloaded]
    if (!file.photo) return out
    if (this.o.setExifDatetime && isJpegName(file.relPath)) {
      try {
        const date = exifDateTime(asset.createdAt, this.o.timeZone)
        const full = safeJoin(this.o.directory, file.relPath)
        const edited = await this.editSlots(() => setExifDateTimeFile(full, date, asset.createdAt))
        if (edited) {
          out[0] = { ...downloaded, size: edited.size, sha256: edited.sha256, icloudSize: downloaded.size }
          this.o.log.debug?.(`photos: set EXIF DateTimeOriginal of ${file.relPath} to ${date}`)
        }
      } catch (err) {
        this.o.log.warning(
          `photos: could not set the EXIF date of ${file.relPath} (${describe(err)}); the file is kept as downloaded.`,
        )
      }
    }
    const sidecar = await this.sidecar(asset, file, undefined)
    if (sidecar) out.push(sidecar.entry)
    return out
  }

  /**
   * A photo file already here: (re)write its sidecar when what it should say differs from what
   * the manifest records. Returns the sidecar's manifest entry when the manifest lacks it or it
   * was rewritten (`written`: the file changed on disk).
   */
  async present(
    asset: Asset,
    file: PhotoFile,
    known: ManifestFile[] | undefined,
  ): Promise<SidecarEntry | undefined> {
    if (!file.photo) return undefined
    return this.sidecar(asset, file, known)
  }

  private async sidecar(
    asset: Asset,
    file: PhotoFile,
    known: ManifestFile[] | undefined,
  ): Promise<SidecarEntry | undefined> {
    if (!this.o.xmpSidecar) return undefined
    const relPath = file.relPath + SIDECAR_SUFFIX
    try {
      const xml = sidecarFor(asset)
      const recorded = known?.find((k) => k.relPath === relPath)
      if (recorded && recorded.sha256 === createHash('sha256').update(xml).digest('hex')) return undefined
      const w = await writeSidecar(safeJoin(this.o.directory, relPath), xml)
      if (w.status === 'kept') {
        this.o.log.info(`photos: not replacing ${relPath}: ${w.reason}.`)
        return undefined
      }
      return { entry: { relPath, size: w.size, sha256: w.sha256 }, written: w.status === 'written' }
    } catch (err) {
      this.o.log.warning(`photos: could not write ${relPath} (${describe(err)}).`)
      return undefined
    }
  }
}

function describe(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? String(err)
}
