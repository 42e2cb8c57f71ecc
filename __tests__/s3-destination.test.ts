/**
 * The S3 destination against a real S3 server on 127.0.0.1 (sim/s3/server.ts: SigV4 checked,
 * x-amz-checksum-sha256 checked, multipart stored part by part), with a fault proxy in front for
 * 503 SlowDown, 500 on a part and a connection reset mid-part.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findConfigIssues } from '../src/config/index.js'
import { S3Destination, STATE_OBJECT, type S3DestinationOptions } from '../src/destinations/s3-destination.js'
import { isAppError } from '../src/core/errors.js'
import { emptyState } from '../src/photos/state.js'
import { isPutObject, isUploadPart, startS3FaultProxy, type S3FaultProxy } from '../sim/s3/fault-proxy.js'
import { startLocalS3, type LocalS3 } from '../sim/s3/server.js'

const MiB = 1024 * 1024
const BUCKET = 'photos-test'
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

interface Logged {
  warnings: string[]
  debug: string[]
}

function dest(o: Partial<S3DestinationOptions> & { viaProxy?: boolean } = {}): {
  d: S3Destination
  log: Logged
} {
  const log: Logged = { warnings: [], debug: [] }
  const d = new S3Destination({
    bucket: BUCKET,
    prefix: o.prefix ?? `t${++n}`,
    region: 'us-east-1',
    endpoint: o.viaProxy ? proxy.url : s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    partSize: 5 * MiB,
    log: { warning: (m) => log.warnings.push(m), debug: (m) => log.debug.push(m) },
    ...o,
  })
  return { d, log }
}

/** Multipart uploads still open under a prefix (other tests leave theirs elsewhere on purpose). */
const openUnder = async (prefix: string) =>
  (await s3.openUploads(BUCKET)).filter((u) => u.key.startsWith(`${prefix}/`))
const partsSent = (key: string) =>
  proxy.log.filter((r) => isUploadPart(r) && r.path === `/${BUCKET}/${key}`).length

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** Stream `data` through a writer in uneven chunks and commit it. */
async function put(d: S3Destination, relPath: string, data: Buffer, mtime = Date.UTC(2024, 4, 17, 8, 30)) {
  const w = await d.openWriter({ assetId: 'A', relPath, size: data.length, mtime })
  expect(w.offset).toBe(0)
  for (let i = 0; i < data.length;) {
    const len = Math.min(data.length - i, 300_000 + (i % 7) * 1000)
    await w.write(data.subarray(i, i + len))
    i += len
  }
  await w.commit({ size: data.length, sha256: sha256(data) })
}

async function get(key: string) {
  const r = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
  return { body: Buffer.from(await r.Body!.transformToByteArray()), r }
}

async function exists(key: string): Promise<boolean> {
  try {
    await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
    return true
  } catch {
    return false
  }
}

