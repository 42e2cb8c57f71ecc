/**
 * Where each file of an asset goes, exactly as icloudpd names it (docs/protocol.md §10), so an
 * existing icloudpd backup is recognised file for file — plus the safety rules icloudpd lacks:
 * names from the server never leave the download directory, carry no control characters and fit
 * in 255 bytes. Pure functions; the only I/O is the `stat` callback the caller passes in. The
 * folder comes from folder-format.ts.
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import { AppError } from '../core/errors.js'
import type { AlignRaw, FileMatchPolicy, LivePhotoMovFilenamePolicy } from '../core/config.generated.js'
import type { Asset, AssetSize, AssetVersion, LivePhotoSize } from './asset.js'
import { folderFor } from './folder-format.js'
import { extensionForType, HEIF_TYPE, isFallbackFilename, isMovieType, isRawType } from './records.js'

export type { FileMatchPolicy }
export type PlannedSize = AssetSize | `live-${LivePhotoSize}`

export interface NamingOptions {
  sizes: AssetSize[]
  livePhotoSize: LivePhotoSize
  livePhotoMovFilenamePolicy: LivePhotoMovFilenamePolicy
  alignRaw: AlignRaw
  fileMatchPolicy: FileMatchPolicy
  skipLivePhotos: boolean
  forceSize?: boolean
  keepUnicode?: boolean
  folderStructure: string
  /** IANA zone for the folder date; default: the process's zone (icloudpd uses the local zone). */
  timeZone?: string
  /** use-os-locale: BCP 47 tag for month and day names in folders; default: English (C locale). */
  locale?: string
}

export interface PlannedFile {
  assetId: string
  /** icloudpd's download size: a missing medium that falls back to the original is `original`. */
  size: PlannedSize
  /** POSIX path relative to the download directory. */
  relPath: string
  version: AssetVersion
  /**
   * Where icloudpd before May 2025 (PR #1132, which added `public.heif` → `HEIF`) put this file:
   * it kept the name's own extension (`AH8A0233.HIF`). Set only when that differs from `relPath`;
   * a file there of the right size counts as already downloaded.
   */
  legacyRelPath?: string
}

/** Longest file name most file systems accept, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255

// ---------------------------------------------------------------------------------------------
// File-name primitives

/** Python's `os.path.splitext` for a bare name: leading dots belong to the stem. */
export function splitExt(name: string): [stem: string, ext: string] {
  const dot = name.lastIndexOf('.')
  if (dot <= 0) return [name, '']
  for (let i = 0; i < dot; i++) if (name[i] !== '.') return [name.slice(0, dot), name.slice(dot)]
  return [name, '']
}

/** icloudpd's `add_suffix_to_filename`: `IMG_1.JPG` + `-medium` → `IMG_1-medium.JPG`. */
export function addSuffix(suffix: string, name: string): string {
  const [stem, ext] = splitExt(name)
  return stem + suffix + ext
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
// eslint-disable-next-line no-control-regex
const ICLOUDPD_INVALID = /[<>:"/\\|?*\u0000]/g
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007F]/gu
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001F\u007F-\u009F/\\]/g

/**
 * The safety net for every final name: no separators, NUL or control characters, not `.`/`..`,
 * not empty, at most 255 UTF-8 bytes. A name that must be shortened keeps its extension and gets
 * `~` + 8 hex of its SHA-256, so two long names that share a prefix stay distinct.
 */
/** Prefix of the engine's own files in the download directory (`.icloud-photos-state.json`). */
const RESERVED_PREFIX = '.icloud-photos'

export function finalizeName(name: string): string {
  let s = name.replace(LONE_SURROGATE, '\uFFFD').replace(UNSAFE_CHARS, '_')
  if (s === '') s = '_'
  if (s === '.' || s === '..') s = s.replace(/\./g, '_')
  // Names the engine uses for itself: a photo may not pose as a download in progress (it would be
  // swept, or be another file's temp path) nor as the state file beside the photos.
  if (/\.part$/i.test(s)) s += '_'
  if (s.startsWith(RESERVED_PREFIX)) s = `_${s}`
  if (Buffer.byteLength(s) <= MAX_NAME_BYTES) return s
  const [stem, ext0] = splitExt(s)
  const ext = Buffer.byteLength(ext0) <= 32 ? ext0 : ''
  const head = ext === '' ? s : stem
  const tag = '~' + createHash('sha256').update(s).digest('hex').slice(0, 8)
  let budget = MAX_NAME_BYTES - Buffer.byteLength(ext) - tag.length
  let out = ''
  for (const ch of head) {
    budget -= Buffer.byteLength(ch)
    if (budget < 0) break
    out += ch
  }
  return out + tag + ext
}

/**
 * icloudpd's filename cleaner: `<>:"/\|?*` and NUL become `_`; non-ASCII characters are dropped unless
 * `keepUnicode`. Then the safety rules of `finalizeName` (so `../../etc/passwd` → `.._.._etc_passwd`,
 * `C:\x` → `C__x`, control characters → `_`, never empty, ≤ 255 bytes).
 */
