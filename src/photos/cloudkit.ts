/**
 * The CloudKit photos database client (docs/protocol.md §8): zones, indexing check, counts, paged
 * list queries, the incremental change feeds and lookups by record name (§8.8). Apple's query and
 * list names live here (and record field names in records.ts); callers speak in `Collection`s and
 * zone references.
 * Errors are mapped per §5.4 onto AppError codes; URLs (which carry dsid and client id) never
 * appear in messages.
 */
import { AppError } from '../core/errors.js'
import type { HttpClient, HttpResponse } from '../icloud/http.js'
import { DESIRED_KEYS, type CkRecord } from './records.js'
import {
  BURSTS,
  HIDDEN,
  RECENTLY_DELETED,
  WHOLE_LIBRARY,
  smartQuery,
  type CollectionQuery,
  type SmartAlbum,
} from './smart-albums.js'
import { parseRetryAfter, type ThrottleGovernor } from './throttle.js'

export type Scope = 'private' | 'shared'

export interface ZoneRef {
  zoneName: string
  ownerRecordName?: string
  zoneType?: string
}

export type { SmartAlbum } from './smart-albums.js'

/** What to list: the whole library (minus hidden/deleted), an album, a smart album, hidden, deleted, bursts. */
export type Collection =
  | { kind: 'all' }
  | { kind: 'album'; albumId: string }
  | { kind: 'smart'; name: SmartAlbum }
  | { kind: 'hidden' }
  | { kind: 'deleted' }
  | { kind: 'burst' }

export interface QueryPage {
  records: CkRecord[]
  /** The zone's current sync token (sent because of `getCurrentSyncToken=True`). */
  syncToken?: string
  continuationMarker?: string
}

export interface DatabaseChanges {
  syncToken: string
  moreComing: boolean
  zones: Array<{ zone: ZoneRef; syncToken?: string }>
}

export interface ZoneChanges {
  zone: ZoneRef
  syncToken?: string
  moreComing: boolean
  records: CkRecord[]
  /** A per-zone error (`BAD_REQUEST` = unknown token, `ZONE_NOT_FOUND`, …). */
  error?: { serverErrorCode: string; reason: string }
}

/** What `records/lookup` returned: records found, and per-record errors keyed by record name. */
export interface LookupResult {
  records: CkRecord[]
  /** `NOT_FOUND` for a record that does not (or no longer) exist; other codes are refusals. */
  errors: Map<string, { serverErrorCode: string; reason: string }>
}

/** What `markDeleted` got back: done, or refused for this record (CONFLICT, NOT_FOUND, …). */
export type MarkDeletedResult =
  | { status: 'deleted'; recordChangeTag?: string }
  | { status: 'rejected'; serverErrorCode: string; reason: string }

/** Record names per `records/lookup` request (CloudKit caps a request at 200 records). */
export const LOOKUP_BATCH = 100

export interface AlbumInfo {
  id: string
  name: string
}

export interface CloudKitClientOptions {
  http: HttpClient
  /** `webservices.ckdatabasews.url`, used verbatim (e.g. `https://p61-ckdatabasews.icloud.com:443`). */
  databaseUrl: string
  clientId: string
  dsid: string
  /** `{home}` for Origin/Referer (default https://www.icloud.com). */
  home?: string
  signal?: AbortSignal
}

const CONTAINER_PATH = 'database/1/com.apple.photos.cloud/production'
const ROOT_FOLDERS = new Set(['----Root-Folder----', '----Project-Root-Folder----'])

/** §8.4: list record type, count index id and extra filter per collection (smart-albums.ts). */
export function collectionQuery(c: Collection): CollectionQuery {
  switch (c.kind) {
    case 'all':
      return WHOLE_LIBRARY
    case 'hidden':
      return HIDDEN
    case 'deleted':
      return RECENTLY_DELETED
    case 'burst':
      return BURSTS
    case 'smart':
      return smartQuery(c.name)
    case 'album':
      return {
        listType: 'CPLContainerRelationLiveByAssetDate',
        countId: `CPLContainerRelationNotDeletedByAssetDate:${c.albumId}`,
        filter: { fieldName: 'parentId', value: c.albumId },
      }
  }
}

/** Records per asset in a list page: master + asset, plus a container relation in albums (§8.4). */
export function recordsPerAsset(c: Collection): number {
  return c.kind === 'album' ? 3 : 2
}

/** A CloudKit refusal with no more specific code; `serverErrorCode` tells callers e.g. BAD_REQUEST. */
export class CloudKitError extends AppError {
  constructor(
    message: string,
    readonly serverErrorCode: string | undefined,
    readonly status: number,
  ) {
    super(
      'PROTOCOL_ERROR',
      message,
      'This is usually temporary; the next run will try again. If it persists, please report it.',
    )
    this.name = 'CloudKitError'
  }
}