describe('S3 destination: objects', () => {
  it('a small file is one object with the exact bytes, its SHA-256 and date as metadata, and a Content-Type', async () => {
    const { d } = dest({ prefix: 'me/icloud', storageClass: 'STANDARD_IA' })
    const data = randomBytes(1_234_567)
    await put(d, '2024/05/17/IMG_0001.HEIC', data)
    const { body, r } = await get('me/icloud/2024/05/17/IMG_0001.HEIC')
    expect(body.equals(data)).toBe(true)
    expect(r.ContentType).toBe('image/heic')
    expect(r.Metadata).toEqual({ sha256: sha256(data), created: '2024-05-17T08:30:00.000Z' })
    expect(r.StorageClass).toBe('STANDARD_IA')
    expect(proxy.log.length).toBe(0) // straight to the server, not through the proxy
  })

  it('a file larger than 16 MiB goes up as a multipart upload and ends identical, with metadata, and no upload left open', async () => {
    const { d } = dest({ prefix: 'big', viaProxy: true })
    const data = randomBytes(17 * MiB + 12_345)
    await put(d, '2024/01/02/IMG_0002.MOV', data)
    const { body, r } = await get('big/2024/01/02/IMG_0002.MOV')
    expect(body.length).toBe(data.length)
    expect(body.equals(data)).toBe(true)
    expect(r.ContentType).toBe('video/quicktime')
    expect(r.Metadata?.sha256).toBe(sha256(data))
    expect(r.Metadata?.created).toBe('2024-05-17T08:30:00.000Z')
    expect(partsSent('big/2024/01/02/IMG_0002.MOV')).toBe(4) // 5 MiB parts
    expect(await openUnder('big')).toEqual([])
  })

  it('an empty file and names with spaces and brackets round-trip', async () => {
    const { d } = dest({ prefix: 'odd' })
    await put(d, 'IMG 0003 (1).JPG', Buffer.alloc(0))
    await put(d, 'a b/IMG_0004 [x].PNG', Buffer.from('png'))
    expect((await get('odd/IMG 0003 (1).JPG')).body.length).toBe(0)
    expect((await get('odd/a b/IMG_0004 [x].PNG')).body.toString()).toBe('png')
    expect(await d.stat('a b/IMG_0004 [x].PNG')).toBe(3)
    expect(await d.stat('missing.JPG')).toBeUndefined()
  })

  it('bytes that do not match the SHA-256 the engine computed are refused by S3: no object is left', async () => {
    const { d } = dest({ prefix: 'digest' })
    const data = randomBytes(2000)
    const w = await d.openWriter({ assetId: 'A', relPath: 'x.JPG', size: data.length, mtime: 0 })
    await w.write(data)
    const err = await w.commit({ size: data.length, sha256: sha256(Buffer.from('other')) }).catch((e) => e)
    expect(isAppError(err, 'DESTINATION')).toBe(true)
    expect(await exists('digest/x.JPG')).toBe(false)
  })

  it('abort of a multipart upload leaves no upload and no object', async () => {
    const { d } = dest({ prefix: 'abort' })
    const w = await d.openWriter({ assetId: 'A', relPath: 'v.MOV', size: 12 * MiB, mtime: 0 })
    await w.write(randomBytes(6 * MiB))
    await w.write(randomBytes(5 * MiB))
    await w.abort(false)
    expect(await openUnder('abort')).toEqual([])
    expect(await exists('abort/v.MOV')).toBe(false)
  })

  it('sweep aborts multipart uploads a killed run left under the prefix, and only there', async () => {
    const mine = await raw.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'sweep/2024/a.MOV' }))
    await raw.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: 'sweep/2024/a.MOV',
        UploadId: mine.UploadId,
        PartNumber: 1,
        Body: randomBytes(1000),
      }),
    )
    const other = await raw.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'elsewhere/b.MOV' }))
    const { d, log } = dest({ prefix: 'sweep' })
    await d.sweep(new Set())
    const open = await s3.openUploads(BUCKET)
    expect(open.map((u) => u.uploadId)).toEqual([other.UploadId])
    expect(log.debug.join('\n')).toContain('sweep/2024/a.MOV')
  })
})

