/**
 * S3-compatible stores that refuse S3's flexible checksums (issue #18, aws/aws-sdk-js-v3#6810):
 * the fault proxy answers any `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm` header or
 * `aws-chunked` body as Backblaze B2 does (400 InvalidArgument) or as Cloudflare R2 did (501
 * NotImplemented), in front of the real local S3 server (SigV4, SHA-256 and Content-MD5 checked).
 */
import { createHash, randomBytes } from 'node:crypto'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findConfigIssues } from '../src/config/index.js'
import { isAppError } from '../src/core/errors.js'
import { S3Destination, type S3DestinationOptions } from '../src/destinations/s3-destination.js'
import { isChecksumRefusal } from '../src/destinations/s3-errors.js'
import { emptyState } from '../src/photos/state.js'
import {
  checksumHeader,
  isPutObject,
  isUploadPart,
  startS3FaultProxy,
  type S3FaultProxy,
  type S3RequestInfo,
} from '../sim/s3/fault-proxy.js'
import { startLocalS3, type LocalS3 } from '../sim/s3/server.js'
import { expectedHashes, photosHarness } from './helpers/photos-harness.js'

const MiB = 1024 * 1024
const BUCKET = 'third-party'
let s3: LocalS3
let b2: S3FaultProxy
let r2: S3FaultProxy
let plain: S3FaultProxy
let raw: S3Client
let n = 0

beforeAll(async () => {
  s3 = await startLocalS3({ buckets: [BUCKET] })
  b2 = await startS3FaultProxy(s3.url, { refuseChecksums: 'b2' })
  r2 = await startS3FaultProxy(s3.url, { refuseChecksums: 'r2' })
  plain = await startS3FaultProxy(s3.url)
  raw = s3.client()
})

afterAll(async () => {
  raw?.destroy()
  for (const p of [b2, r2, plain]) await p?.close()
  await s3?.close()
})

interface Logged {
  info: string[]
  warnings: string[]
}

