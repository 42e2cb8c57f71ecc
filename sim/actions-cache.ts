/**
 * A fake of the GitHub Actions cache service v2 that the real `@actions/cache` 6 talks to:
 *
 * - Twirp JSON under `ACTIONS_RESULTS_URL`: `/twirp/github.actions.results.api.v1.CacheService/`
 *   `CreateCacheEntry`, `FinalizeCacheEntryUpload`, `GetCacheEntryDownloadURL` (proto field names,
 *   Bearer `ACTIONS_RUNTIME_TOKEN`, errors as `{code, msg}` with the Twirp HTTP status).
 * - The signed blob URLs it hands out, path-style like Azurite (`/<account>/<container>/<blob>?sig=…`)
 *   because the library uploads with the Azure storage SDK: a single `PUT` with
 *   `x-ms-blob-type: BlockBlob` for archives up to 128 MiB, `comp=block` / `comp=blocklist` above.
 *   Downloads are plain `GET`s through @actions/http-client (the URL is not `*.blob.core.windows.net`),
 *   answered with Content-Length; `Range` and `HEAD` are served too.
 *
 * Behaviour of the real service that tests rely on: entries are immutable (CreateCacheEntry on an
 * existing key and version → 409 `already_exists`, as github.com answers); only finalized entries
 * are found; lookup is by version, then the exact key, then a prefix match of the key and of each
 * restore key in order, newest entry first; a miss is `{"ok": false}` with status 200.
 *
 * @actions/cache reads its environment on every call (config.ts, cacheUtils.ts), so a test may set
 * `env` into process.env just before calling it; nothing needs to be set before import.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import type http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeServer, type FakeRequest, type LoggedRequest } from './icloud/core.js'

const TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.CacheService'
const ACCOUNT = 'fakecacheaccount'
const CONTAINER = 'actions-cache'

export interface FakeCacheEntry {
  id: number
  key: string
  version: string
  sizeBytes: number
  /** The archive exactly as uploaded (a tar compressed with zstd or gzip). */
  data: Buffer
  /** Creation order; larger is newer. */
  createdSeq: number
}

interface Reservation {
  id: number
  key: string
  version: string
  createdSeq: number
  uploadSig: string
  downloadSigs: Set<string>
  blocks: Map<string, Buffer>
  data?: Buffer
  finalized: boolean
  sizeBytes: number
}

export interface FakeActionsCache {
  /** Base URL (ACTIONS_RESULTS_URL without the trailing slash). */
  url: string
  /** What to put in process.env (or a child's env) so @actions/cache uses this service. */
  env: Record<string, string>
  /** The underlying server: request log, fault injection (`twirp:CreateCacheEntry`, …). */
  server: FakeServer
  /** Finalized entries, oldest first (copies). */
  entries(): FakeCacheEntry[]
  /** Every request, in order. */
  requests(): LoggedRequest[]
  /** Number of blob upload requests (single PUTs and staged blocks). */
  uploadCount(): number
  /** Replace an entry's stored archive (simulates storage corruption). */
  replaceData(key: string, data: Buffer): void
  close(): Promise<void>
}

function twirpError(res: http.ServerResponse, status: number, code: string, msg: string): true {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ code, msg }))
  return true
}

function twirpOk(res: http.ServerResponse, body: Record<string, unknown>): true {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
  return true
}