describe('S3 destination: listing', () => {
  it('lists the whole prefix once, page by page (> 1000 keys), and answers folders from it', async () => {
    const prefix = 'listing'
    const keys: string[] = []
    for (let i = 0; i < 1003; i++)
      keys.push(`${prefix}/2023/${String(1 + (i % 3)).padStart(2, '0')}/IMG_${i}.JPG`)
    keys.push(`${prefix}/top.JPG`, `${prefix}/.icloud-photos/state.json`, `${prefix}x/not-mine.JPG`)
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys
          .slice(i, i + 50)
          .map((Key, j) =>
            raw.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Buffer.alloc((i + j) % 5) })),
          ),
      )
    }
    const { d } = dest({ prefix, viaProxy: true })
    proxy.log.length = 0
    const f1 = await d.listFolder('2023/01')
    const f2 = await d.listFolder('2023/02')
    const root = await d.listFolder('')
    const lists = proxy.log.filter((r) => r.method === 'GET' && r.query.get('list-type') === '2')
    expect(lists.length).toBe(2) // 1006 keys: two pages, listed once for all folders
    expect(f1.size + f2.size + (await d.listFolder('2023/03')).size).toBe(1003)
    expect(f1.get('IMG_0.JPG')).toBe(0)
    expect(f2.get('IMG_1.JPG')).toBe(1)
    expect([...root.keys()]).toEqual(['top.JPG']) // the state folder is not a photo
    expect((await d.listFolder('nope')).size).toBe(0)
  })
})

describe('S3 destination: state object', () => {
  function sampleState() {
    const s = emptyState()
    s.generation = 7
    s.savedAt = '2024-05-17T10:00:00.000Z'
    s.zoneSyncToken = 'zone-token-1'
    for (let i = 0; i < 3000; i++) {
      s.manifest.set(`ASSET-${i}`, [
        { relPath: `2024/05/17/IMG_${i}.HEIC`, size: 1000 + i, sha256: sha256(Buffer.from(String(i))) },
      ])
    }
    return s
  }

  it('round-trips in plain JSON without a session key', async () => {
    const { d } = dest({ prefix: 'state-plain' })
    expect(await d.loadState()).toBeUndefined()
    await d.saveState(sampleState())
    const text = (await get(`state-plain/${STATE_OBJECT}`)).body.toString()
    expect(text).toContain('ASSET-2999')
    const back = await d.loadState()
    expect(back?.generation).toBe(7)
    expect(back?.zoneSyncToken).toBe('zone-token-1')
    expect(back?.manifest.size).toBe(3000)
    expect(back?.manifest.get('ASSET-5')).toEqual([
      { relPath: '2024/05/17/IMG_5.HEIC', size: 1005, sha256: sha256(Buffer.from('5')) },
    ])
  })

  it('is sealed with the session key: unreadable without it or with another key (then the bucket is listed instead)', async () => {
    const key = randomBytes(32).toString('base64url')
    const { d } = dest({ prefix: 'state-sealed', sessionKey: key })
    await d.saveState(sampleState())
    const stored = (await get(`state-sealed/${STATE_OBJECT}`)).body
    expect(stored.subarray(0, 4).toString()).toBe('ICPT')
    expect(stored.includes(Buffer.from('ASSET-'))).toBe(false)
    expect(stored.includes(Buffer.from('IMG_'))).toBe(false)
    const back = await d.loadState()
    expect(back?.manifest.size).toBe(3000)
    expect(back?.manifest.get('ASSET-2999')?.[0]?.size).toBe(3999)

    const noKey = dest({ prefix: 'state-sealed' })
    expect(await noKey.d.loadState()).toBeUndefined()
    expect(noKey.log.warnings.join('\n')).toMatch(/encrypted and no session key/)
    const otherKey = dest({ prefix: 'state-sealed', sessionKey: randomBytes(32).toString('base64url') })
    expect(await otherKey.d.loadState()).toBeUndefined()
    expect(otherKey.log.warnings.join('\n')).toMatch(/cannot be opened/)
    expect(otherKey.log.warnings.join('\n')).not.toContain(key)

    // Bound to its bucket and prefix: the same object copied under another prefix is refused.
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: `state-moved/${STATE_OBJECT}`, Body: stored }))
    const moved = dest({ prefix: 'state-moved', sessionKey: key })
    expect(await moved.d.loadState()).toBeUndefined()
    expect(moved.log.warnings.join('\n')).toMatch(/cannot be opened/)

    // One flipped byte anywhere: the tag check refuses it, nothing half-read reaches the parser.
    const bent = Buffer.from(stored)
    bent[Math.floor(bent.length / 2)] ^= 0x01
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: `state-sealed/${STATE_OBJECT}`, Body: bent }))
    const tampered = dest({ prefix: 'state-sealed', sessionKey: key })
    expect(await tampered.d.loadState()).toBeUndefined()
    expect(tampered.log.warnings.join('\n')).toMatch(/integrity check/)
  })

  it('a passphrase works as the key too, and a large state streams up as a multipart object', async () => {
    const { d } = dest({ prefix: 'state-big', sessionKey: 'correct horse battery staple', viaProxy: true })
    const s = emptyState()
    // ~160k entries: more than one 5 MiB part even gzip-compressed (random digests do not compress).
    for (let i = 0; i < 160_000; i++) {
      s.manifest.set(`A${i}`, [
        { relPath: `2020/01/01/IMG_${i}.HEIC`, size: i, sha256: sha256(Buffer.from(`x${i}`)) },
      ])
    }
    await d.saveState(s)
    expect(partsSent(`state-big/${STATE_OBJECT}`)).toBeGreaterThan(1)
    const back = await d.loadState()
    expect(back?.manifest.size).toBe(160_000)
    expect(back?.manifest.get('A159999')?.[0]?.relPath).toBe('2020/01/01/IMG_159999.HEIC')
  })
})