function dest(via: S3FaultProxy, o: Partial<S3DestinationOptions> = {}) {
  const log: Logged = { info: [], warnings: [] }
  const d = new S3Destination({
    bucket: BUCKET,
    prefix: o.prefix ?? `c${++n}`,
    region: 'us-east-1',
    endpoint: via.url,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    partSize: 5 * MiB,
    log: { info: (m) => log.info.push(m), warning: (m) => log.warnings.push(m), debug: () => {} },
    ...o,
  })
  return { d, log }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64')

async function put(d: S3Destination, relPath: string, data: Buffer) {
  const w = await d.openWriter({ assetId: 'A', relPath, size: data.length, mtime: Date.UTC(2024, 4, 17) })
  for (let i = 0; i < data.length;) {
    const len = Math.min(data.length - i, 250_000 + (i % 5) * 1000)
    await w.write(data.subarray(i, i + len))
    i += len
  }
  await w.commit({ size: data.length, sha256: sha256(data) })
}

async function get(key: string) {
  const r = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
  return { body: Buffer.from(await r.Body!.transformToByteArray()), meta: r.Metadata }
}

const under = (p: S3FaultProxy, prefix: string, from = 0): S3RequestInfo[] =>
  p.log.slice(from).filter((r) => r.path.startsWith(`/${BUCKET}/${prefix}/`))
/** Requests that carry a body (a copy is a PUT too, without one). */
const isBodyWrite = (r: S3RequestInfo): boolean =>
  (isPutObject(r) && !r.headers['x-amz-copy-source']) || isUploadPart(r)
const fallbackLines = (log: Logged) => log.info.filter((m) => m.includes('does not take S3 checksums'))

describe('a store that refuses S3 checksums (auto)', () => {
  it('B2: a small file and a > 16 MiB multipart file land exact, after one refused request and one info line', async () => {
    const { d, log } = dest(b2, { prefix: 'b2auto' })
    const small = randomBytes(700_000)
    const big = randomBytes(17 * MiB + 4321)
    await put(d, '2024/05/17/IMG_0001.HEIC', small)
    await put(d, '2024/05/17/IMG_0002.MOV', big)

    for (const [rel, data] of [
      ['2024/05/17/IMG_0001.HEIC', small],
      ['2024/05/17/IMG_0002.MOV', big],
    ] as const) {
      const { body, meta } = await get(`b2auto/${rel}`)
      expect(body.equals(data)).toBe(true)
      expect(meta?.sha256).toBe(sha256(data))
    }
    // The first PutObject was refused (it carried x-amz-checksum-sha256), then nothing else was.
    const refused = b2.refused.filter((r) => r.path.startsWith(`/${BUCKET}/b2auto/`))
    expect(refused.map((r) => isPutObject(r))).toEqual([true])
    expect(checksumHeader(refused[0]!.headers)?.[0]).toMatch(/^x-amz-(sdk-)?checksum-/)
    expect(fallbackLines(log)).toHaveLength(1)
    expect(log.info[0]).toContain('Content-MD5')
    expect(log.warnings).toEqual([])
    expect(d.mode).toBe('md5')
    // Every body sent after the switch carries Content-MD5 of exactly its bytes: a part too.
    const writes = under(b2, 'b2auto').filter((r) => isBodyWrite(r) && !b2.refused.includes(r))
    expect(writes.filter(isUploadPart)).toHaveLength(4)
    for (const w of writes) expect(w.headers['content-md5']).toMatch(/^[A-Za-z0-9+/]{22}==$/)
    expect(writes.find(isPutObject)?.headers['content-md5']).toBe(md5(small))
  })

  it('R2 (501): the first file is multipart — the refused upload starts again from the held chunks within the attempt', async () => {
    const { d, log } = dest(r2, { prefix: 'r2auto' })
    const big = randomBytes(16 * MiB + 77)
    await put(d, 'IMG_0003.MOV', big)
    expect((await get('r2auto/IMG_0003.MOV')).body.equals(big)).toBe(true)
    const refused = r2.refused.filter((r) => r.path.startsWith(`/${BUCKET}/r2auto/`))
    expect(refused.length).toBeGreaterThanOrEqual(1)
    expect(fallbackLines(log)).toHaveLength(1)
    // The state object goes up too, and comes back.
    const state = emptyState()
    state.zoneSyncToken = 'tok-1'
    await d.saveState(state)
    expect((await d.loadState())?.zoneSyncToken).toBe('tok-1')
    expect(await s3.openUploads(BUCKET).then((u) => u.filter((x) => x.key.startsWith('r2auto/')))).toEqual([])
    expect(fallbackLines(log)).toHaveLength(1)
  })

  it('a fresh run reads the state from such a store (GetObject with x-amz-checksum-mode refused, then read without)', async () => {
    const first = dest(b2, { prefix: 'b2state' })
    const state = emptyState()
    state.zoneSyncToken = 'tok-2'
    await first.d.saveState(state)
    const mark = b2.refused.length
    const { d, log } = dest(b2, { prefix: 'b2state' })
    expect((await d.loadState())?.zoneSyncToken).toBe('tok-2')
    expect(b2.refused.slice(mark).map((r) => [r.method, checksumHeader(r.headers)?.[0]])).toEqual([
      ['GET', 'x-amz-checksum-mode'],
    ])
    expect(fallbackLines(log)).toHaveLength(1)
  })

  it('many files in parallel on one destination: all exact, one info line', async () => {
    const { d, log } = dest(b2, { prefix: 'b2par' })
    const files = Array.from(
      { length: 6 },
      (_, i) => [`IMG_${i}.JPG`, randomBytes(200_000 + i * 1000)] as const,
    )
    await Promise.all(files.map(([rel, data]) => put(d, rel, data)))
    for (const [rel, data] of files) expect((await get(`b2par/${rel}`)).body.equals(data)).toBe(true)
    expect(fallbackLines(log)).toHaveLength(1)
  })

  it("checksums: sha256 does not fall back: the refusal is a DESTINATION error naming the store's answer", async () => {
    const { d, log } = dest(b2, { prefix: 'b2strict', checksums: 'sha256' })
    const err = await put(d, 'IMG.JPG', randomBytes(1000)).catch((e: unknown) => e)
    expect(isAppError(err, 'DESTINATION')).toBe(true)
    expect((err as Error).message).toContain('InvalidArgument')
    expect(fallbackLines(log)).toEqual([])
  })

  it('the imitation refuses what such stores refuse, and nothing else', () => {
    expect(checksumHeader({ 'x-amz-checksum-crc32': 'AAAAAA==' })).toEqual([
      'x-amz-checksum-crc32',
      'AAAAAA==',
    ])
    expect(checksumHeader({ 'x-amz-sdk-checksum-algorithm': 'CRC32' })?.[0]).toBe(
      'x-amz-sdk-checksum-algorithm',
    )
    expect(checksumHeader({ 'content-encoding': 'aws-chunked' })?.[0]).toBe('content-encoding')
    expect(checksumHeader({ 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })?.[0]).toBe(
      'x-amz-content-sha256',
    )
    expect(
      checksumHeader({
        'content-md5': 'abc',
        'x-amz-content-sha256': 'e3b0c442',
        'content-encoding': 'gzip',
      }),
    ).toBeUndefined()
  })

  it('refusals that do not name a checksum header are not taken for one', () => {
    const e = (code: string, status: number, message: string) =>
      Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode: status } })
    expect(
      isChecksumRefusal(
        e('InvalidArgument', 400, "Unsupported header 'x-amz-checksum-crc32' received for this API call."),
      ),
    ).toBe(true)
    expect(
      isChecksumRefusal(
        e('NotImplemented', 501, "Header 'x-amz-checksum-crc32' with value 'AAAAAA==' not implemented"),
      ),
    ).toBe(true)
    expect(
      isChecksumRefusal(
        e(
          'XAmzContentSHA256Mismatch',
          400,
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ),
      ),
    ).toBe(true)
    expect(isChecksumRefusal(e('InvalidArgument', 400, 'Invalid storage class.'))).toBe(false)
    expect(
      isChecksumRefusal(
        e('NotImplemented', 501, 'A header you provided implies functionality that is not implemented'),
      ),
    ).toBe(false)
    expect(
      isChecksumRefusal(
        e('BadDigest', 400, 'The SHA256 you specified did not match the calculated checksum.'),
      ),
    ).toBe(false)
  })
})

