/**
 * The photos engine backing up into a bucket: the fake iCloud (CloudKit + downloads on 127.0.0.1)
 * → the engine → S3Destination → the local S3 server (sim/s3/server.ts, SigV4 and checksums
 * checked), with the fault proxy in front so the tests can see and shape each S3 request.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDestination } from '../src/destinations/open.js'
import { photosOutcome } from '../src/photos/outcome.js'
import { S3Destination } from '../src/destinations/s3-destination.js'
import { isUploadPart, startS3FaultProxy, type S3FaultProxy } from '../sim/s3/fault-proxy.js'
import { startLocalS3, type LocalS3 } from '../sim/s3/server.js'
import { diskFiles, expectedHashes, photosHarness, quiet } from './helpers/photos-harness.js'

const BUCKET = 'icloud-backup'
const MiB = 1024 * 1024
const { tmp, setup } = photosHarness({ threads: 4, retries: 2, clientId: 'auth-s3', dsid: '46' })

let s3: LocalS3
let proxy: S3FaultProxy
let raw: S3Client
let n = 0

beforeAll(async () => {
  s3 = await startLocalS3({ buckets: [BUCKET] })
  proxy = await startS3FaultProxy(s3.url)
  raw = s3.client()
})

afterAll(async () => {
  raw?.destroy()
  await proxy?.close()
  await s3?.close()
})

/** A fresh destination object, as a new run on a fresh runner builds it. */
function bucket(prefix: string, o: { sessionKey?: string } = {}): S3Destination {
  return new S3Destination({
    bucket: BUCKET,
    prefix,
    region: 'us-east-1',
    endpoint: proxy.url,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    partSize: 5 * MiB,
    sessionKey: o.sessionKey,
  })
}

/** Every object under the prefix (the state folder excluded): relPath → sha256 of its bytes and metadata. */
async function objects(
  prefix: string,
): Promise<Map<string, { sha256: string; meta?: string; type?: string }>> {
  const out = new Map<string, { sha256: string; meta?: string; type?: string }>()
  let token: string | undefined
  do {
    const page = await raw.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }),
    )
    for (const o of page.Contents ?? []) {
      const rel = o.Key!.slice(prefix.length + 1)
      if (rel.startsWith('.icloud-photos/')) continue
      const g = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key! }))
      const bytes = Buffer.from(await g.Body!.transformToByteArray())
      out.set(rel, {
        sha256: createHash('sha256').update(bytes).digest('hex'),
        meta: g.Metadata?.sha256,
        type: g.ContentType,
      })
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return out
}

const hashesOf = (m: Map<string, { sha256: string }>): string[] => [...m.values()].map((v) => v.sha256).sort()
/** S3 writes of photos (PutObject, UploadPart) since a log position; the state object excluded. */
const photoWrites = (from: number, prefix: string) =>
  proxy.log
    .slice(from)
    .filter(
      (r) =>
        r.method === 'PUT' &&
        r.path.startsWith(`/${BUCKET}/${prefix}/`) &&
        !r.path.includes('/.icloud-photos/'),
    )