describe('S3 destination: faults', () => {
  it('503 SlowDown on a PutObject is retried with back-off and the object ends correct', async () => {
    const { d } = dest({ prefix: 'slow', viaProxy: true })
    const rule = proxy.inject({
      match: (r) => isPutObject(r) && r.path.includes('/slow/'),
      fault: 'slowdown',
      times: 2,
    })
    const data = randomBytes(100_000)
    await put(d, 'IMG_1.JPG', data)
    expect(rule.fired()).toBe(2)
    expect((await get('slow/IMG_1.JPG')).body.equals(data)).toBe(true)
  })

  it('500 on an UploadPart and a connection reset mid-part: the parts are sent again and the object is exact', async () => {
    const { d } = dest({ prefix: 'parts', viaProxy: true })
    const isMine = (r: Parameters<typeof isUploadPart>[0]) => isUploadPart(r) && r.path.includes('/parts/')
    const r500 = proxy.inject({ match: isMine, fault: 'internal', times: 1, skip: 1 })
    const reset = proxy.inject({ match: isMine, fault: 'reset', times: 1, skip: 1 })
    const data = randomBytes(16 * MiB + 77)
    await put(d, 'VID.MOV', data)
    expect(r500.fired()).toBe(1)
    expect(reset.fired()).toBe(1)
    const { body, r } = await get('parts/VID.MOV')
    expect(body.equals(data)).toBe(true)
    expect(r.Metadata?.sha256).toBe(sha256(data))
    expect(partsSent('parts/VID.MOV')).toBe(4 + 2) // 4 parts, 2 of them sent twice
    expect(await openUnder('parts')).toEqual([])
  })

  it('a part that keeps failing makes the file fail with DESTINATION: no object, no open upload', async () => {
    const { d } = dest({ prefix: 'broken', viaProxy: true, maxAttempts: 2 })
    proxy.inject({
      match: (r) => isUploadPart(r) && r.path.includes('/broken/'),
      fault: 'internal',
      times: 1000,
    })
    const data = randomBytes(11 * MiB)
    const w = await d.openWriter({ assetId: 'A', relPath: 'VID.MOV', size: data.length, mtime: 0 })
    const err = await (async () => {
      await w.write(data.subarray(0, 6 * MiB))
      await w.write(data.subarray(6 * MiB))
      await w.commit({ size: data.length, sha256: sha256(data) })
    })().catch((e) => e)
    // The engine then ends the attempt: no crash, nothing left.
    await w.abort(false)
    expect(isAppError(err, 'DESTINATION')).toBe(true)
    expect(err.message).toContain('broken')
    expect(await exists('broken/VID.MOV')).toBe(false)
    expect(await openUnder('broken')).toEqual([])
  })

  it('a wrong secret is DESTINATION_AUTH naming the bucket, never the secret', async () => {
    const secret = 'wrong-secret-' + randomBytes(8).toString('hex')
    const { d, log } = dest({
      prefix: 'auth',
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: secret },
    })
    const errors: unknown[] = []
    errors.push(await d.listFolder('').catch((e) => e))
    errors.push(await put(d, 'IMG.JPG', randomBytes(10)).catch((e) => e))
    errors.push(await d.loadState().catch((e) => e))
    // Taking the bucket for a run checks them first (it looks for unfinished uploads).
    errors.push(await d.lock().catch((e) => e))
    for (const err of errors) {
      expect(isAppError(err, 'DESTINATION_AUTH')).toBe(true)
      const e = err as Error & { describe(): string }
      expect(e.message).toContain(`s3://${BUCKET}/auth`)
      expect(e.message).toMatch(/SignatureDoesNotMatch/)
      expect(e.describe()).toContain('AWS_SECRET_ACCESS_KEY')
      expect(e.describe()).not.toContain(secret)
    }
    expect([...log.warnings, ...log.debug].join('\n')).not.toContain(secret)
  })

  it('an unknown bucket is DESTINATION (NoSuchBucket), an unreachable endpoint is DESTINATION too', async () => {
    const { d } = dest({ bucket: 'no-such-bucket' })
    const err = await d.listFolder('').catch((e) => e)
    expect(isAppError(err, 'DESTINATION')).toBe(true)
    expect(err.message).toContain('NoSuchBucket')
    const down = dest({ endpoint: 'http://127.0.0.1:9', maxAttempts: 1 })
    const err2 = await down.d.stat('x').catch((e) => e)
    expect(isAppError(err2, 'DESTINATION')).toBe(true)
    expect(err2.message).toMatch(/Cannot reach/)
  })
})