describe('checksums: md5', () => {
  it('never sends a flexible checksum header; Content-MD5 on every body; every object HEAD-verified', async () => {
    const { d, log } = dest(plain, { prefix: 'md5', checksums: 'md5' })
    const small = randomBytes(123_456)
    const big = randomBytes(17 * MiB + 1)
    await put(d, 'a/IMG_1.JPG', small)
    await put(d, 'a/IMG_2.MOV', big)
    const state = emptyState()
    state.zoneSyncToken = 'tok-3'
    await d.saveState(state)
    expect((await d.loadState())?.zoneSyncToken).toBe('tok-3')
    expect((await get('md5/a/IMG_2.MOV')).body.equals(big)).toBe(true)
    const seen = under(plain, 'md5')
    expect(seen.length).toBeGreaterThan(8)
    for (const r of seen) expect(checksumHeader(r.headers)).toBeUndefined()
    const bodies = seen.filter(isBodyWrite)
    expect(bodies.length).toBe(1 + 4 + 1) // the small file, 4 parts, the state
    for (const r of bodies) expect(r.headers['content-md5']).toBeDefined()
    // A HEAD after each photo object (the state object is read back by GET).
    expect(seen.filter((r) => r.method === 'HEAD').length).toBeGreaterThanOrEqual(2)
    expect(fallbackLines(log)).toEqual([])
  })

  it('a body corrupted in flight is refused by the server (BadDigest): the attempt fails with no object, the retry lands exact', async () => {
    const { d } = dest(plain, { prefix: 'md5bad', checksums: 'md5' })
    const data = randomBytes(300_000)
    const fault = plain.inject({
      match: (r) => isPutObject(r) && r.path.includes('/md5bad/'),
      fault: 'corrupt',
    })
    const err = await put(d, 'IMG.JPG', data).catch((e: unknown) => e)
    expect(fault.fired()).toBe(1)
    expect(isAppError(err, 'DESTINATION')).toBe(true)
    expect((err as Error).message).toContain('BadDigest')
    expect(await d.stat('IMG.JPG')).toBeUndefined()
    await put(d, 'IMG.JPG', data)
    expect((await get('md5bad/IMG.JPG')).body.equals(data)).toBe(true)
  })

  it('a corrupted part of a multipart upload is refused too', async () => {
    const { d } = dest(plain, { prefix: 'md5badpart', checksums: 'md5' })
    const data = randomBytes(11 * MiB)
    plain.inject({
      match: (r) => isUploadPart(r) && r.path.includes('/md5badpart/'),
      fault: 'corrupt',
      skip: 1,
    })
    const err = await put(d, 'IMG.MOV', data).catch((e: unknown) => e)
    expect(isAppError(err, 'DESTINATION')).toBe(true)
    expect(await d.stat('IMG.MOV')).toBeUndefined()
    expect(
      await s3.openUploads(BUCKET).then((u) => u.filter((x) => x.key.startsWith('md5badpart/'))),
    ).toEqual([])
  })

  it('is a config key: auto, sha256, md5; anything else is refused', () => {
    const issues = (v: string) =>
      findConfigIssues(
        `account:\n  username: jdoe@example.com\nphotos:\n  directory: /tmp/x\n  destination:\n    type: s3\n    bucket: b-1\n    region: auto\n    checksums: ${v}\n`,
        'config.yml',
      ).map((i) => i.path)
    for (const v of ['auto', 'sha256', 'md5']) expect(issues(v)).toEqual([])
    expect(issues('crc32')).toContain('photos.destination.checksums')
  })
})

