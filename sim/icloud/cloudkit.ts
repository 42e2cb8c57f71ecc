/**
 * Fake CloudKit photos database and content host (docs/protocol.md §8, §9, §11 items 6–7), mountable on any
 * FakeServer: the auth fake mounts it beside idmsa/setup, tests can also run it standalone.
 *
 * Endpoints are logged as `ck:zones/list`, `ck:records/query`, `ck:records/query/batch`,
 * `ck:records/lookup`, `ck:records/modify`, `ck:changes/database`, `ck:changes/zone` and `content:download`, and faults injected under those
 * names (`server.inject('ck:records/query', …)`) are honoured. Download-specific faults (reset
 * mid-body, truncation, wrong size, slow body, ignored Range) live on the library.
 */
import type http from 'node:http'
import { FakeServer, parseJsonBody, sendJson, sleep, type Fault, type FakeRequest } from './core.js'
import { FakeLibrary, type FakeZone, type ResKey } from './library.js'

export interface MountCloudKitOptions {
  /** Where `ckdatabasews.url` points (default `/ckdatabasews`). */
  prefix?: string
  /** Path of the content host serving downloads (default `/content`). */
  contentPrefix?: string
  /** The auth fake's cookie check; false → 401 as CloudKit answers unauthenticated calls. */
  requireAuth?: (req: FakeRequest) => boolean
}

export interface MountedCloudKit {
  library: FakeLibrary
  /** `<server>/ckdatabasews`: the value for `webservices.ckdatabasews.url`. */
  databaseUrl: string
  contentUrl: string
}

const CONTAINER = 'com.apple.photos.cloud'

/** A CloudKit error body as a fault, e.g. `ckError('ACCESS_DENIED', 'private db access disabled for this account')`. */
export function ckError(serverErrorCode: string, reason: string, status = 403, times = 1): Fault {
  return {
    status,
    times,
    body: JSON.stringify({ uuid: 'c0ffee00-0000-4000-8000-000000000000', serverErrorCode, reason }),
  }
}

/** How a change feed can fail on real servers the client must survive (issue 15): see changeFeedFault. */
export type ChangeFeedFaultKind = '404' | '400' | '500' | 'no-zones'

/**
 * A fault for `ck:changes/database` or `ck:changes/zone`: a bare 404 (endpoint gone), a 400 with
 * CloudKit's BAD_REQUEST body, a 502-style 5xx without a JSON body, or a 200 whose body lacks
 * `zones` (for `changes/database` it still carries a syncToken, so only the missing field is wrong).
 * Inject with `server.inject(endpoint, changeFeedFault(endpoint, kind, times))`.
 */
export function changeFeedFault(
  endpoint: 'ck:changes/database' | 'ck:changes/zone',
  kind: ChangeFeedFaultKind,
  times = 1,
): Fault {
  switch (kind) {
    case '404':
      return { status: 404, times, headers: { 'content-type': 'text/html' }, body: '<html>Not Found</html>' }
    case '400':
      return ckError('BAD_REQUEST', 'Invalid request for this endpoint', 400, times)
    case '500':
      return {
        status: 502,
        times,
        headers: { 'content-type': 'text/html' },
        body: '<html>Bad Gateway</html>',
      }
    case 'no-zones':
      return {
        status: 200,
        times,
        body: JSON.stringify(
          endpoint === 'ck:changes/database'
            ? { syncToken: 'db-fault', moreComing: false }
            : { moreComing: false },
        ),
      }
  }
}

/** Map a list `recordType` (+ filter) to a library list key, or undefined for an unknown type. */
function listKeyFor(recordType: string, filters: Map<string, unknown>): string | undefined {
  switch (recordType) {
    case 'CPLAssetAndMasterByAssetDateWithoutHiddenOrDeleted':
    case 'CPLAssetAndMasterByAddedDate':
    case 'CPLAssetAndMasterByAssetDate':
      return 'all'
    case 'CPLAssetAndMasterHiddenByAssetDate':
      return 'hidden'
    case 'CPLAssetAndMasterDeletedByExpungedDate':
      return 'deleted'
    case 'CPLBurstStackAssetAndMasterByAssetDate':
      return 'burst'
    case 'CPLAssetAndMasterInSmartAlbumByAssetDate':
      return `smart:${String(filters.get('smartAlbum') ?? '')}`
    case 'CPLContainerRelationLiveByAssetDate':
      return `album:${String(filters.get('parentId') ?? '')}`
    default:
      return undefined
  }
}

