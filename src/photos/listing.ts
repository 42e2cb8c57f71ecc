/**
 * Listing the library page by page. Both the full listing (`records/query`, newest first) and the
 * delta feed (`changes/zone`) are async iterators of pages, so memory is one page plus — for
 * deltas — the halves of pairs still waiting for their partner, never the whole library.
 */
import { AppError, isAppError } from '../core/errors.js'
import type { Log } from '../core/log.js'
import type { Asset } from './asset.js'
import type { AssetFilter } from './filters.js'
import {
  CloudKitError,
  type CloudKitClient,
  type Collection,
  type LookupResult,
  type Scope,
  type ZoneRef,
} from './cloudkit.js'
import { resolveAlbums, type LibrarySelection } from './libraries.js'
import {
  AssetParseError,
  MASTER_RECORD_TYPE,
  MasterLookupError,
  isDeleted,
  isHardDeleted,
  isHidden,
  masterRefOf,
  pairRecords,
  parseAssetPair,
  type CkRecord,
} from './records.js'

export { PRIMARY_ZONE, selectLibrary, type LibrarySelection } from './libraries.js'

/** Assets per page (sent as resultsLimit = 2 records per asset, docs/protocol.md §8.3). */
export const PAGE_SIZE = 100
/** kei: runs of deleted records can come back as empty pages; probe this many before concluding. */
export const MAX_EMPTY_PAGES = 5

export interface AssetPage {
  assets: Asset[]
  /** Pairs that could not be parsed: failures for those assets only. */
  errors: AssetParseError[]
  /** The zone's sync token reported with this page. */
  syncToken?: string
  /** Total assets in the collection, on the first page of each collection. */
  total?: number
  /** Album name when listing albums. */
  album?: string
  /** The listing gave up before the counted total (empty pages): the run must not save its tokens. */
  incomplete?: boolean
  /**
   * On the first page: `recent` stops this collection before its counted total, or a moving filter
   * (relative skip-created-after) leaves out assets a later run must still get: no tokens.
   */
  cutShort?: boolean
}

export interface ListOptions {
  /** Album names (smart folders or user albums, icloudpd's names); none → the whole library. */
  albums?: string[]
  /** Collections to list as they are, instead of album names (auto-delete: Recently Deleted). */
  collections?: Collection[]
  /** Only the first N assets (newest first) of each collection. */
  recent?: number
  skipVideos?: boolean
  /** skip-photos / skip-created-*: assets it does not keep are left out (filters.ts). */
  filter?: AssetFilter
  pageSize?: number
  /** Check `CheckIndexingState` first (icloudpd does, once per library). Default true. */
  checkIndexing?: boolean
  log?: Pick<Log, 'warning'>
}

/** Resolve album names (smart folders and user albums) to collections; see libraries.ts. */
export const albumCollections = resolveAlbums

/**
 * Every asset of the selected collections, page by page, newest first (§8.3). Stops at the counted
 * total, after `MAX_EMPTY_PAGES` empty pages in a row, or at `recent`.
 */
export async function* listAssets(
  client: CloudKitClient,
  sel: LibrarySelection,
  o: ListOptions = {},
): AsyncGenerator<AssetPage> {
  const pageSize = o.pageSize ?? PAGE_SIZE
  if (o.checkIndexing !== false) await client.checkIndexing(sel.scope, sel.zone)
  const collections: Array<{ name?: string; collection: Collection }> = o.collections
    ? o.collections.map((collection) => ({ collection }))
    : o.albums?.length
      ? await resolveAlbums(client, sel, o.albums)
      : [{ collection: { kind: 'all' } }]
  // An asset in two of the albums is handed over once (icloudpd finds the file already there).
  const seenIds = collections.length > 1 ? new Set<string>() : undefined

  for (const { name, collection } of collections) {
    const total = await client.count(sel.scope, sel.zone, collection)
    let startRank = 0
    let seen = 0
    let empty = 0
    let first = true
    while (seen < total && (o.recent === undefined || seen < o.recent)) {
      const limit = o.recent === undefined ? Infinity : o.recent - seen
      // Parsed in a helper so the raw records are garbage before the consumer gets the page.
      const { out, masters, consumed } = await fetchPage(
        client,
        sel,
        collection,
        startRank,
        pageSize,
        limit,
        o,
      )
      out.album = name
      if (seenIds) {
        out.assets = out.assets.filter((a) => {
          if (seenIds.has(a.id)) return false
          seenIds.add(a.id)
          return true
        })
      }
      if (first) {
        out.total = o.recent === undefined ? total : Math.min(total, o.recent)
        if (o.recent !== undefined && total > o.recent) out.cutShort = true
        if (o.filter?.moving) out.cutShort = true
      }
      first = false
      if (masters === 0) {
        // An empty page mid-listing: skip a page of (deleted) ranks and probe again.
        if (++empty >= MAX_EMPTY_PAGES) {
          o.log?.warning(
            `photos: listing ended after ${MAX_EMPTY_PAGES} empty pages with ${seen} of ${total} assets.`,
          )
          out.incomplete = true
          yield out
          break
        }
        startRank += pageSize
        yield out
        continue
      }
      empty = 0
      startRank += masters
      seen += consumed
      yield out
    }
  }
}