export class CloudKitClient {
  /** CloudKit calls made so far, retries included (the request budget of a no-change run is asserted on this). */
  requests = 0
  /**
   * While set (a sync run installs its governor), a throttled call (503/429, CloudKit THROTTLED)
   * waits and is sent again until the run's throttle budget is used up; unset, it throws THROTTLED
   * at once. Every call but `records/modify` is a read, so sending it again is safe; a
   * modify sent twice is refused by its `recordChangeTag` (CONFLICT), which `markDeleted`'s
   * caller resolves by looking the record up.
   */
  throttle?: ThrottleGovernor
  private readonly o: CloudKitClientOptions
  private readonly base: string

  constructor(o: CloudKitClientOptions) {
    this.o = o
    this.base = o.databaseUrl.replace(/\/+$/, '')
  }

  /** icloudpd's query string, Python booleans included (§8.1). */
  private queryString(): string {
    const q = new URLSearchParams({
      clientBuildNumber: '2522Project44',
      clientMasteringNumber: '2522B2',
      clientId: this.o.clientId,
      dsid: this.o.dsid,
      remapEnums: 'True',
      getCurrentSyncToken: 'True',
    })
    return '?' + q.toString()
  }

  /**
   * POST a JSON body as `text/plain` (as the web client does; `records/modify` goes as
   * `application/json`, like icloudpd's) and return the checked JSON answer.
   */
  async post(
    scope: Scope,
    op: string,
    body: unknown,
    withQuery = true,
    contentType = 'text/plain',
  ): Promise<Record<string, unknown>> {
    const home = this.o.home ?? 'https://www.icloud.com'
    const url = `${this.base}/${CONTAINER_PATH}/${scope}/${op}${withQuery ? this.queryString() : ''}`
    const send = async () => {
      this.requests++
      const res = await this.o.http.request({
        method: 'POST',
        url,
        headers: {
          'content-type': contentType,
          accept: 'application/json',
          origin: home,
          referer: home + '/',
        },
        body: JSON.stringify(body),
        signal: this.o.signal,
      })
      return readAnswer(res, op)
    }
    for (let tries = 1; ; tries++) {
      const g = this.throttle
      if (!g) return send()
      try {
        const answer = await g.working(send)
        g.noteSuccess()
        return answer
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'THROTTLED') throw err
        const wait = g.delayFor(err.retryAfter === undefined ? undefined : err.retryAfter * 1000, tries)
        if (!(await g.pause(wait))) throw err
      }
    }
  }

  /** Zones of a database, deleted ones skipped. icloudpd sends this call without a query string. */
  async zonesList(scope: Scope): Promise<ZoneRef[]> {
    const json = await this.post(scope, 'zones/list', {}, false)
    const zones = Array.isArray(json.zones) ? (json.zones as Array<Record<string, unknown>>) : []
    return zones.filter((z) => z && z.deleted !== true).flatMap((z) => toZoneRef(z.zoneID) ?? [])
  }

  /** A raw `records/query`. */
  async query(scope: Scope, body: Record<string, unknown>): Promise<QueryPage> {
    const json = await this.post(scope, 'records/query', body)
    return {
      records: Array.isArray(json.records) ? (json.records as CkRecord[]) : [],
      syncToken: typeof json.syncToken === 'string' ? json.syncToken : undefined,
      continuationMarker: typeof json.continuationMarker === 'string' ? json.continuationMarker : undefined,
    }
  }

  /** One page of a collection, newest first, starting at `startRank` (§8.3). */
  listPage(
    scope: Scope,
    zone: ZoneRef,
    c: Collection,
    startRank: number,
    pageSize: number,
  ): Promise<QueryPage> {
    const q = collectionQuery(c)
    const filterBy: unknown[] = [
      { fieldName: 'startRank', comparator: 'EQUALS', fieldValue: { type: 'INT64', value: startRank } },
      { fieldName: 'direction', comparator: 'EQUALS', fieldValue: { type: 'STRING', value: 'ASCENDING' } },
    ]
    if (q.filter) {
      filterBy.push({
        fieldName: q.filter.fieldName,
        comparator: 'EQUALS',
        fieldValue: { type: 'STRING', value: q.filter.value },
      })
    }
    return this.query(scope, {
      query: { recordType: q.listType, filterBy },
      resultsLimit: pageSize * recordsPerAsset(c),
      desiredKeys: DESIRED_KEYS,
      zoneID: zoneIdBody(zone),
    })
  }

  /** `CheckIndexingState` (icloudpd, once per library). */
  async indexingState(scope: Scope, zone: ZoneRef): Promise<{ state: string; progress?: number }> {
    const page = await this.query(scope, {
      query: { recordType: 'CheckIndexingState' },
      zoneID: zoneIdBody(zone),
    })
    const fields = page.records[0]?.fields ?? {}
    const state = fields.state?.value
    const progress = fields.progress?.value
    return {
      state: typeof state === 'string' ? state : 'UNKNOWN',
      progress: typeof progress === 'number' ? progress : undefined,
    }
  }

  async checkIndexing(scope: Scope, zone: ZoneRef): Promise<void> {
    const s = await this.indexingState(scope, zone)
    if (s.state !== 'FINISHED') {
      throw new AppError(
        'INDEXING_NOT_FINISHED',
        `Apple iCloud Photo Library has not finished indexing yet${s.progress === undefined ? '' : ` (${s.progress}%)`}.`,
        'This happens after large uploads or a fresh iCloud Photos setup; the next scheduled run will try again.',
      )
    }
  }

  /** Albums of a private library: root folders and deleted albums skipped (§8.4). */
  async albums(scope: Scope, zone: ZoneRef): Promise<AlbumInfo[]> {
    const page = await this.query(scope, {
      query: { recordType: 'CPLAlbumByPositionLive' },
      zoneID: zoneIdBody(zone),
    })
    const out: AlbumInfo[] = []
    for (const r of page.records) {
      if (!r || typeof r.recordName !== 'string' || ROOT_FOLDERS.has(r.recordName)) continue
      const f = r.fields ?? {}
      if (f.isDeleted?.value === 1 || f.isDeleted?.value === true) continue
      const enc = f.albumNameEnc?.value
      if (typeof enc !== 'string') continue
      out.push({ id: r.recordName, name: Buffer.from(enc, 'base64').toString('utf8') })
    }
    return out
  }

  /** Number of assets in a collection (`internal/records/query/batch`, §8.2). */
  async count(scope: Scope, zone: ZoneRef, c: Collection): Promise<number> {
    const q = collectionQuery(c)
    const json = await this.post(scope, 'internal/records/query/batch', {
      batch: [
        {
          resultsLimit: 1,
          zoneWide: true,
          zoneID: zoneIdBody(zone),
          query: {
            recordType: 'HyperionIndexCountLookup',
            filterBy: {
              fieldName: 'indexCountID',
              comparator: 'IN',
              fieldValue: { type: 'STRING_LIST', value: [q.countId] },
            },
          },
        },
      ],
    })
    const batch = Array.isArray(json.batch) ? (json.batch as Array<{ records?: CkRecord[] }>) : []
    const n = batch[0]?.records?.[0]?.fields?.itemCount?.value
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw protocolError('the asset count has an unexpected shape')
    }
    return n
  }

  /**
   * `records/lookup` (docs/protocol.md): records of one zone by name, in batches of LOOKUP_BATCH.
   * A name Apple does not answer for at all counts as an error for that record.
   */
  async lookup(scope: Scope, zone: ZoneRef, recordNames: readonly string[]): Promise<LookupResult> {
    const out: LookupResult = { records: [], errors: new Map() }
    for (let i = 0; i < recordNames.length; i += LOOKUP_BATCH) {
      const batch = recordNames.slice(i, i + LOOKUP_BATCH)
      const json = await this.post(scope, 'records/lookup', {
        records: batch.map((recordName) => ({ recordName })),
        zoneID: zoneIdBody(zone),
        desiredKeys: DESIRED_KEYS,
      })
      if (!Array.isArray(json.records)) throw protocolError('records/lookup returned no records list')
      const answered = new Set<string>()
      for (const r of json.records as Array<Record<string, unknown> | null>) {
        const name = r?.recordName
        if (!r || typeof name !== 'string') continue
        answered.add(name)
        if (typeof r.serverErrorCode === 'string') {
          out.errors.set(name, {
            serverErrorCode: r.serverErrorCode,
            reason: typeof r.reason === 'string' ? r.reason : '',
          })
        } else if (r.deleted === true) {
          out.errors.set(name, { serverErrorCode: 'NOT_FOUND', reason: 'deleted' })
        } else out.records.push(r as unknown as CkRecord)
      }
      for (const name of batch) {
        if (!answered.has(name))
          out.errors.set(name, { serverErrorCode: 'MISSING', reason: 'not in the answer' })
      }
    }
    return out
  }

  // ---- records/modify (docs/protocol.md §8.7): kept apart from the listing code above ----------

  /**
   * Move one asset to Recently Deleted exactly as icloudpd's `delete_photo` does: an atomic
   * `records/modify` `update` of the CPLAsset setting `isDeleted` to 1, guarded by the
   * `recordChangeTag` the listing saw (CloudKit's optimistic lock). A record-level refusal comes
   * back as `rejected` (CONFLICT when the asset changed since it was listed); a refusal of the
   * whole request (HTTP 409 CONFLICT, 404 NOT_FOUND…) is mapped the same way; throttling, session
   * and network errors are thrown as for every other call.
   */
  async markDeleted(
    scope: Scope,
    zone: ZoneRef,
    asset: { recordName: string; recordChangeTag: string },
  ): Promise<MarkDeletedResult> {
    const body = {
      atomic: true,
      desiredKeys: ['isDeleted'],
      operations: [
        {
          operationType: 'update',
          record: {
            fields: { isDeleted: { value: 1 } },
            recordChangeTag: asset.recordChangeTag,
            recordName: asset.recordName,
            recordType: 'CPLAsset',
          },
        },
      ],
      zoneID: zoneIdBody(zone),
    }
    let json: Record<string, unknown>
    try {
      json = await this.post(scope, 'records/modify', body, true, 'application/json')
    } catch (err) {
      if (err instanceof CloudKitError && err.serverErrorCode && err.status >= 400 && err.status < 500) {
        return { status: 'rejected', serverErrorCode: err.serverErrorCode, reason: '' }
      }
      throw err
    }
    const rec = (Array.isArray(json.records) ? json.records[0] : undefined) as
      Record<string, unknown> | undefined
    if (!rec || typeof rec !== 'object') throw protocolError('records/modify returned no record')
    if (typeof rec.serverErrorCode === 'string') {
      return {
        status: 'rejected',
        serverErrorCode: rec.serverErrorCode,
        reason: typeof rec.reason === 'string' ? rec.reason : '',
      }
    }
    const fields = rec.fields as Record<string, { value?: unknown } | undefined> | undefined
    const v = fields?.isDeleted?.value
    if (v !== 1 && v !== true) throw protocolError('records/modify did not confirm isDeleted')
    return {
      status: 'deleted',
      recordChangeTag: typeof rec.recordChangeTag === 'string' ? rec.recordChangeTag : undefined,
    }
  }

  /** `changes/database`: which zones changed since `syncToken` (all zones when omitted). */
  async changesDatabase(scope: Scope, syncToken?: string): Promise<DatabaseChanges> {
    const json = await this.post(scope, 'changes/database', syncToken === undefined ? {} : { syncToken })
    if (typeof json.syncToken !== 'string') throw protocolError('changes/database returned no sync token')
    // No `zones` is not "nothing changed" (`"zones":[]` is): reading it so would skip every change.
    if (!Array.isArray(json.zones)) throw protocolError('changes/database returned no zones')
    const zones = json.zones as Array<Record<string, unknown>>
    return {
      syncToken: json.syncToken,
      moreComing: json.moreComing === true,
      zones: zones.flatMap((z) => {
        const zone = toZoneRef(z?.zoneID)
        return zone ? [{ zone, syncToken: typeof z.syncToken === 'string' ? z.syncToken : undefined }] : []
      }),
    }
  }

  /** One page of `changes/zone` for one zone (§8.6). Zone errors come back in `error`, not thrown. */
  async changesZone(
    scope: Scope,
    zone: ZoneRef,
    syncToken: string | undefined,
    resultsLimit = 200,
  ): Promise<ZoneChanges> {
    const entry: Record<string, unknown> = { zoneID: zoneIdBody(zone), resultsLimit }
    if (syncToken !== undefined) entry.syncToken = syncToken
    const json = await this.post(scope, 'changes/zone', { zones: [entry] })
    const z = (Array.isArray(json.zones) ? json.zones[0] : undefined) as Record<string, unknown> | undefined
    if (!z) throw protocolError('changes/zone returned no zone')
    if (typeof z.serverErrorCode === 'string') {
      return {
        zone,
        moreComing: false,
        records: [],
        error: { serverErrorCode: z.serverErrorCode, reason: typeof z.reason === 'string' ? z.reason : '' },
      }
    }
    return {
      zone: toZoneRef(z.zoneID) ?? zone,
      syncToken: typeof z.syncToken === 'string' ? z.syncToken : undefined,
      moreComing: z.moreComing === true,
      records: Array.isArray(z.records) ? (z.records as CkRecord[]) : [],
    }
  }
}