/** Map a count `indexCountID` to a list key. */
function countKeyFor(id: string): string | undefined {
  if (id === 'CPLAssetByAssetDateWithoutHiddenOrDeleted' || id === 'CPLAssetByAddedDate') return 'all'
  if (id === 'CPLAssetHiddenByAssetDate') return 'hidden'
  if (id === 'CPLAssetDeletedByExpungedDate') return 'deleted'
  if (id === 'CPLAssetBurstStackAssetByAssetDate') return 'burst'
  const smart = /^CPLAssetInSmartAlbumByAssetDate:(\w+)$/.exec(id)
  if (smart) return `smart:${smart[1]!.toUpperCase()}`
  const album = /^CPLContainerRelationNotDeletedByAssetDate:(.+)$/.exec(id)
  if (album) return `album:${album[1]}`
  return undefined
}

interface Filter {
  fieldName?: string
  fieldValue?: { value?: unknown }
}

function filtersOf(query: { filterBy?: Filter | Filter[] } | undefined): Map<string, unknown> {
  const list =
    query?.filterBy === undefined ? [] : Array.isArray(query.filterBy) ? query.filterBy : [query.filterBy]
  return new Map(list.map((f) => [String(f.fieldName), f.fieldValue?.value]))
}

function isTrue(v: string | null): boolean {
  return v === 'True' || v === 'true'
}