async function fetchPage(
  client: CloudKitClient,
  sel: LibrarySelection,
  collection: Collection,
  startRank: number,
  pageSize: number,
  limit: number,
  o: ListOptions,
): Promise<{ out: AssetPage; masters: number; consumed: number }> {
  const page = await client.listPage(sel.scope, sel.zone, collection, startRank, pageSize)
  const { pairs, unpairedMasters } = pairRecords(page.records)
  const out: AssetPage = { assets: [], errors: [], syncToken: page.syncToken }
  let consumed = 0
  for (const [master, asset] of pairs) {
    if (consumed >= limit) break
    consumed++
    try {
      const a = parseAssetPair(master, asset)
      if (o.skipVideos && a.kind === 'movie') continue
      if (o.filter && !o.filter.keep(a)) continue
      out.assets.push(a)
    } catch (err) {
      if (err instanceof AssetParseError) out.errors.push(err)
      else throw err
    }
  }
  // A master without its asset still occupies a rank.
  consumed += unpairedMasters.length
  return { out, masters: pairs.length + unpairedMasters.length, consumed }
}

/** `changes/database` followed to the end (`moreComing`): every changed zone and the final token. */
export async function databaseChanges(
  client: CloudKitClient,
  scope: Scope,
  syncToken?: string,
): Promise<{ syncToken: string; zones: Array<{ zone: ZoneRef; syncToken?: string }> }> {
  const zones = new Map<string, { zone: ZoneRef; syncToken?: string }>()
  let token = syncToken
  for (let page = 0; ; page++) {
    const r = await client.changesDatabase(scope, token)
    for (const z of r.zones) zones.set(z.zone.zoneName, z)
    if (!r.moreComing || r.syncToken === token || page >= 100)
      return { syncToken: r.syncToken, zones: [...zones.values()] }
    token = r.syncToken
  }
}

/**
 * A failure of the change feed (`changes/database`, `changes/zone`) that a full listing can stand in
 * for: a refusal that is not about the session (404, 400, other non-2xx answers) or an answer
 * without the expected fields. Sign-in, throttling, network and local errors are not: a listing
 * would meet them too, and throttling means asking less, not more.
 */
export function isChangeFeedFailure(err: unknown): boolean {
  if (err instanceof CloudKitError) return true
  return isAppError(err, 'PROTOCOL_ERROR') || isAppError(err, 'ICLOUD_SETUP_INCOMPLETE')
}

/** The sync token is no longer known to Apple (`BAD_REQUEST`): do a full listing and start over. */
export class SyncTokenExpired extends AppError {
  constructor(reason: string) {
    super(
      'PROTOCOL_ERROR',
      `The stored iCloud sync token was refused (${reason || 'BAD_REQUEST'}).`,
      'A full listing is done instead.',
    )
    this.name = 'SyncTokenExpired'
  }
}

export interface ChangePage {
  /** New or changed assets that are neither hidden nor deleted. */
  assets: Asset[]
  /** Unreadable pairs (failed, tokens move on) and unfetchable masters (failed, tokens kept). */
  errors: Array<AssetParseError | MasterLookupError>
  /** Asset ids that were hidden, moved to Recently Deleted or hard-deleted (files are kept). */
  removed: string[]
  /** The token after this page; store the last one once every page was handled. */
  syncToken?: string
}

/**
 * The zone's changes since `syncToken`, page by page (§8.6). Pairs may straddle pages: halves wait
 * in two small maps until their partner arrives; whatever is left at the end is flushed: an asset
 * change without its master has its master fetched by `records/lookup` (an unhidden or restored
 * asset may be new to us; a known one is simply found present).
 */
