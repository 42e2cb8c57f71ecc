/**
 * Incremental sync state: what has been downloaded (asset id → files with size and SHA-256) and the
 * CloudKit sync tokens that make a no-change run cost one request (docs/protocol.md §8.6).
 *
 * It lives in two places — `.icloud-photos-state.json` beside the photos (self-hosted runners keep
 * their disk) and inside the encrypted cache blob (hosted runners start empty). `pickNewer` decides
 * between the two by generation, then by save time. The serialised form is compact JSON with short
 * keys; digests are base64url (43 chars) rather than hex, and each asset's files are one packed string.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Scope, ZoneRef } from './cloudkit.js'
import { AppError } from '../core/errors.js'
import { writeFileAtomic } from '../util/atomic.js'

export const STATE_FILE = '.icloud-photos-state.json'
/** 2: manifest entries are packed strings (see Manifest); 1 (read only): arrays of tuples. */
const FORMAT = 2

export interface ManifestFile {
  /** POSIX path relative to the download directory. */
  relPath: string
  size: number
  /** Hex SHA-256 of the bytes we wrote; '' for files found on disk (e.g. from icloudpd), never hashed. */
  sha256: string
  /**
   * The size iCloud listed, when the file was changed after its download (`set-exif-datetime`
   * added EXIF dates): `size` and `sha256` are the file's on disk, this is what naming compares
   * with the listing, so the edited file still counts as that version.
   */
  icloudSize?: number
}

/** Separates the fields of packed entries: the one character no path can contain. */
const SEP = '\0'

/**
 * What has been downloaded: asset id → its files. Each asset's files are held as one packed string
 * (`relPath SEP size SEP base64url-sha256`, repeated), unpacked only when the asset is looked at:
 * a Map of objects cost ~500 bytes per file, the packed form about a third of that, which is what
 * lets 100,000+ assets stay well inside the worker's heap. The packed string is also what the
 * state file stores, so saving does not rebuild the manifest.
 */
export class Manifest {
  private readonly packed = new Map<string, string>()

  get size(): number {
    return this.packed.size
  }

  get(assetId: string): ManifestFile[] | undefined {
    const p = this.packed.get(assetId)
    return p === undefined ? undefined : unpack(p)
  }

  /** An empty list removes the asset (an entry with no files could not be packed and read back). */
  set(assetId: string, files: ManifestFile[]): void {
    if (files.length) this.packed.set(assetId, pack(files))
    else this.packed.delete(assetId)
  }

  /** Add the files of one asset, replacing entries with the same path. */
  record(assetId: string, files: ManifestFile[]): void {
    const list = this.get(assetId) ?? []
    for (const f of files) {
      const k = list.findIndex((x) => x.relPath === f.relPath)
      if (k >= 0) list[k] = f
      else list.push(f)
    }
    this.set(assetId, list)
  }

  *entries(): Generator<[string, ManifestFile[]]> {
    for (const [id, p] of this.packed) yield [id, unpack(p)]
  }

  /** For the state file: the packed strings as they are. */
  packedEntries(): IterableIterator<[string, string]> {
    return this.packed.entries()
  }

  /** A packed entry read from a state file; false (and nothing stored) when it is malformed. */
  setPacked(assetId: string, p: string): boolean {
    if (!isPacked(p)) return false
    this.packed.set(assetId, p)
    return true
  }
}

const hexToB64 = (hex: string): string => (hex ? Buffer.from(hex, 'hex').toString('base64url') : '')
const b64ToHex = (b: string): string => (b ? Buffer.from(b, 'base64url').toString('hex') : '')

/** The size field: `<size>`, or `<size>/<icloudSize>` for a file edited after its download. */
function packSize(f: ManifestFile): string {
  return f.icloudSize === undefined || f.icloudSize === f.size ? `${f.size}` : `${f.size}/${f.icloudSize}`
}

/** The size on disk of a packed size field (what the disk check compares). */
export function packedDiskSize(field: string): number {
  const slash = field.indexOf('/')
  return Number(slash < 0 ? field : field.slice(0, slash))
}

function unpackFile(relPath: string, size: string, sha: string): ManifestFile {
  const f: ManifestFile = { relPath, size: packedDiskSize(size), sha256: b64ToHex(sha) }
  const slash = size.indexOf('/')
  if (slash >= 0) f.icloudSize = Number(size.slice(slash + 1))
  return f
}

function pack(files: ManifestFile[]): string {
  return files.map((f) => `${f.relPath}${SEP}${packSize(f)}${SEP}${hexToB64(f.sha256)}`).join(SEP)
}

function unpack(p: string): ManifestFile[] {
  const parts = p.split(SEP)
  const files: ManifestFile[] = []
  for (let i = 0; i + 2 < parts.length; i += 3)
    files.push(unpackFile(parts[i]!, parts[i + 1]!, parts[i + 2]!))
  return files
}

const SHA_B64 = /^(?:[A-Za-z0-9_-]{43})?$/
const SIZE = /^(?:0|[1-9]\d*)(?:\/(?:0|[1-9]\d*))?$/

function isPacked(p: string): boolean {
  const parts = p.split(SEP)
  if (parts.length === 0 || parts.length % 3 !== 0) return false
  for (let i = 0; i < parts.length; i += 3) {
    if (parts[i] === '' || !SIZE.test(parts[i + 1]!) || !SHA_B64.test(parts[i + 2]!)) return false
  }
  return true
}