function zoneIdBody(zone: ZoneRef): Record<string, string> {
  const z: Record<string, string> = { zoneName: zone.zoneName }
  if (zone.ownerRecordName) z.ownerRecordName = zone.ownerRecordName
  if (zone.zoneType) z.zoneType = zone.zoneType
  return z
}

function toZoneRef(v: unknown): ZoneRef | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const { zoneName, ownerRecordName, zoneType } = v as Record<string, unknown>
  if (typeof zoneName !== 'string' || zoneName === '') return undefined
  const z: ZoneRef = { zoneName }
  if (typeof ownerRecordName === 'string') z.ownerRecordName = ownerRecordName
  if (typeof zoneType === 'string') z.zoneType = zoneType
  return z
}

function protocolError(what: string): AppError {
  return new AppError(
    'PROTOCOL_ERROR',
    `iCloud Photos answered in an unexpected way: ${what}.`,
    'This is usually temporary; if it persists, Apple may have changed the protocol — please report it.',
  )
}

/** §5.4, in order: 503; known CloudKit error bodies (keyed on the JSON); session statuses; the rest. */
async function readAnswer(res: HttpResponse, op: string): Promise<Record<string, unknown>> {
  if (res.status === 503 || res.status === 429) {
    res.body.resume()
    const ra = parseRetryAfter(res.header('retry-after'))
    throw new AppError(
      'THROTTLED',
      `Apple iCloud is temporarily refusing to serve requests (HTTP ${res.status} on ${op}).`,
      'Apple throttles clients that retry too often: let the next scheduled run try again; do not rerun in a loop.',
      { retryAfter: ra ? ra / 1000 : undefined },
    )
  }
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  const obj =
    json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : undefined
  const ok = res.status >= 200 && res.status <= 299
  const code = obj
    ? (str(obj.serverErrorCode) ?? str(obj.errorCode) ?? (obj.success ? undefined : str(obj.error)))
    : undefined
  const reason = obj ? (str(obj.reason) ?? str(obj.errorMessage) ?? str(obj.errorReason) ?? '') : ''
  const isError = obj !== undefined && obj.success !== true && (code !== undefined || (!ok && reason !== ''))

  if (isError) {
    const mapped = mapCloudKitError(code ?? '', reason, op)
    if (mapped) throw mapped
  }
  if (res.status === 401 || res.status === 421 || res.status === 450 || res.status === 500) {
    throw new AppError(
      'SESSION_INVALID',
      `iCloud rejected the session (HTTP ${res.status} on ${op}).`,
      'Authentication required for Account: the session has to be renewed (sign in again).',
    )
  }
  if (isError || !ok) {
    throw new CloudKitError(
      `iCloud Photos refused ${op} (HTTP ${res.status}${code ? `, ${code}` : ''}).`,
      code,
      res.status,
    )
  }
  if (!obj) throw protocolError(`${op} did not return a JSON object`)
  return obj
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

function mapCloudKitError(code: string, reason: string, op: string): AppError | undefined {
  if (/Missing X-APPLE-WEBAUTH-TOKEN cookie/i.test(reason)) {
    return new AppError(
      'MFA_REQUIRED',
      `iCloud Photos needs a two-factor-trusted session (${op}: missing web auth token).`,
      'Renew the session on your computer (`icloud-photos-action login`, then `session export`) and update the ICLOUD_SESSION secret.',
    )
  }
  switch (code) {
    case 'ACCESS_DENIED':
      return new AppError(
        'ADP_OR_WEB_ACCESS_DISABLED',
        `iCloud Photos refused access (${op}: ACCESS_DENIED${reason ? `, "${reason.slice(0, 120)}"` : ''}).`,
        'This nearly always means Advanced Data Protection is on or "Access iCloud Data on the Web" is off. ' +
          'On your iPhone: Settings → [your name] → iCloud → turn on "Access iCloud Data on the Web" (ADP must be off). ' +
          'If both are fine, Apple may be throttling: wait a few minutes and try again.',
      )
    case 'ZONE_NOT_FOUND':
    case 'AUTHENTICATION_FAILED':
      return new AppError(
        'ICLOUD_SETUP_INCOMPLETE',
        `Apple iCloud setup is not complete (${op}: ${code}).`,
        'Please log into https://icloud.com/ once to finish setting up iCloud Photos, then run again.',
      )
    case 'THROTTLED':
    case 'REQUEST_RATE_LIMITED':
      return new AppError(
        'THROTTLED',
        `Apple iCloud is throttling requests (${op}: ${code}).`,
        'Let the next scheduled run try again; do not rerun in a loop.',
      )
    default:
      return undefined
  }
}
