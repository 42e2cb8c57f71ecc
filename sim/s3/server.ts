/**
 * A real S3 server on 127.0.0.1 for tests, bench and demo: `@20minutes/s3rver` (a maintained fork
 * of s3rver, Koa + a filesystem store) that checks SigV4 signatures with its fixed key pair, so a
 * wrong secret gets S3's own `SignatureDoesNotMatch`, and stores multipart uploads part by part.
 *
 * Three gaps of that server are filled here, each the way S3 documents it:
 * - SigV4 for bucket-level requests: the SDK signs the path it sends (`/bucket/` for
 *   ListObjectsV2, CreateBucket…) while the server rebuilds the canonical URI from its route
 *   params and drops the trailing slash, so every bucket-level request failed to verify.
 * - ListMultipartUploads (`GET /bucket?uploads`) and AbortMultipartUpload
 *   (`DELETE /bucket/key?uploadId=`) are not implemented by it; both act on its `uploads` folder.
 * - ListObjectsV2 continuation tokens: it encrypts them with DES, which OpenSSL 3 refuses (a 500
 *   on every truncated page); here the token is the last key returned (opaque to clients).
 * - `x-amz-checksum-sha256` is accepted but not checked: after a PutObject or UploadPart the
 *   stored bytes are hashed and a mismatch is S3's `400 BadDigest` (the object/part removed).
 * - `Content-MD5` is not checked either (only signed): the same check with MD5, as S3 does it —
 *   a mismatch is `400 BadDigest` ("The Content-MD5 you specified did not match what we received.").
 *
 * The server's data lives in a temp directory, removed by `close()`.
 */
import { createHash } from 'node:crypto'
import { S3Client } from '@aws-sdk/client-s3'
import { createReadStream } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)

/** The key pair the server knows (its built-in account). */
export const S3_ACCESS_KEY_ID = 'S3RVER'
export const S3_SECRET_ACCESS_KEY = 'S3RVER'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Ctx = any
type Next = () => Promise<unknown>
type Middleware = (ctx: Ctx, next: Next) => Promise<unknown> | unknown

/**
 * Wrap the authentication middleware before the server's router loads it: for a path-style
 * bucket-level request whose path ends in `/`, let it canonicalize `/bucket/` (its vhost branch
 * computes `'/' + bucket + mountPath`), then restore the context before the handler runs.
 */
function patchAuthentication(): void {
  const id = require.resolve('@20minutes/s3rver/lib/middleware/authentication.js')
  const original = require(id) as () => Middleware
  const mod = require.cache[id]
  if (!mod || (original as { patched?: boolean }).patched) return
  const patched = () => {
    const auth = original()
    return (ctx: Ctx, next: Next) => {
      const bucketLevel = ctx.params?.bucket && !ctx.params.key && !ctx.state.vhost && ctx.path.endsWith('/')
      if (!bucketLevel) return auth(ctx, next)
      const mountPath = ctx.mountPath
      ctx.state.vhost = true
      ctx.mountPath = '/'
      return auth(ctx, () => {
        ctx.state.vhost = false
        ctx.mountPath = mountPath
        return next()
      })
    }
  }
  patched.patched = true
  mod.exports = patched
}

patchAuthentication()
const S3rver = require('@20minutes/s3rver')
const S3Error = require('@20minutes/s3rver/lib/models/error.js')
const authentication = require('@20minutes/s3rver/lib/middleware/authentication.js') as () => Middleware

export interface LocalS3 {
  /** `http://127.0.0.1:<port>` (use with `forcePathStyle: true`). */
  url: string
  port: number
  accessKeyId: string
  secretAccessKey: string
  /** Where the server keeps its files. */
  directory: string
  /** An SDK client that talks to the server directly (no proxy), for tests to look at the bucket. */
  client(): S3Client
  /** Create a bucket without going through the API. */
  createBucket(name: string): Promise<void>
  /** Multipart uploads still open in a bucket (what ListMultipartUploads answers). */
  openUploads(bucket: string): Promise<{ key: string; uploadId: string }[]>
  close(): Promise<void>
}

async function digestFile(path: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  const h = createHash(algorithm)
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('base64')
}

