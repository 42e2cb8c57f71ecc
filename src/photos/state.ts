/**
 * Incremental sync state: what has been downloaded (asset id → files with size and SHA-256) and the
 * CloudKit sync tokens that make a no-change run cost one request (§8.6).
 *
 * It lives in two places — `.icloud-photos-state.json` beside the photos (self-hosted runners keep
 * their disk) and inside the encrypted cache blob (hosted runners start empty). `pickNewer` decides
 * between the two by generation, then by save time. The serialised form is compact JSON with short
 * keys; digests are base64url (43 chars) rather than hex.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Scope, ZoneRef } from './cloudkit.js'
import { ICloudError } from '../icloud/errors.js'
import { writeFileAtomic } from '../util/atomic.js'

export const STATE_FILE = '.icloud-photos-state.json'
const FORMAT = 1

export interface ManifestFile {
  /** POSIX path relative to the download directory. */
  relPath: string
  size: number
  /** Hex SHA-256 of the bytes we wrote; '' for files found on disk (e.g. from icloudpd), never hashed. */
  sha256: string
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
  manifest: Map<string, ManifestFile[]>
}

export function emptyState(): SyncState {
  return { generation: 0, savedAt: new Date(0).toISOString(), manifest: new Map() }
}

type FileTuple = [relPath: string, size: number, sha: string]

interface Serialized {
  v: number
  g: number
  t: string
  lib?: { s: Scope; z: ZoneRef }
  zt?: string
  dt?: string
  ok?: string
  r?: 1
  m: Record<string, FileTuple[]>
}

const hexToB64 = (hex: string): string => (hex ? Buffer.from(hex, 'hex').toString('base64url') : '')
const b64ToHex = (b: string): string => (b ? Buffer.from(b, 'base64url').toString('hex') : '')

export function serializeState(s: SyncState): string {
  const m: Record<string, FileTuple[]> = {}
  for (const [id, files] of s.manifest) m[id] = files.map((f) => [f.relPath, f.size, hexToB64(f.sha256)])
  const out: Serialized = { v: FORMAT, g: s.generation, t: s.savedAt, m }
  if (s.library) out.lib = { s: s.library.scope, z: s.library.zone }
  if (s.zoneSyncToken) out.zt = s.zoneSyncToken
  if (s.dbSyncToken) out.dt = s.dbSyncToken
  if (s.optionsKey) out.ok = s.optionsKey
  if (s.running) out.r = 1
  return JSON.stringify(out)
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
  const o = raw as Partial<Serialized>
  if (
    o.v !== FORMAT ||
    typeof o.g !== 'number' ||
    typeof o.t !== 'string' ||
    !o.m ||
    typeof o.m !== 'object'
  ) {
    return undefined
  }
  const manifest = new Map<string, ManifestFile[]>()
  for (const [id, files] of Object.entries(o.m)) {
    if (!Array.isArray(files)) return undefined
    const list: ManifestFile[] = []
    for (const f of files) {
      if (
        !Array.isArray(f) ||
        typeof f[0] !== 'string' ||
        typeof f[1] !== 'number' ||
        typeof f[2] !== 'string'
      ) {
        return undefined
      }
      list.push({ relPath: f[0], size: f[1], sha256: b64ToHex(f[2]) })
    }
    manifest.set(id, list)
  }
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
    await writeFileAtomic(path.join(directory, STATE_FILE), serializeState(s))
  } catch (err) {
    throw new ICloudError(
      'DISK',
      `Cannot save the download state in ${directory} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
      'Check free space and permissions of the download directory; downloaded files are kept.',
      { cause: err },
    )
  }
}

/** Record the files of one asset (replacing entries with the same path). */
export function recordFiles(s: SyncState, assetId: string, files: ManifestFile[]): void {
  const list = s.manifest.get(assetId) ?? []
  for (const f of files) {
    const k = list.findIndex((x) => x.relPath === f.relPath)
    if (k >= 0) list[k] = f
    else list.push(f)
  }
  s.manifest.set(assetId, list)
}