export async function* listChanges(
  client: CloudKitClient,
  sel: LibrarySelection,
  syncToken: string,
  o: { skipVideos?: boolean; filter?: AssetFilter; resultsLimit?: number; log?: Pick<Log, 'warning'> } = {},
): AsyncGenerator<ChangePage> {
  const masters = new Map<string, CkRecord>()
  const waiting = new Map<string, CkRecord>() // masterRef → asset
  let token: string | undefined = syncToken
  for (;;) {
    const page = await client.changesZone(sel.scope, sel.zone, token, o.resultsLimit ?? 200)
    if (page.error) {
      if (page.error.serverErrorCode === 'BAD_REQUEST') throw new SyncTokenExpired(page.error.reason)
      throw new AppError(
        page.error.serverErrorCode === 'ZONE_NOT_FOUND' ? 'ICLOUD_SETUP_INCOMPLETE' : 'PROTOCOL_ERROR',
        `iCloud refused the change feed of ${sel.zone.zoneName} (${page.error.serverErrorCode}).`,
        page.error.serverErrorCode === 'ZONE_NOT_FOUND'
          ? 'The library no longer exists; check photos.library.'
          : 'The next run will try again.',
      )
    }
    const out: ChangePage = { assets: [], errors: [], removed: [], syncToken: page.syncToken }
    const { pairs, unpairedMasters, unpairedAssets } = pairRecords(page.records)
    for (const r of page.records)
      if (r && isHardDeleted(r) && typeof r.recordName === 'string') out.removed.push(r.recordName)
    for (const m of unpairedMasters) {
      const asset = waiting.get(m.recordName)
      if (asset) {
        waiting.delete(m.recordName)
        pairs.push([m, asset])
      } else masters.set(m.recordName, m)
    }
    for (const a of unpairedAssets) {
      const ref = masterRefOf(a)
      const m = ref === undefined ? undefined : masters.get(ref)
      if (m && ref !== undefined) {
        masters.delete(ref)
        pairs.push([m, a])
      } else if (ref !== undefined) waiting.set(ref, a)
    }
    for (const [m, a] of pairs) classify(m, a, out, o)
    if (!page.moreComing) {
      // Leftovers: an asset change alone (hidden, deleted, favourite, or unhidden / restored — a
      // photo we may never have seen) or a master alone (renamed).
      const orphans: CkRecord[] = []
      for (const a of waiting.values()) {
        if (isHidden(a) || isDeleted(a)) out.removed.push(a.recordName)
        else orphans.push(a)
      }
      waiting.clear()
      if (orphans.length) await fetchMasters(client, sel, orphans, out, o)
      if (masters.size) {
        o.log?.warning(
          `photos: ${masters.size} changed master record(s) arrived without their asset; known files are kept.`,
        )
      }
      yield out
      return
    }
    yield out
    if (page.syncToken === undefined || page.syncToken === token) {
      throw new AppError(
        'PROTOCOL_ERROR',
        'iCloud returned moreComing without a new sync token.',
        'The next run will try again.',
      )
    }
    token = page.syncToken
  }
}

/** Errors that end the run wherever they happen; anything else fails only the assets concerned. */
const RUN_ERRORS: ReadonlySet<string> = new Set([
  'THROTTLED',
  'SESSION_INVALID',
  'MFA_REQUIRED',
  'ADP_OR_WEB_ACCESS_DISABLED',
  'ICLOUD_SETUP_INCOMPLETE',
])

/**
 * The masters of asset changes that came without them (an asset unhidden or restored from
 * Recently Deleted changes only its CPLAsset), fetched with `records/lookup` and paired. A master
 * Apple no longer has fails that asset like an unreadable record; a lookup that fails or is refused
 * yields MasterLookupErrors, which keep the sync tokens before these assets.
 */
async function fetchMasters(
  client: CloudKitClient,
  sel: LibrarySelection,
  orphans: CkRecord[],
  out: ChangePage,
  o: Keep,
): Promise<void> {
  const names = [...new Set(orphans.map((a) => masterRefOf(a)!))]
  let found: LookupResult
  try {
    found = await client.lookup(sel.scope, sel.zone, names)
  } catch (err) {
    if (!(err instanceof AppError) || RUN_ERRORS.has(err.code)) throw err
    for (const a of orphans)
      out.errors.push(
        new MasterLookupError(a.recordName, masterRefOf(a)!, `records/lookup failed (${err.message})`),
      )
    return
  }
  const byName = new Map<string, CkRecord>()
  for (const r of found.records) if (r.recordType === MASTER_RECORD_TYPE) byName.set(r.recordName, r)
  for (const a of orphans) {
    const ref = masterRefOf(a)!
    const master = byName.get(ref)
    const error = found.errors.get(ref)
    if (master) classify(master, a, out, o)
    else if (error?.serverErrorCode === 'NOT_FOUND')
      out.errors.push(
        new AssetParseError('its master record no longer exists in iCloud', {
          assetId: a.recordName,
          masterId: ref,
        }),
      )
    else {
      const why = error
        ? `${error.serverErrorCode}${error.reason ? `, ${error.reason}` : ''}`
        : 'not a CPLMaster'
      out.errors.push(new MasterLookupError(a.recordName, ref, `records/lookup answered ${why}`))
    }
  }
}

/** Which parsed assets a change page keeps (skip-videos, then the filter). */
interface Keep {
  skipVideos?: boolean
  filter?: AssetFilter
}

function classify(master: CkRecord, asset: CkRecord, out: ChangePage, o: Keep): void {
  if (isHidden(asset) || isDeleted(asset)) {
    out.removed.push(asset.recordName)
    return
  }
  try {
    const a = parseAssetPair(master, asset)
    if (o.skipVideos && a.kind === 'movie') return
    if (o.filter && !o.filter.keep(a)) return
    out.assets.push(a)
  } catch (err) {
    if (err instanceof AssetParseError) out.errors.push(err)
    else throw err
  }
}
