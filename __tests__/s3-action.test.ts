// The bundled action (dist/index.js) backing up into a bucket, as on a GitHub-hosted runner: the
// fake iCloud and Actions cache (sim/world.ts), the local S3 server behind the fault proxy, AWS
// credentials from the environment as aws-actions/configure-aws-credentials leaves them. Build
// first: `npm run bundle` (the test suite's global setup does it).
import { createHash } from 'node:crypto'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunner, type Runner } from '../sim/runner-env.js'
import { startS3FaultProxy, type S3FaultProxy } from '../sim/s3/fault-proxy.js'
import { startLocalS3, type LocalS3 } from '../sim/s3/server.js'
import { laptopLoginAndExport, PASSWORD, SESSION_KEY, startWorld, USER, type World } from '../sim/world.js'
import { expectedHashes } from './helpers/photos-harness.js'

const BUCKET = 'family-photos'
const PREFIX = 'icloud/jdoe'
let world: World
let runner: Runner
let s3: LocalS3
let proxy: S3FaultProxy
let raw: S3Client
let seed = ''

beforeAll(async () => {
  runner = await createRunner()
  world = await startWorld({ library: { count: 12 }, runnerTemp: runner.runnerTemp })
  s3 = await startLocalS3({ buckets: [BUCKET] })
  proxy = await startS3FaultProxy(s3.url)
  raw = s3.client()
  await mkdir(join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:
  username: ${USER}
auth:
  password-providers: [parameter]
  mfa-provider: none
photos:
  threads: 4
  destination:
    type: s3
    bucket: ${BUCKET}
    prefix: ${PREFIX}
    region: us-east-1
    endpoint: ${proxy.url}
    force-path-style: true
`,
  )
  seed = await laptopLoginAndExport(world.icloud)
}, 60_000)

afterAll(async () => {
  raw?.destroy()
  await world?.close()
  await proxy?.close()
  await s3?.close()
  await runner?.cleanup()
})

const inputs = {
  config: '.github/icloud-photos.yml',
  password: PASSWORD,
  'session-key': SESSION_KEY,
  mode: 'sync',
}
const env = (secret = s3.secretAccessKey, o: Record<string, string> = {}) => ({
  ...world.env,
  RUNNER_TEMP: runner.runnerTemp,
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: secret,
  AWS_EC2_METADATA_DISABLED: 'true',
  ...o,
})

async function bucketHashes(): Promise<string[]> {
  const page = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/` }))
  const out: string[] = []
  for (const o of page.Contents ?? []) {
    if (o.Key!.includes('/.icloud-photos/')) continue
    const g = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key! }))
    out.push(
      createHash('sha256')
        .update(Buffer.from(await g.Body!.transformToByteArray()))
        .digest('hex'),
    )
  }
  return out.sort()
}

const photoWrites = (from: number) =>
  proxy.log.slice(from).filter((r) => r.method === 'PUT' && !r.path.includes('/.icloud-photos/'))

describe('the action backing up into S3', () => {
  it('needs no photos directory, uploads every file, keeps the state in the bucket; the runner keeps no photo', async () => {
    const r = await runner.job({ ...inputs, session: seed }, env())
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(r.main.outputs.failed).toBe('0')
    expect(Number(r.main.outputs.downloaded)).toBe(expectedHashes(world.library).length)
    expect(await bucketHashes()).toEqual(expectedHashes(world.library))
    expect(
      (
        await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/.icloud-photos/` }))
      ).Contents?.map((o) => o.Key),
    ).toEqual([`${PREFIX}/.icloud-photos/state.json`])
    expect(r.main.stdout).toContain(`s3://${BUCKET}/${PREFIX}`)
    const onRunner = (await readdir(runner.root, { recursive: true })).filter((f) =>
      /\.(heic|jpe?g|png|mov|mp4|dng|cr2|nef|arw)$/i.test(f),
    )
    expect(onRunner).toEqual([])
  })

  it('a fresh runner with the Actions cache lost fetches just the new photos: the state comes from the bucket', async () => {
    await runner.nextRun()
    world.library.addAssets(2)
    const added = expectedHashes(world.library).length - (await bucketHashes()).length
    expect(added).toBeGreaterThan(0)
    const mark = proxy.log.length
    const downloads = world.library.downloadLog.length
    const r = await runner.job({ ...inputs, session: seed }, env(undefined, { ACTIONS_CACHE_MODE: 'none' }))
    expect(r.main.code, r.main.stdout).toBe(0)
    expect(Number(r.main.outputs.downloaded)).toBe(added)
    expect(world.library.downloadLog.length - downloads).toBe(added)
    expect(photoWrites(mark).length).toBe(added)
    expect(await bucketHashes()).toEqual(expectedHashes(world.library))
  })

  it('a wrong secret fails the run with DESTINATION_AUTH naming the bucket; the secret appears nowhere', async () => {
    await runner.nextRun()
    const secret = 'wrong-aws-secret-5f2c9e1d7a'
    const r = await runner.job({ ...inputs, session: seed }, env(secret))
    expect(r.main.code).toBe(1)
    expect(r.main.outputs['error-code']).toBe('DESTINATION_AUTH')
    expect(r.main.stdout).toContain(`s3://${BUCKET}/${PREFIX}`)
    for (const s of [r.main, r.post]) {
      for (const text of [
        s.stdout,
        s.stderr,
        s.summary,
        JSON.stringify(s.outputs),
        JSON.stringify(s.state),
      ]) {
        expect(text).not.toContain(secret)
      }
    }
  })

  it('mode verify on an S3 destination is a clear config error, before signing in', async () => {
    await runner.nextRun()
    const validates = world.icloud.count('setup:validate')
    expect(validates).toBeGreaterThan(0) // the earlier runs signed in: the count is live
    const r = await runner.job({ ...inputs, session: seed, mode: 'verify' }, env())
    expect(r.main.code).toBe(1)
    expect(r.main.outputs['error-code']).toBe('CONFIG_INVALID')
    expect(r.main.stdout).toContain('`mode: verify` re-hashes the files of a photos directory')
    expect(world.icloud.count('setup:validate')).toBe(validates)
  })
})