export function sanitizeBaseName(name: string, keepUnicode = false): string {
  let s = String(name).replace(ICLOUDPD_INVALID, '_')
  s = keepUnicode ? s.replace(LONE_SURROGATE, '\uFFFD') : s.replace(NON_ASCII, '')
  return finalizeName(s)
}

/** `name-id7`: `_` + the first 7 characters of base64(UTF-8 master recordName). */
export function id7(masterId: string): string {
  return Buffer.from(masterId, 'utf8').toString('base64').slice(0, 7)
}

// ---------------------------------------------------------------------------------------------
// Versions → file names (icloudpd `PhotoAsset.versions` + `disambiguate_filenames` + download loop)

interface Named {
  name: string
  version: AssetVersion
}

/** The movie of a live photo: `suffix` → `IMG_1.HEIC` → `IMG_1_HEVC.MOV`, others `IMG_1.MOV`. */
function liveMovieName(filename: string, policy: NamingOptions['livePhotoMovFilenamePolicy']): string {
  const [stem, ext] = splitExt(filename)
  // icloudpd keeps an extension-less name as is, so the movie would overwrite the photo; we add .MOV.
  if (ext === '') return filename + '.MOV'
  if (policy === 'original') return stem + '.MOV'
  return stem + (ext.toLowerCase().endsWith('.heic') ? '_HEVC.MOV' : '.MOV')
}

/** A version's name before size suffixes: the extension follows the version's type when known. */
function versionName(asset: Asset, filename: string, version: AssetVersion, o: NamingOptions): string {
  if (asset.kind === 'image' && isMovieType(version.type))
    return liveMovieName(filename, o.livePhotoMovFilenamePolicy)
  const [stem, ext] = splitExt(filename)
  const e = extensionForType(version.type) ?? ext.slice(1)
  return e === '' ? stem : `${stem}.${e}`
}

/** The asset's base name: cleaned, plus `_<id7>` under `name-id7` (not for the fallback name). */
function baseFilename(asset: Asset, o: NamingOptions): string {
  const clean = sanitizeBaseName(asset.filename, o.keepUnicode ?? false)
  if (o.fileMatchPolicy !== 'name-id7' || isFallbackFilename(asset.masterId, asset.filename)) return clean
  return addSuffix(`_${id7(asset.masterId)}`, clean)
}

function namedVersions(asset: Asset, filename: string, o: NamingOptions): Partial<Record<AssetSize, Named>> {
  const named: Partial<Record<AssetSize, Named>> = {}
  for (const [size, version] of Object.entries(asset.versions) as [AssetSize, AssetVersion | undefined][]) {
    if (version === undefined) continue
    let name = versionName(asset, filename, version, o)
    if (size === 'medium' || size === 'thumb') name = addSuffix(`-${size}`, name)
    named[size] = { name, version }
  }
  const { original, alternative } = named
  if (
    alternative !== undefined &&
    ((o.alignRaw === 'original' && isRawType(alternative.version.type)) ||
      (o.alignRaw === 'alternative' && original !== undefined && isRawType(original.version.type)))
  ) {
    // The whole version moves, name included: `--align-raw original` makes the DNG the original.
    named.original = alternative
    if (original === undefined) delete named.alternative
    else named.alternative = original
  }
  return named
}

/** icloudpd's `disambiguate_filenames`: which versions serve the requested sizes, under which names. */
function disambiguate(named: Partial<Record<AssetSize, Named>>, sizes: readonly AssetSize[]) {
  const res: Partial<Record<AssetSize, Named>> = {}
  const clone = (n: Named | undefined) => (n === undefined ? undefined : { ...n })
  for (const s of sizes) if (named[s] !== undefined) res[s] = clone(named[s])
  const wantsOriginal = sizes.includes('original')

  if (sizes.includes('adjusted')) {
    if (!wantsOriginal) {
      res.adjusted ??= clone(named.original)
    } else if (res.adjusted !== undefined && res.original?.name === res.adjusted.name) {
      res.adjusted.name = addSuffix('-adjusted', res.adjusted.name)
    }
  }
  if (sizes.includes('alternative')) {
    if (!wantsOriginal && res.adjusted === undefined) {
      res.alternative ??= clone(named.original)
    } else if (
      res.alternative !== undefined &&
      (res.adjusted?.name === res.alternative.name || res.original?.name === res.alternative.name)
    ) {
      res.alternative.name = addSuffix('-alternative', res.alternative.name)
    }
  }
  for (const s of sizes) {
    if (s === 'original' || s === 'adjusted' || s === 'alternative') continue
    // A missing medium/thumb falls back to the original (unless the original is requested anyway).
    if (res[s] === undefined && !wantsOriginal) res.original ??= clone(named.original)
  }
  return res
}

function joinRel(folder: string, name: string): string {
  const safe = finalizeName(name)
  return folder === '' ? safe : `${folder}/${safe}`
}