describe('sync into an S3 bucket', () => {
  it('full sync: every file lands once with its exact bytes, SHA-256 metadata and Content-Type; state in the bucket; nothing on the runner', async () => {
    const { lib, sync } = await setup({ count: 25, seed: 91 })
    const prefix = `full${++n}`
    // Built as the action builds it: the config's destination, credentials from the AWS environment.
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY }
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey
    try {
      const dest = await openDestination(
        {
          handOff: false,
          destination: {
            type: 's3',
            bucket: BUCKET,
            prefix,
            region: 'us-east-1',
            endpoint: proxy.url,
            forcePathStyle: true,
            checksums: 'auto',
          },
        },
        { log: { ...quiet, notice: () => {}, debug: () => {} } },
      )
      expect(dest.label).toBe(`s3://${BUCKET}/${prefix}`)
      const runner = tmp('s3-runner-')
      const r = await sync(runner, {}, { destination: dest })
      expect(r.failed).toBe(0)
      expect(r.downloaded).toBe(expectedHashes(lib).length)
      const objs = await objects(prefix)
      expect(hashesOf(objs)).toEqual(expectedHashes(lib))
      for (const [rel, o] of objs) {
        expect(o.meta).toBe(o.sha256)
        expect(o.type).not.toBe('application/octet-stream')
        expect(rel).toMatch(/^\d{4}\/\d{2}\/\d{2}\//) // icloudpd's default folder layout
      }
      expect(readdirSync(runner)).toEqual([])
      const state = await bucket(prefix).loadState()
      expect(state?.manifest.size).toBe(lib.visibleAssets().length)
      expect(state?.zoneSyncToken).toBeDefined()
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY
    }
  })

  it('delta sync uploads just the new assets; a lost Actions cache and an empty runner re-upload nothing', async () => {
    const { lib, sync } = await setup({ count: 12, seed: 92 })
    const prefix = `delta${++n}`
    const key = 'correct horse battery staple'
    await sync(tmp('s3-a-'), {}, { destination: bucket(prefix, { sessionKey: key }) })
    lib.addAssets(5)
    const mark = proxy.log.length
    const before = lib.downloadLog.length
    // A fresh runner: empty disk, no cache state (`state` not given); the state comes from the bucket.
    const r = await sync(tmp('s3-b-'), {}, { destination: bucket(prefix, { sessionKey: key }) })
    expect(r.mode).toBe('delta')
    const added = expectedHashes(lib).length - expectedHashes(lib, lib.visibleAssets().slice(0, 12)).length
    expect(r.downloaded).toBe(added)
    expect(lib.downloadLog.length - before).toBe(added)
    expect(photoWrites(mark, prefix).length).toBe(added)
    expect(hashesOf(await objects(prefix))).toEqual(expectedHashes(lib))
    // Once more on another fresh runner: no change, nothing downloaded or uploaded.
    const mark2 = proxy.log.length
    const again = await sync(tmp('s3-c-'), {}, { destination: bucket(prefix, { sessionKey: key }) })
    expect(again.mode).toBe('no-change')
    expect(again.downloaded).toBe(0)
    expect(photoWrites(mark2, prefix)).toEqual([])
  })

  it('a bucket pre-filled with an icloudpd backup (no state) is recognised: nothing is downloaded or uploaded', async () => {
    const { lib, sync } = await setup({ count: 15, seed: 93 })
    const prefix = `pre${++n}`
    // icloudpd's directory, copied into the bucket as rclone would (plain objects, no metadata).
    const local = tmp('s3-icloudpd-')
    await sync(local)
    const files = diskFiles(local)
    for (const rel of files.keys()) {
      await raw.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `${prefix}/${rel}`,
          Body: readFileSync(path.join(local, rel)),
        }),
      )
    }
    const mark = proxy.log.length
    const downloads = lib.downloadLog.length
    const r = await sync(tmp('s3-fresh-'), {}, { destination: bucket(prefix) })
    expect(r.downloaded).toBe(0)
    expect(r.skipped).toBe(files.size)
    expect(lib.downloadLog.length).toBe(downloads)
    expect(photoWrites(mark, prefix)).toEqual([])
    // One listing of the whole prefix answered every folder.
    expect(proxy.log.slice(mark).filter((q) => q.query.get('list-type') === '2').length).toBe(1)
    expect((await bucket(prefix).loadState())?.manifest.size).toBe(lib.visibleAssets().length)
  })

  it('cancelled mid-upload, then resumed: no orphaned multipart upload, no duplicate, nothing missing', async () => {
    const { lib, sync } = await setup({
      count: 8,
      kinds: ['video'],
      minBytes: 6 * MiB,
      maxBytes: 7 * MiB,
      seed: 94,
    })
    const prefix = `cancel${++n}`
    // Slow bodies from Apple: the cancel lands while parts of several files are on their way.
    lib.downloadFaults.push({ kind: 'slow', chunkBytes: 256 * 1024, delayMs: 20, times: Infinity })
    const ac = new AbortController()
    const mark = proxy.log.length
    const watch = setInterval(() => {
      if (photoWrites(mark, prefix).some((r) => isUploadPart(r))) ac.abort()
    }, 20)
    let first
    try {
      first = await sync(tmp('s3-c1-'), {}, { destination: bucket(prefix), signal: ac.signal })
    } finally {
      clearInterval(watch)
    }
    expect(ac.signal.aborted).toBe(true)
    expect(first.stopReason).toBe('cancelled')
    const total = expectedHashes(lib).length
    expect(first.downloaded).toBeLessThan(total)
    // Nothing half-uploaded is left behind, and what is there is whole.
    expect((await s3.openUploads(BUCKET)).filter((u) => u.key.startsWith(`${prefix}/`))).toEqual([])
    const after1 = await objects(prefix)
    for (const o of after1.values()) expect(expectedHashes(lib)).toContain(o.sha256)
    expect(after1.size).toBe(first.downloaded)

    lib.downloadFaults.length = 0
    const second = await sync(tmp('s3-c2-'), {}, { destination: bucket(prefix) })
    expect(second.failed).toBe(0)
    expect(second.downloaded).toBe(total - first.downloaded)
    const all = await objects(prefix)
    expect(all.size).toBe(total)
    expect(hashesOf(all)).toEqual(expectedHashes(lib))
    expect((await s3.openUploads(BUCKET)).filter((u) => u.key.startsWith(`${prefix}/`))).toEqual([])
  })

  it('a run aborts the multipart uploads a killed run left under the prefix, even one that never saved its state; a dry run touches nothing', async () => {
    const { sync } = await setup({ count: 5, kinds: ['jpeg'], seed: 95 })
    const prefix = `killed${++n}`
    const key = `${prefix}/2024/01/01/IMG_9.MOV`
    const left = await raw.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))
    await raw.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: left.UploadId,
        PartNumber: 1,
        Body: Buffer.alloc(1000),
      }),
    )
    const open = async () => (await s3.openUploads(BUCKET)).filter((u) => u.key.startsWith(`${prefix}/`))
    await sync(tmp('s3-k0-'), { dryRun: true }, { destination: bucket(prefix) })
    expect((await open()).map((u) => u.uploadId)).toEqual([left.UploadId])
    const r = await sync(tmp('s3-k1-'), {}, { destination: bucket(prefix) })
    expect(r.failed).toBe(0)
    expect(await open()).toEqual([])
  })

  it('budget stop then resume on fresh runners: each run uploads its share once, the last one completes the bucket', async () => {
    const { lib, sync } = await setup({ count: 14, kinds: ['jpeg'], seed: 96 })
    const prefix = `budget${++n}`
    const total = expectedHashes(lib).length
    const mark = proxy.log.length
    const first = await sync(tmp('s3-b1-'), { maxFiles: 6 }, { destination: bucket(prefix) })
    expect(first.downloaded).toBe(6)
    expect(first.stopReason).toBe('budget')
    expect(photosOutcome(first).status).toBe('incomplete')
    expect((await objects(prefix)).size).toBe(6)
    const second = await sync(tmp('s3-b2-'), { maxFiles: 6 }, { destination: bucket(prefix) })
    expect(second.downloaded).toBe(6)
    const third = await sync(tmp('s3-b3-'), {}, { destination: bucket(prefix) })
    expect(third.downloaded).toBe(total - 12)
    expect(photosOutcome(third).status).toBe('ok')
    const all = await objects(prefix)
    expect(hashesOf(all)).toEqual(expectedHashes(lib))
    // Every photo object was written exactly once over the three runs.
    const writes = photoWrites(mark, prefix).map((r) => r.path)
    expect(writes.length).toBe(total)
    expect(new Set(writes).size).toBe(total)
  })
})