export interface SyncState {
  /** Bumped on every save; the higher generation wins when the cache and the file disagree. */
  generation: number
  /** ISO time of the last save. */
  savedAt: string
  /** The library the tokens belong to. */
  library?: { scope: Scope; zone: ZoneRef }
  zoneSyncToken?: string
  dbSyncToken?: string
  /** Fingerprint of the options the tokens were earned under; other options → full listing. */
  optionsKey?: string
  /** Set while a run downloads; still set at load time → the last run was killed (sweep `.part`). */
  running?: boolean
  manifest: Manifest
}

export function emptyState(): SyncState {
  return { generation: 0, savedAt: new Date(0).toISOString(), manifest: new Manifest() }
}

type FileTuple = [relPath: string, size: number, sha: string]

/** The state file without its manifest (`m`), which is written and read entry by entry. */
interface Head {
  v: number
  g: number
  t: string
  lib?: { s: Scope; z: ZoneRef }
  zt?: string
  dt?: string
  ok?: string
  r?: 1
}

/**
 * The serialised state piece by piece: `{…head…,"m":{"<id>":"<packed>",…}}`, so a save streams a
 * large manifest to the file instead of building it as one string. A checkpoint save runs while
 * downloads go on: an entry recorded meanwhile may or may not be in it, and either is a true
 * account of what is on disk.
 */
export function* serializeStatePieces(s: SyncState): Generator<string> {
  const head: Head = { v: FORMAT, g: s.generation, t: s.savedAt }
  if (s.library) head.lib = { s: s.library.scope, z: s.library.zone }
  if (s.zoneSyncToken) head.zt = s.zoneSyncToken
  if (s.dbSyncToken) head.dt = s.dbSyncToken
  if (s.optionsKey) head.ok = s.optionsKey
  if (s.running) head.r = 1
  yield JSON.stringify(head).slice(0, -1) + ',"m":{'
  let sep = ''
  for (const [id, p] of s.manifest.packedEntries()) {
    yield sep + JSON.stringify(id) + ':' + JSON.stringify(p)
    sep = ','
  }
  yield '}}'
}

export function serializeState(s: SyncState): string {
  return [...serializeStatePieces(s)].join('')
}

/** Parse a serialised state; undefined (not an exception) for anything unreadable, so a bad file costs a full listing, never the run. */
export function parseState(text: string): SyncState | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined
  }
  if (raw === null || typeof raw !== 'object') return undefined
  const o = raw as Partial<Head> & { m?: unknown }
  if (
    (o.v !== FORMAT && o.v !== 1) ||
    typeof o.g !== 'number' ||
    typeof o.t !== 'string' ||
    !o.m ||
    typeof o.m !== 'object'
  ) {
    return undefined
  }
  const manifest =
    o.v === 1 ? manifestV1(o.m as Record<string, unknown>) : manifestV2(o.m as Record<string, unknown>)
  if (!manifest) return undefined
  const s: SyncState = { generation: o.g, savedAt: o.t, manifest }
  const lib = o.lib
  if (lib && (lib.s === 'private' || lib.s === 'shared') && typeof lib.z?.zoneName === 'string') {
    s.library = { scope: lib.s, zone: lib.z }
  }
  if (typeof o.zt === 'string') s.zoneSyncToken = o.zt
  if (typeof o.dt === 'string') s.dbSyncToken = o.dt
  if (typeof o.ok === 'string') s.optionsKey = o.ok
  if (o.r === 1) s.running = true
  return s
}

function manifestV2(m: Record<string, unknown>): Manifest | undefined {
  const manifest = new Manifest()
  for (const [id, p] of Object.entries(m)) {
    if (typeof p !== 'string' || !manifest.setPacked(id, p)) return undefined
  }
  return manifest
}

/** The first format (one release): `id: [[relPath, size, base64url-sha], …]`. */
function manifestV1(m: Record<string, unknown>): Manifest | undefined {
  const manifest = new Manifest()
  for (const [id, files] of Object.entries(m)) {
    if (!Array.isArray(files)) return undefined
    const list: ManifestFile[] = []
    for (const f of files as unknown[]) {
      if (
        !Array.isArray(f) ||
        typeof f[0] !== 'string' ||
        typeof f[1] !== 'number' ||
        typeof f[2] !== 'string'
      ) {
        return undefined
      }
      const [relPath, size, sha] = f as FileTuple
      list.push({ relPath, size, sha256: b64ToHex(sha) })
    }
    manifest.set(id, list)
  }
  return manifest
}

/** The newer of two states (cache blob vs file): higher generation, then later save, wins. */
export function pickNewer(a: SyncState | undefined, b: SyncState | undefined): SyncState | undefined {
  if (!a) return b
  if (!b) return a
  if (a.generation !== b.generation) return a.generation > b.generation ? a : b
  return Date.parse(a.savedAt) >= Date.parse(b.savedAt) ? a : b
}

/** Stamp a state for saving: next generation, current time. */
export function stamp(s: SyncState, now = Date.now()): SyncState {
  s.generation += 1
  s.savedAt = new Date(now).toISOString()
  return s
}

export async function loadStateFile(directory: string): Promise<SyncState | undefined> {
  try {
    return parseState(await fs.readFile(path.join(directory, STATE_FILE), 'utf8'))
  } catch {
    return undefined
  }
}

/** Write the state file atomically; a full disk becomes DISK, not a raw Node error. */
export async function saveStateFile(directory: string, s: SyncState): Promise<void> {
  try {
    await fs.mkdir(directory, { recursive: true })
    await writeFileAtomic(path.join(directory, STATE_FILE), serializeStatePieces(s))
  } catch (err) {
    throw new AppError(
      'DISK',
      `Cannot save the download state in ${directory} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
      'Check free space and permissions of the download directory; downloaded files are kept.',
      { cause: err },
    )
  }
}