describe('the engine backing up into a store that refuses checksums', () => {
  const { tmp, setup } = photosHarness({ threads: 4, retries: 2, clientId: 'auth-s3c', dsid: '47' })

  it('every file lands exact, none counted failed, one info line; a body corrupted in flight is retried', async () => {
    const { lib, sync } = await setup({ count: 14, seed: 93 })
    const { d, log } = dest(b2, { prefix: 'engine' })
    const corrupt = b2.inject({
      match: (r) => isPutObject(r) && r.path.includes('/engine/') && !r.path.includes('.icloud-photos'),
      fault: 'corrupt',
      skip: 3,
    })
    const r = await sync(tmp('s3c-runner-'), {}, { destination: d })
    expect(corrupt.fired()).toBe(1)
    expect(r.failed).toBe(0)
    expect(r.downloaded).toBe(expectedHashes(lib).length)
    const state = await dest(b2, { prefix: 'engine' }).d.loadState()
    expect(state?.manifest.size).toBe(lib.visibleAssets().length)
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'engine/' }))
    const hashes: string[] = []
    for (const o of listed.Contents ?? []) {
      if (o.Key!.includes('/.icloud-photos/')) continue
      const { body, meta } = await get(o.Key!)
      expect(meta?.sha256).toBe(sha256(body))
      hashes.push(sha256(body))
    }
    expect(hashes.sort()).toEqual(expectedHashes(lib))
    expect(fallbackLines(log)).toHaveLength(1)
  })
})