function storageError(res: http.ServerResponse, status: number, code: string, message: string): true {
  res.writeHead(status, { 'content-type': 'application/xml', 'x-ms-error-code': code })
  res.end(
    `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  )
  return true
}

function storageHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'x-ms-request-id': randomBytes(8).toString('hex'),
    'x-ms-version': '2025-01-05',
    date: new Date().toUTCString(),
    ...extra,
  }
}

export async function startFakeActionsCache(opts: { runnerTemp?: string } = {}): Promise<FakeActionsCache> {
  const server = await new FakeServer().start()
  const token = `fake-runtime-token-${randomBytes(12).toString('hex')}`
  const ownTemp = opts.runnerTemp ? undefined : await mkdtemp(join(tmpdir(), 'fake-actions-cache-'))
  const reservations: Reservation[] = []
  let nextId = 1
  let seq = 0
  let uploads = 0

  const blobUrl = (r: Reservation, sig: string): string =>
    `${server.url}/${ACCOUNT}/${CONTAINER}/${r.id}-cache.tzst?sv=2025-01-05&sr=b&sp=${
      sig === r.uploadSig ? 'cw' : 'r'
    }&sig=${encodeURIComponent(sig)}`

  const findForRestore = (key: string, restoreKeys: string[], version: string): Reservation | undefined => {
    const candidates = reservations
      .filter((r) => r.finalized && r.version === version)
      .sort((a, b) => b.createdSeq - a.createdSeq)
    const exact = candidates.find((r) => r.key === key)
    if (exact) return exact
    for (const prefix of [key, ...restoreKeys]) {
      const hit = candidates.find((r) => r.key.startsWith(prefix))
      if (hit) return hit
    }
    return undefined
  }

  server.mount('twirp', TWIRP_PREFIX, (req, res) => {
    req.endpoint = req.rest
    if (req.method !== 'POST') return twirpError(res, 404, 'bad_route', `unsupported method ${req.method}`)
    if (req.headers.authorization !== `Bearer ${token}`) {
      return twirpError(res, 401, 'unauthenticated', 'invalid or missing runtime token')
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return twirpError(res, 404, 'bad_route', 'only the JSON protocol is served')
    }
    let body: Record<string, unknown>
    try {
      body = JSON.parse(req.body.toString('utf8') || '{}') as Record<string, unknown>
    } catch {
      return twirpError(res, 400, 'malformed', 'the request body is not JSON')
    }
    const key = typeof body.key === 'string' ? body.key : ''
    const version = typeof body.version === 'string' ? body.version : ''
    if (!key || !version) return twirpError(res, 400, 'invalid_argument', 'key and version are required')

    switch (req.rest) {
      case 'CreateCacheEntry': {
        if (reservations.some((r) => r.key === key && r.version === version)) {
          return twirpError(
            res,
            409,
            'already_exists',
            'cache entry with the same key, version, and scope already exists',
          )
        }
        const r: Reservation = {
          id: nextId++,
          key,
          version,
          createdSeq: ++seq,
          uploadSig: randomBytes(16).toString('base64'),
          downloadSigs: new Set(),
          blocks: new Map(),
          finalized: false,
          sizeBytes: 0,
        }
        reservations.push(r)
        return twirpOk(res, { ok: true, signed_upload_url: blobUrl(r, r.uploadSig) })
      }
      case 'FinalizeCacheEntryUpload': {
        const r = reservations.find((x) => x.key === key && x.version === version && !x.finalized)
        if (!r)
          return twirpError(res, 404, 'not_found', 'no cache entry reservation for this key and version')
        if (!r.data) return twirpOk(res, { ok: false, message: 'the cache entry was not uploaded' })
        if (String(body.size_bytes) !== String(r.data.length)) {
          return twirpOk(res, { ok: false, message: `size mismatch: uploaded ${r.data.length} bytes` })
        }
        r.finalized = true
        r.sizeBytes = r.data.length
        return twirpOk(res, { ok: true, entry_id: String(r.id) })
      }
      case 'GetCacheEntryDownloadURL': {
        const restoreKeys = Array.isArray(body.restore_keys)
          ? body.restore_keys.filter((k): k is string => typeof k === 'string')
          : []
        const r = findForRestore(key, restoreKeys, version)
        if (!r) return twirpOk(res, { ok: false })
        const sig = randomBytes(16).toString('base64')
        r.downloadSigs.add(sig)
        return twirpOk(res, { ok: true, signed_download_url: blobUrl(r, sig), matched_key: r.key })
      }
      default:
        return twirpError(res, 404, 'bad_route', `no handler for ${req.rest}`)
    }
  })

  server.mount('blob', `/${ACCOUNT}/${CONTAINER}`, (req: FakeRequest, res) => {
    const id = Number(/^(\d+)-/.exec(req.rest)?.[1])
    const r = reservations.find((x) => x.id === id)
    const sig = req.url.searchParams.get('sig') ?? ''
    if (!r) return storageError(res, 404, 'BlobNotFound', 'The specified blob does not exist.')
    const comp = req.url.searchParams.get('comp')

    if (req.method === 'PUT') {
      req.endpoint = comp ? `put-${comp}` : 'put'
      if (sig !== r.uploadSig || r.finalized) {
        return storageError(
          res,
          403,
          'AuthorizationFailure',
          'This request is not authorized to perform this operation.',
        )
      }
      const etag = `"0x${randomBytes(8).toString('hex').toUpperCase()}"`
      if (comp === 'block') {
        const blockId = req.url.searchParams.get('blockid')
        if (!blockId) return storageError(res, 400, 'InvalidQueryParameterValue', 'blockid is required')
        uploads++
        r.blocks.set(blockId, req.body)
        res.writeHead(201, storageHeaders({ 'x-ms-request-server-encrypted': 'true' }))
        res.end()
        return true
      }
      if (comp === 'blocklist') {
        const ids = [
          ...req.body.toString('utf8').matchAll(/<(?:Latest|Uncommitted|Committed)>([^<]*)</g),
        ].map((m) => m[1]!)
        const parts: Buffer[] = []
        for (const blockId of ids) {
          const part = r.blocks.get(blockId)
          if (!part) return storageError(res, 400, 'InvalidBlockList', 'The specified block list is invalid.')
          parts.push(part)
        }
        r.data = Buffer.concat(parts)
        r.blocks.clear()
        res.writeHead(201, storageHeaders({ etag, 'last-modified': new Date().toUTCString() }))
        res.end()
        return true
      }
      if (comp) return storageError(res, 400, 'InvalidQueryParameterValue', `unsupported comp=${comp}`)
      if (String(req.headers['x-ms-blob-type'] ?? '') !== 'BlockBlob') {
        return storageError(res, 400, 'MissingRequiredHeader', 'x-ms-blob-type must be BlockBlob')
      }
      uploads++
      r.data = req.body
      res.writeHead(
        201,
        storageHeaders({
          etag,
          'last-modified': new Date().toUTCString(),
          'x-ms-request-server-encrypted': 'true',
        }),
      )
      res.end()
      return true
    }

    if (req.method === 'GET' || req.method === 'HEAD') {
      req.endpoint = req.method === 'GET' ? 'download' : 'head'
      if (!r.downloadSigs.has(sig) || !r.finalized || !r.data) {
        return storageError(
          res,
          403,
          'AuthorizationFailure',
          'This request is not authorized to perform this operation.',
        )
      }
      const data = r.data
      const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''))
      let body = data
      let status = 200
      const headers = storageHeaders({
        'content-type': 'application/octet-stream',
        'accept-ranges': 'bytes',
        'x-ms-blob-type': 'BlockBlob',
      })
      if (range) {
        const start = Number(range[1])
        const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1
        if (start >= data.length || end < start) {
          res.writeHead(416, { 'content-range': `bytes */${data.length}` })
          res.end()
          return true
        }
        body = data.subarray(start, end + 1)
        status = 206
        headers['content-range'] = `bytes ${start}-${end}/${data.length}`
      }
      headers['content-length'] = String(body.length)
      res.writeHead(status, headers)
      res.end(req.method === 'GET' ? body : undefined)
      return true
    }
    return storageError(res, 405, 'UnsupportedHttpVerb', `unsupported verb ${req.method}`)
  })

  const env: Record<string, string> = {
    ACTIONS_CACHE_SERVICE_V2: 'True',
    ACTIONS_RESULTS_URL: `${server.url}/`,
    ACTIONS_RUNTIME_TOKEN: token,
    // v2 is only used off GHES; pin github.com in case the outer environment says otherwise.
    GITHUB_SERVER_URL: 'https://github.com',
    RUNNER_TEMP: opts.runnerTemp ?? ownTemp!,
  }

  return {
    url: server.url,
    env,
    server,
    entries: () =>
      reservations
        .filter((r) => r.finalized && r.data)
        .sort((a, b) => a.createdSeq - b.createdSeq)
        .map((r) => ({
          id: r.id,
          key: r.key,
          version: r.version,
          sizeBytes: r.sizeBytes,
          data: Buffer.from(r.data!),
          createdSeq: r.createdSeq,
        })),
    requests: () => [...server.log],
    uploadCount: () => uploads,
    replaceData: (key, data) => {
      const r = reservations.find((x) => x.key === key && x.finalized)
      if (!r) throw new Error(`no cache entry ${key}`)
      r.data = Buffer.from(data)
      r.sizeBytes = data.length
    },
    close: async () => {
      await server.close()
      if (ownTemp) await rm(ownTemp, { recursive: true, force: true })
    },
  }
}