/** The gaps filled, as one app-level middleware placed before the server's router. */
function extensions(): Middleware {
  const auth = authentication()
  const uploadsDir = (ctx: Ctx, bucket: string): string =>
    ctx.store.getResourcePath(bucket, undefined, 'uploads') as string

  async function listUploads(ctx: Ctx, bucket: string) {
    const dir = uploadsDir(ctx, bucket)
    const ids = await readdir(dir).catch(() => [] as string[])
    const uploads = []
    for (const uploadId of ids) {
      const key = await readFile(join(dir, uploadId, 'key'), 'utf8').catch(() => undefined)
      if (key === undefined) continue
      const initiated = (await stat(join(dir, uploadId))).birthtime
      uploads.push({ key, uploadId, initiated })
    }
    return uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  return async (ctx: Ctx, next: Next) => {
    const m = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path)
    if (!m) return next()
    const bucket = m[1]!
    const key = m[2] ? decodeURIComponent(m[2]) : undefined
    const q = ctx.query as Record<string, string | undefined>

    if (ctx.method === 'GET' && !key && 'uploads' in q) {
      ctx.params = { bucket }
      return auth(ctx, async () => {
        if (!(await ctx.store.getBucket(bucket)))
          throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket })
        const prefix = q.prefix ?? ''
        const uploads = (await listUploads(ctx, bucket)).filter((u) => u.key.startsWith(prefix))
        ctx.body = {
          ListMultipartUploadsResult: {
            '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
            Bucket: bucket,
            KeyMarker: '',
            UploadIdMarker: '',
            Prefix: prefix,
            MaxUploads: 1000,
            IsTruncated: false,
            Upload: uploads.map((u) => ({
              Key: u.key,
              UploadId: u.uploadId,
              Initiated: u.initiated.toISOString(),
              StorageClass: 'STANDARD',
            })),
          },
        }
      })
    }

    if (ctx.method === 'GET' && !key && q['list-type'] === '2') {
      ctx.params = { bucket }
      return auth(ctx, async () => {
        if (!(await ctx.store.getBucket(bucket)))
          throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket })
        const maxKeys = Math.min(1000, q['max-keys'] ? Number(q['max-keys']) : 1000)
        const token = q['continuation-token']
        const startAfter = token ? Buffer.from(token, 'base64url').toString('utf8') : q['start-after']
        const prefix = q.prefix ?? ''
        const result = await ctx.store.listObjects(bucket, {
          prefix,
          delimiter: q.delimiter || undefined,
          startAfter,
          maxKeys,
        })
        const objects = result.objects as {
          key: string
          size: number
          lastModifiedDate: Date
          metadata: { etag: string }
        }[]
        const last = objects[objects.length - 1]
        ctx.body = {
          ListBucketResult: {
            '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
            Name: bucket,
            Prefix: prefix,
            ContinuationToken: token,
            NextContinuationToken:
              result.isTruncated && last ? Buffer.from(last.key, 'utf8').toString('base64url') : undefined,
            KeyCount: objects.length,
            MaxKeys: maxKeys,
            Delimiter: q.delimiter || undefined,
            IsTruncated: Boolean(result.isTruncated),
            Contents: objects.map((o) => ({
              Key: o.key,
              LastModified: o.lastModifiedDate.toISOString(),
              ETag: o.metadata.etag,
              Size: o.size,
              StorageClass: 'STANDARD',
            })),
            CommonPrefixes: (result.commonPrefixes as string[]).map((p) => ({ Prefix: p })),
          },
        }
      })
    }

    if (ctx.method === 'DELETE' && key && q.uploadId) {
      ctx.params = { bucket, key }
      return auth(ctx, async () => {
        const dir = join(uploadsDir(ctx, bucket), q.uploadId!)
        const stored = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined)
        if (stored !== key)
          throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: q.uploadId })
        await rm(dir, { recursive: true, force: true })
        ctx.status = 204
      })
    }

    const sha256 = ctx.get('x-amz-checksum-sha256') as string
    const md5 = ctx.get('content-md5') as string
    if (ctx.method !== 'PUT' || !key || !(sha256 || md5) || 'x-amz-copy-source' in ctx.headers) return next()
    await next()
    if (ctx.status !== 200) return
    const partPath = q.uploadId
      ? join(uploadsDir(ctx, bucket), q.uploadId, String(q.partNumber))
      : (ctx.store.getResourcePath(bucket, key, 'object') as string)
    const badSha = sha256 && (await digestFile(partPath, 'sha256')) !== sha256
    const badMd5 = md5 && (await digestFile(partPath, 'md5')) !== md5
    if (!badSha && !badMd5) return
    if (q.uploadId) await rm(partPath, { force: true })
    else await ctx.store.deleteObject(bucket, key)
    const err = new S3Error(
      'BadDigest',
      badSha
        ? 'The SHA256 you specified did not match the calculated checksum.'
        : 'The Content-MD5 you specified did not match what we received.',
    )
    ctx.status = 400
    ctx.set('ETag', '')
    ctx.body = err.toXML()
    ctx.type = 'application/xml'
  }
}

/** Start the server on 127.0.0.1 (a free port unless one is given). */
export async function startLocalS3(o: { port?: number; buckets?: string[] } = {}): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 's3-'))
  const app = new S3rver({
    port: o.port ?? 0,
    address: '127.0.0.1',
    silent: !process.env.S3_SIM_VERBOSE,
    directory,
    configureBuckets: (o.buckets ?? []).map((name) => ({ name, configs: [] })),
  })
  // The router is the last middleware; the extensions go just before it.
  const mw = app.middleware as Middleware[]
  mw.splice(mw.length - 1, 0, extensions())
  const info = (await app.run()) as { port: number }
  const url = `http://127.0.0.1:${info.port}`
  return {
    url,
    port: info.port,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    directory,
    client: () =>
      new S3Client({
        region: 'us-east-1',
        endpoint: url,
        forcePathStyle: true,
        credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
      }),
    async createBucket(name) {
      await app.store.putBucket(name)
    },
    async openUploads(bucket) {
      const dir = app.store.getResourcePath(bucket, undefined, 'uploads') as string
      const out: { key: string; uploadId: string }[] = []
      for (const uploadId of await readdir(dir).catch(() => [] as string[])) {
        const key = await readFile(join(dir, uploadId, 'key'), 'utf8').catch(() => undefined)
        if (key !== undefined) out.push({ key, uploadId })
      }
      return out
    },
    async close() {
      await app.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}