/**
 * Every file icloudpd would write for this asset under these options, in its order: the requested
 * sizes, then the live-photo movie. A missing medium/thumb becomes the original unless `forceSize`
 * (or the original is requested anyway); a missing adjusted/alternative becomes the original when the
 * original is not requested. Paths are de-duplicated.
 */
export function plannedFiles(asset: Asset, options: NamingOptions): PlannedFile[] {
  const folder = folderFor(asset, options.folderStructure, options.timeZone, options.locale)
  const filename = baseFilename(asset, options)
  const named = namedVersions(asset, filename, options)
  const chosen = disambiguate(named, options.sizes)
  const out: PlannedFile[] = []
  const seen = new Set<string>()
  const add = (size: PlannedSize, n: Named) => {
    const relPath = joinRel(folder, n.name)
    if (seen.has(relPath)) return
    seen.add(relPath)
    const file: PlannedFile = { assetId: asset.id, size, relPath, version: n.version }
    if (size === 'original' && n.version.type === HEIF_TYPE) {
      const legacy = joinRel(folder, filename)
      if (legacy !== relPath) file.legacyRelPath = legacy
    }
    out.push(file)
  }

  for (const requested of options.sizes) {
    let size = requested
    if (chosen[size] === undefined && size !== 'original') {
      if (options.forceSize || options.sizes.includes('original')) continue
      size = 'original'
    }
    const n = chosen[size] ?? (size === 'original' ? named.original : undefined)
    if (n !== undefined) add(size, n)
  }

  if (!options.skipLivePhotos && asset.kind === 'image') {
    const lp = options.livePhotoSize
    const version = asset.liveVersions[lp]
    if (version !== undefined) {
      let name = versionName(asset, filename, version, options)
      if (lp !== 'original') name = addSuffix(`-${lp}`, name)
      add(`live-${lp}`, { name, version })
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Already downloaded?

function mapBase(relPath: string, f: (name: string) => string): string {
  const slash = relPath.lastIndexOf('/')
  return relPath.slice(0, slash + 1) + finalizeName(f(relPath.slice(slash + 1)))
}

/**
 * icloudpd's "already downloaded?" rule. The target exists → done; for the original a legacy
 * `NAME-original.EXT` also counts. Under `name-size-dedup-with-suffix` an existing file of another
 * size means a different photo with the same name: the target becomes `NAME-<size>.EXT`, checked
 * again. `name-id7` never compares sizes. `stat` returns the size of a relative path, or undefined.
 * Pass the planned `size` so the legacy rule only applies to originals (omitted: treated as original),
 * and the planned `legacyRelPath` so an older icloudpd's backup of a HEIF file is recognised.
 */
export function resolveExisting(
  relPath: string,
  expectedSize: number,
  policy: FileMatchPolicy,
  stat: (relPath: string) => number | undefined,
  size: PlannedSize = 'original',
  legacyRelPath?: string,
): { relPath: string; exists: boolean } {
  let found: string | undefined = stat(relPath) !== undefined ? relPath : undefined
  if (found === undefined && size === 'original') {
    const legacy = mapBase(relPath, (n) => addSuffix('-original', n))
    if (stat(legacy) !== undefined) found = legacy
  }
  // An older icloudpd's name for the same file (PlannedFile.legacyRelPath): only an exact size match
  // counts, so a different photo that happens to have that name is never taken for this one.
  if (found === undefined && legacyRelPath !== undefined && stat(legacyRelPath) === expectedSize)
    return { relPath: legacyRelPath, exists: true }
  if (found === undefined) return { relPath, exists: false }
  if (policy === 'name-size-dedup-with-suffix' && stat(found) !== expectedSize) {
    // icloudpd: f"-{size}.".join(path.rsplit(".", 1)) — before the last dot of the name.
    const deduped = mapBase(relPath, (n) => {
      const dot = n.lastIndexOf('.')
      return dot < 0 ? `${n}-${expectedSize}` : `${n.slice(0, dot)}-${expectedSize}${n.slice(dot)}`
    })
    return { relPath: deduped, exists: stat(deduped) !== undefined }
  }
  return { relPath: found, exists: true }
}

// ---------------------------------------------------------------------------------------------
// Joining

/** `root` + POSIX `relPath`, asserting the result stays inside `root` (throws otherwise). */
export function safeJoin(root: string, relPath: string): string {
  const refuse = (why: string) =>
    new AppError(
      'INTERNAL',
      `Refusing to write ${JSON.stringify(relPath.slice(0, 200))} outside the download directory: ${why}.`,
      'This is a bug in file naming; please report it.',
    )
  if (relPath.includes('\0')) throw refuse('it contains NUL')
  if (path.posix.isAbsolute(relPath) || path.win32.isAbsolute(relPath) || /^[A-Za-z]:/.test(relPath)) {
    throw refuse('it is absolute')
  }
  const base = path.resolve(root)
  const full = path.resolve(base, ...relPath.split('/'))
  const rel = path.relative(base, full)
  if (rel !== '' && (rel.split(path.sep)[0] === '..' || path.isAbsolute(rel))) throw refuse('it escapes')
  return full
}