describe('photos.destination in the config file', () => {
  const base = 'account:\n  username: jdoe@example.com\nphotos:\n  directory: /tmp/x\n  destination:\n'
  const issues = (extra: string) =>
    findConfigIssues(base + extra, 'config.yml').map((i) => `${i.path}: ${i.message}`)

  it('accepts an S3 destination', () => {
    expect(
      issues(
        '    type: s3\n    bucket: my-photos\n    prefix: icloud/me\n    region: us-east-1\n    endpoint: https://s3.us-west-004.backblazeb2.com\n    force-path-style: false\n    storage-class: STANDARD_IA\n    server-side-encryption: aws:kms\n    kms-key-id: arn:aws:kms:us-east-1:1:key/abc\n',
      ),
    ).toEqual([])
  })

  it('refuses credentials with a pointer to the AWS environment and configure-aws-credentials', () => {
    const out = issues(
      '    type: s3\n    bucket: b-1\n    region: auto\n    access-key-id: AKIAEXAMPLE\n    secret-access-key: s3cr3t-value\n',
    )
    expect(out.length).toBe(2)
    expect(out[0]).toMatch(/access-key-id.*AWS_ACCESS_KEY_ID.*configure-aws-credentials/)
    expect(out.join('\n')).not.toContain('s3cr3t-value')
  })

  it('says what type: s3 needs and what only applies to it', () => {
    expect(issues('    type: s3\n').join('\n')).toMatch(/needs `bucket`[\s\S]*needs `region`/)
    expect(issues('    type: directory\n    bucket: b-1\n').join('\n')).toMatch(/only applies to `type: s3`/)
    expect(issues('    type: s3\n    bucket: b-1\n    region: x\n    kms-key-id: k\n').join('\n')).toMatch(
      /aws:kms/,
    )
    expect(issues('    type: ftp\n').length).toBeGreaterThan(0)
  })
})
