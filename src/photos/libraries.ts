/**
 * Libraries and albums as icloudpd finds them (docs/protocol.md §8.9): libraries are the zones of
 * both databases — an iCloud Shared Photo Library shows up in the private database for its owner
 * and in the shared database for a participant — and a library's albums are icloudpd's smart
 * folders plus, in a private-database library, its user albums.
 */
import { closest } from 'fastest-levenshtein'
import { AppError, isAppError } from '../core/errors.js'
import { CloudKitError, type CloudKitClient, type Collection, type Scope, type ZoneRef } from './cloudkit.js'
import { SMART_FOLDERS, smartFolder } from './smart-albums.js'

export const PRIMARY_ZONE = 'PrimarySync'

export interface LibrarySelection {
  scope: Scope
  zone: ZoneRef
}

export interface LibraryInfo extends LibrarySelection {
  /** The zone name: what `photos.library` (icloudpd `--library`) takes. */
  name: string
}

export interface LibraryList {
  /** Private database first, then the shared one (icloudpd's order of lookup). */
  libraries: LibraryInfo[]
  /** A database whose `zones/list` was refused (icloudpd logs it and goes on with the other). */
  unavailable: Array<{ scope: Scope; reason: string }>
}

/** `zones/list` on the private and the shared database (icloudpd `private_libraries`, `shared_libraries`). */
export async function listLibraries(client: CloudKitClient): Promise<LibraryList> {
  const out: LibraryList = { libraries: [], unavailable: [] }
  for (const scope of ['private', 'shared'] as const) await addLibraries(client, scope, out)
  return out
}

async function addLibraries(client: CloudKitClient, scope: Scope, out: LibraryList): Promise<void> {
  let zones: ZoneRef[]
  try {
    zones = await client.zonesList(scope)
  } catch (err) {
    // A refused database is not a failed run (icloudpd logs it and goes on with the other); an
    // account that never joined a shared library may have no shared database set up at all.
    const setup = scope === 'shared' && isAppError(err, 'ICLOUD_SETUP_INCOMPLETE')
    if (!(err instanceof CloudKitError) && !setup) throw err
    out.unavailable.push({ scope, reason: (err as Error).message })
    return
  }
  for (const zone of zones) out.libraries.push({ name: zone.zoneName, scope, zone })
}

/**
 * `PrimarySync` (default; costs no request), a zone name as `list-libraries` prints it (looked
 * up in the private database, then — only when not found there — in the shared one, as icloudpd
 * does), or `shared`: the first library that is not PrimarySync, wherever it is listed.
 */
export async function selectLibrary(
  client: CloudKitClient,
  library = PRIMARY_ZONE,
): Promise<LibrarySelection> {
  if (library === PRIMARY_ZONE) return { scope: 'private', zone: { zoneName: PRIMARY_ZONE } }
  const found: LibraryList = { libraries: [], unavailable: [] }
  const pick = (): LibraryInfo | undefined =>
    library === 'shared'
      ? found.libraries.find((l) => l.name !== PRIMARY_ZONE)
      : found.libraries.find((l) => l.name === library)
  for (const scope of ['private', 'shared'] as const) {
    await addLibraries(client, scope, found)
    const hit = pick()
    if (hit) return { scope: hit.scope, zone: hit.zone }
  }
  const names = found.libraries.map((l) => l.name)
  const refused = found.unavailable.length
    ? ` (the ${found.unavailable.map((u) => u.scope).join(' and ')} database could not be listed)`
    : ''
  throw new AppError(
    'CONFIG_INVALID',
    library === 'shared'
      ? `photos.library is "shared" but this account has no iCloud Shared Photo Library${refused}.`
      : `photos.library "${library}" does not exist in this account${refused}.`,
    names.length
      ? `Libraries of this account: ${names.join(', ')} (list them with \`list-libraries\`).`
      : 'Use PrimarySync (the default).',
  )
}

export interface AlbumEntry {
  name: string
  /** `smart`: one of icloudpd's smart folders; `album`: a user album. */
  kind: 'smart' | 'album'
  collection: Collection
}

/**
 * A library's albums in icloudpd's `--list-albums` order: the smart folders, then the user albums
 * (private database only — icloudpd asks no `CPLAlbumByPositionLive` of a shared-database library).
 * A user album named like a smart folder takes its place, as in icloudpd's dictionary.
 */
export async function albumCatalog(client: CloudKitClient, sel: LibrarySelection): Promise<AlbumEntry[]> {
  const entries: AlbumEntry[] = SMART_FOLDERS.map(([name, collection]) => ({
    name,
    kind: 'smart',
    collection,
  }))
  if (sel.scope !== 'private') return entries
  for (const a of await client.albums(sel.scope, sel.zone)) {
    // Apple's album names decode to NFD (`o` + U+0308), people type NFC (`ö`): keep them in NFC.
    const name = a.name.normalize('NFC')
    const entry: AlbumEntry = { name, kind: 'album', collection: { kind: 'album', albumId: a.id } }
    const k = entries.findIndex((e) => e.name === name)
    if (k >= 0) entries[k] = entry
    else entries.push(entry)
  }
  return entries
}

/**
 * Album names (`photos.albums`) to collections, in the order given, each name once. An unknown
 * name is a config error that lists what exists and suggests the nearest name.
 */
export async function resolveAlbums(
  client: CloudKitClient,
  sel: LibrarySelection,
  names: string[],
): Promise<Array<{ name: string; collection: Collection }>> {
  const catalog = await albumCatalog(client, sel)
  const wanted = [...new Set(names.map((n) => n.normalize('NFC')))]
  return wanted.map((name) => {
    const hit = catalog.find((e) => e.name === name)
    if (hit) return { name, collection: hit.collection }
    // "All Photos" (a smart folder of older icloudpd) is accepted, not listed.
    const legacy = smartFolder(name)
    if (legacy) return { name, collection: legacy }
    const all = catalog.map((e) => e.name)
    const near = closest(name, all)
    throw new AppError(
      'CONFIG_INVALID',
      `photos.albums: there is no album named "${name}" in ${sel.zone.zoneName}.`,
      `Did you mean "${near}"? Albums: ${all.join(', ')}.`,
    )
  })
}