export function mountCloudKit(
  server: FakeServer,
  library: FakeLibrary,
  o: MountCloudKitOptions = {},
): MountedCloudKit {
  const prefix = o.prefix ?? '/ckdatabasews'
  const contentPrefix = o.contentPrefix ?? '/content'
  const contentBase = (): string => server.url + contentPrefix

  const badRequest = (res: http.ServerResponse, reason: string): true =>
    sendJson(res, 400, { uuid: 'bad-request', serverErrorCode: 'BAD_REQUEST', reason })

  const zoneOr404 = (scope: string, zoneName: unknown, res: http.ServerResponse): FakeZone | undefined => {
    const zone = library.zones.find((z) => z.scope === scope && z.name === zoneName)
    if (!zone)
      sendJson(res, 404, { uuid: 'zone', serverErrorCode: 'ZONE_NOT_FOUND', reason: 'Zone does not exist' })
    return zone
  }

  server.mount('ck', prefix, async (req, res) => {
    const m = /^database\/1\/([^/]+)\/(production|development)\/(private|shared)\/(.+)$/.exec(req.rest)
    if (!m || m[1] !== CONTAINER || req.method !== 'POST') return false
    const scope = m[3] as 'private' | 'shared'
    const op = m[4]!
    const endpoint = op === 'internal/records/query/batch' ? 'records/query/batch' : op
    req.endpoint = endpoint
    const fault = server.takeFault(`ck:${endpoint}`)
    if (fault && (await server.applyFault(fault, null, res))) return true
    if (o.requireAuth && !o.requireAuth(req)) {
      return sendJson(res, 401, {
        uuid: 'auth',
        serverErrorCode: 'AUTHENTICATION_REQUIRED',
        reason: 'request needs authorization',
      })
    }
    let body: Record<string, unknown>
    try {
      body = (parseJsonBody(req) ?? {}) as Record<string, unknown>
    } catch {
      return badRequest(res, 'Could not parse the request body')
    }
    const withToken = isTrue(req.url.searchParams.get('getCurrentSyncToken'))
    const now = server.clock.now()

    switch (endpoint) {
      case 'zones/list': {
        const zones = library.zones
          .filter((z) => z.scope === scope)
          .map((z) => ({ zoneID: library.zoneID(z) }))
        // A deleted shared zone is listed first, so "the first shared zone" must skip it.
        const deleted =
          scope === 'shared'
            ? [{ zoneID: { zoneName: 'SharedSync-00000000-DEAD-4000-8000-000000000000' }, deleted: true }]
            : []
        return sendJson(res, 200, {
          moreComing: false,
          syncToken: library.dbToken(scope),
          zones: [...deleted, ...zones],
        })
      }

      case 'records/query': {
        const query = body.query as { recordType?: string; filterBy?: Filter | Filter[] } | undefined
        const zone = zoneOr404(scope, (body.zoneID as { zoneName?: string } | undefined)?.zoneName, res)
        if (!zone) return true
        const recordType = String(query?.recordType ?? '')
        const tokenField = withToken ? { syncToken: library.zoneToken(zone) } : {}
        if (recordType === 'CheckIndexingState') {
          return sendJson(res, 200, {
            records: [
              {
                recordName: '_2d6d9a4c-0f5c-4f5a-9c38-indexingstate',
                recordType: 'CheckIndexingState',
                fields: {
                  progress: { value: library.indexingProgress, type: 'INT64' },
                  state: { value: library.indexingState, type: 'STRING' },
                },
                recordChangeTag: '0',
              },
            ],
            ...tokenField,
          })
        }
        if (recordType === 'CPLAlbumByPositionLive') {
          // User albums live in the personal library's zone.
          const records =
            zone === library.privateZone ? library.albums.map((a) => library.albumRecord(a, zone)) : []
          return sendJson(res, 200, { records, ...tokenField })
        }
        const filters = filtersOf(query)
        const key = listKeyFor(recordType, filters)
        if (key === undefined) return badRequest(res, `Unknown record type ${recordType}`)
        const indices = library.list(zone, key)
        const album = key.startsWith('album:')
        const limit = Math.max(1, Number(body.resultsLimit ?? 200))
        const perAsset = album ? 3 : 2
        const perPage = Math.max(1, Math.floor(limit / perAsset))
        const startRank = Math.max(0, Number(filters.get('startRank') ?? 0))
        // Phantom ranks (runs of deleted records) come back as empty pages (§8.3, kei's probing).
        let from = startRank
        let to = startRank + perPage
        if (key === 'all' && zone === library.privateZone) {
          for (const gap of [...library.emptyPages].sort((a, b) => a.atRank - b.atRank)) {
            const len = gap.pages * perPage
            if (from >= gap.atRank + len) {
              from -= len
              to -= len
            } else if (from >= gap.atRank) {
              from = to = 0
            } else if (to > gap.atRank) to = gap.atRank
          }
        }
        const masters: unknown[] = []
        const assets: unknown[] = []
        const relations: unknown[] = []
        for (let r = from; r < Math.min(to, indices.length); r++) {
          const a = library.describe(zone, indices[r]!)
          masters.push(library.masterRecord(zone, a, contentBase(), now))
          assets.push(library.assetRecord(zone, a, contentBase(), now))
          if (album) relations.push(library.relationRecord(zone, a, key.slice(6)))
        }
        const more = to < indices.length && masters.length > 0
        return sendJson(res, 200, {
          records: [...masters, ...assets, ...relations],
          ...tokenField,
          ...(more ? { continuationMarker: Buffer.from(`rank:${to}`).toString('base64') } : {}),
        })
      }

      case 'records/query/batch': {
        const batch = Array.isArray(body.batch) ? (body.batch as Array<Record<string, unknown>>) : []
        const out = []
        for (const item of batch) {
          const zone = zoneOr404(scope, (item.zoneID as { zoneName?: string } | undefined)?.zoneName, res)
          if (!zone) return true
          const query = item.query as { filterBy?: Filter | Filter[] } | undefined
          const ids = filtersOf(query).get('indexCountID')
          const records = (Array.isArray(ids) ? ids : [ids]).map((id) => {
            const key = countKeyFor(String(id))
            const n = key === undefined ? 0 : library.list(zone, key).length
            return {
              recordName: String(id),
              recordType: 'IndexCountResult',
              fields: { itemCount: { value: n, type: 'INT64' } },
              recordChangeTag: '0',
            }
          })
          out.push({ records })
        }
        return sendJson(res, 200, { batch: out })
      }

      case 'records/lookup': {
        // CloudKit Web Services "Fetching Records by Record Name": one answer per name, a record or
        // `{recordName, reason, serverErrorCode}` (NOT_FOUND for unknown or hard-deleted records).
        const zone = zoneOr404(scope, (body.zoneID as { zoneName?: string } | undefined)?.zoneName, res)
        if (!zone) return true
        const wanted = body.records
        if (!Array.isArray(wanted) || wanted.length === 0) return badRequest(res, 'records is required')
        if (wanted.length > 200) return badRequest(res, 'too many records in one lookup (max 200)')
        const records = (wanted as Array<{ recordName?: unknown } | null>).map((w) => {
          const name = w?.recordName
          if (typeof name !== 'string')
            return { serverErrorCode: 'BAD_REQUEST', reason: 'recordName missing' }
          const notFound = { recordName: name, reason: 'Record not found', serverErrorCode: 'NOT_FOUND' }
          const master = library.locateMaster(name)
          const asset = master ? undefined : library.locate(name)
          const hit = master ?? asset
          if (!hit || hit.zone !== zone) return notFound
          const a = library.describe(zone, hit.index)
          if (a.expunged) return notFound
          return master
            ? library.masterRecord(zone, a, contentBase(), now)
            : library.assetRecord(zone, a, contentBase(), now)
        })
        library.lookups.push(...records.map((r) => String(r.recordName)))
        return sendJson(res, 200, { records })
      }

      case 'records/modify': {
        // CloudKit Web Services "Modifying Records": one answer per operation, the saved record or
        // `{recordName, reason, serverErrorCode}`; with `atomic`, one refusal refuses them all
        // (the others get ATOMIC_ERROR) and nothing is applied.
        const zone = zoneOr404(scope, (body.zoneID as { zoneName?: string } | undefined)?.zoneName, res)
        if (!zone) return true
        const ops = body.operations
        if (!Array.isArray(ops) || ops.length === 0) return badRequest(res, 'operations is required')
        if (ops.length > 200) return badRequest(res, 'too many operations in one request (max 200)')
        const checked = ops.map((op) => library.checkModify(zone, op))
        const refused = checked.some((c) => 'error' in c)
        const records = checked.map((c, k) => {
          if ('error' in c) return c.error
          if (refused && body.atomic === true) {
            const name = (ops[k] as { record?: { recordName?: unknown } }).record?.recordName
            return { recordName: name, serverErrorCode: 'ATOMIC_ERROR', reason: 'atomic batch refused' }
          }
          return c.apply()
        })
        const contentType = req.headers['content-type']
        ops.forEach((op, k) => {
          const rec = (op as { record?: { recordName?: unknown; recordChangeTag?: unknown } }).record
          const r = records[k] as { serverErrorCode?: string }
          library.modifications.push({
            recordName: String(rec?.recordName),
            recordChangeTag: typeof rec?.recordChangeTag === 'string' ? rec.recordChangeTag : undefined,
            contentType,
            outcome: r.serverErrorCode ?? 'ok',
          })
        })
        return sendJson(res, 200, { records })
      }

      case 'changes/database': {
        const token = body.syncToken
        let zones: FakeZone[] | undefined
        if (token === undefined || token === null) zones = library.zones.filter((z) => z.scope === scope)
        else zones = library.zonesChangedSince(scope, String(token))
        if (!zones) return badRequest(res, 'Unknown sync continuation type')
        return sendJson(res, 200, {
          syncToken: library.dbToken(scope),
          moreComing: false,
          zones: zones.map((z) => ({ zoneID: library.zoneID(z), syncToken: library.zoneToken(z) })),
        })
      }

      case 'changes/zone': {
        const reqZones = Array.isArray(body.zones) ? (body.zones as Array<Record<string, unknown>>) : []
        const out = reqZones.map((rz) => {
          const zoneID = rz.zoneID as { zoneName?: string } | undefined
          const zone = library.zones.find((z) => z.scope === scope && z.name === zoneID?.zoneName)
          if (!zone) return { zoneID, serverErrorCode: 'ZONE_NOT_FOUND', reason: 'Zone does not exist' }
          const token = rz.syncToken
          let seq: number | undefined
          if (token === undefined || token === null)
            seq = 0 // no token: the full history
          else if (token === '')
            seq = zone.seq // empty token: nothing
          else seq = library.parseZoneToken(zone, String(token))
          if (seq === undefined) {
            return {
              zoneID: library.zoneID(zone),
              serverErrorCode: 'BAD_REQUEST',
              reason: 'Unknown sync continuation type',
            }
          }
          const limit = Math.max(1, Number(rz.resultsLimit ?? 200))
          const end = Math.min(zone.seq, seq + limit)
          const records: unknown[] = []
          const seen = new Set<string>()
          for (let p = seq; p < end; p++) {
            const e = zone.entryAt(p)
            const dedupe = `${e.rec}:${e.index}`
            if (seen.has(dedupe)) continue
            seen.add(dedupe)
            const a = library.describe(zone, e.index)
            records.push(
              e.rec === 'master'
                ? library.masterRecord(zone, a, contentBase(), now)
                : library.assetRecord(zone, a, contentBase(), now),
            )
          }
          return {
            zoneID: library.zoneID(zone),
            syncToken: library.zoneToken(zone, end),
            moreComing: end < zone.seq,
            records,
          }
        })
        return sendJson(res, 200, { zones: out })
      }

      default:
        return false
    }
  })

  server.mount('content', contentPrefix, async (req, res) => {
    req.endpoint = 'download'
    const fault = server.takeFault('content:download')
    if (fault && (await server.applyFault(fault, null, res))) return true
    const m = /^B\/([A-Za-z0-9_-]+)\/(.+)$/.exec(req.rest)
    if (req.method !== 'GET' || !m) return false
    // `${f}` verbatim or percent-encoded (Python requests sends `$%7Bf%7D`, WHATWG URL does too).
    if (decodeURIComponent(m[2]!) !== '${f}') return false
    const [zi, ii, key] = Buffer.from(m[1]!, 'base64url').toString('utf8').split('.')
    const zone = library.zones[Number(zi)]
    const index = Number(ii)
    if (!zone || !Number.isInteger(index) || index < 0 || index >= zone.count) return false
    const asset = library.describe(zone, index)
    const resource = asset.resources.find((r) => r.key === key)
    if (!resource || asset.expunged) return false
    const rangeHeader = /^bytes=(\d+)-/.exec(String(req.headers.range ?? ''))
    const logEntry = {
      assetId: asset.id,
      res: key as ResKey,
      rangeStart: rangeHeader ? Number(rangeHeader[1]) : undefined,
      status: 0,
      at: server.clock.now(),
    }
    library.downloadLog.push(logEntry)
    res.on('finish', () => (logEntry.status = res.statusCode))
    res.on('close', () => (logEntry.status ||= res.statusCode))
    // Signed URLs expire (`e=` seconds, against the virtual clock); Apple's status is unrecorded (§9).
    const e = Number(req.url.searchParams.get('e'))
    if (!Number.isFinite(e) || e * 1000 < server.clock.now()) {
      res.writeHead(410, { 'content-type': 'text/plain' })
      res.end('Gone')
      return true
    }
    let data = library.bytes(zone, index, key as ResKey)
    const df = library.takeDownloadFault(asset.id, key as ResKey)
    if (df?.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'text/plain' }
      if (df.retryAfter !== undefined) headers['retry-after'] = String(df.retryAfter)
      res.writeHead(df.status ?? 503, headers)
      res.end('Service Unavailable')
      return true
    }
    if (df?.kind === 'wrong-size') {
      const delta = df.delta ?? 7
      data =
        delta >= 0 ? Buffer.concat([data, Buffer.alloc(delta, 0x5a)]) : data.subarray(0, data.length + delta)
    }
    const total = data.length
    let status = 200
    const headers: Record<string, string> = {
      'content-type': contentType(resource.fileType),
      'accept-ranges': 'bytes',
      'cache-control': 'private, max-age=0',
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''))
    if (range && df?.kind !== 'ignore-range') {
      const start = Number(range[1])
      const end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1
      if (start >= total || end < start) {
        res.writeHead(416, { 'content-range': `bytes */${total}` })
        res.end()
        return true
      }
      data = data.subarray(start, end + 1)
      status = 206
      headers['content-range'] = `bytes ${start}-${end}/${total}`
    }
    if (df?.kind === 'truncate') {
      // Chunked, so the short body ends cleanly: only a size check can notice.
      res.writeHead(status, headers)
      res.end(data.subarray(0, Math.min(df.afterBytes ?? Math.floor(data.length / 2), data.length)))
      return true
    }
    if (!df?.hideLength) headers['content-length'] = String(data.length)
    res.writeHead(status, headers)
    if (df?.kind === 'reset') {
      const n = Math.min(df.afterBytes ?? Math.floor(data.length / 2), data.length - 1)
      res.write(data.subarray(0, n))
      await sleep(10)
      res.socket?.destroy()
      return true
    }
    if (df?.kind === 'slow') {
      const chunk = Math.max(1, df.chunkBytes ?? 256)
      for (let k = 0; k < data.length; k += chunk) {
        if (res.destroyed) return true
        res.write(data.subarray(k, k + chunk))
        await sleep(df.delayMs ?? 50)
      }
      res.end()
      return true
    }
    res.end(data)
    return true
  })

  return {
    library,
    get databaseUrl() {
      return server.url + prefix
    },
    get contentUrl() {
      return server.url + contentPrefix
    },
  }
}

function contentType(uti: string): string {
  if (uti === 'public.jpeg') return 'image/jpeg'
  if (uti === 'public.png') return 'image/png'
  if (uti === 'public.heic') return 'image/heic'
  if (uti === 'com.apple.quicktime-movie') return 'video/quicktime'
  return 'application/octet-stream'
}

/** Standalone fake: a FakeServer with only CloudKit and the content host (photos tests, bench). */
export async function startFakeCloudKit(
  library: FakeLibrary = new FakeLibrary(),
  o: MountCloudKitOptions = {},
): Promise<{ server: FakeServer; library: FakeLibrary; databaseUrl: string; close(): Promise<void> }> {
  const server = new FakeServer()
  const mounted = mountCloudKit(server, library, o)
  await server.start()
  return { server, library, databaseUrl: mounted.databaseUrl, close: () => server.close() }
}
