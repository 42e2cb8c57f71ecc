/**
 * S3 destination scenarios (BENCH_ONLY=s3): the same full sync into a directory and into the local
 * S3 server (sim/s3/server.ts in a process of its own, sim/s3/serve.ts: a real store is another
 * machine, so its CPU must not slow down the fake iCloud's event loop), the peak RSS of an 8-thread
 * sync whose library holds one 1 GiB video, and the runner's disk used during an S3 sync.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { startFakeCloudKit } from '../sim/icloud/cloudkit.js'
import { FakeLibrary, type FakeAsset, type FakeZone, type LibraryOptions } from '../sim/icloud/library.js'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { ChildJob, ChildResult } from './child.js'

const GiB = 1024 * 1024 * 1024
const PART = 8 * 1024 * 1024

/** A library whose asset 0 is a video of `bigBytes` (the fake generates its bytes per request). */
class OneBigVideo extends FakeLibrary {
  constructor(
    options: LibraryOptions,
    private readonly bigBytes: number,
  ) {
    super(options)
  }
  override describe(zone: FakeZone, i: number): FakeAsset {
    const a = super.describe(zone, i)
    if (i !== 0 || zone !== this.privateZone) return a
    return {
      ...a,
      resources: a.resources.map((r, k) => (k === 0 ? { ...r, size: this.bigBytes } : r)),
    }
  }
}

/** Start sim/s3/serve.ts in its own Node process; resolves with its URL and keys. */
async function serveS3(bucket: string): Promise<{
  url: string
  accessKeyId: string
  secretAccessKey: string
  close(): Promise<void>
}> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, join(import.meta.dirname, '..', 'sim', 's3', 'serve.ts'), bucket],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const first = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`the S3 server exited with ${code}`)))
  })
  const info = JSON.parse(first) as { url: string; accessKeyId: string; secretAccessKey: string }
  return {
    ...info,
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

async function du(dir: string): Promise<number> {
  let total = 0
  for (const e of (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) as {
    isFile(): boolean
    parentPath: string
    name: string
  }[]) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size
  }
  return total
}

export interface S3BenchRow {
  id: string
  scenario: string
  ours: string
  target: string
  icloudpd: string
  ratio: string
  pass?: boolean
  metrics: Record<string, unknown>
}

export async function benchS3(o: {
  runChild: (job: ChildJob) => Promise<ChildResult>
  tmp: (prefix: string) => Promise<string>
  assets: number
  latencyMs: number
  threads: number
  note: (m: string) => void
}): Promise<S3BenchRow[]> {
  const rows: S3BenchRow[] = []
  const s3 = await serveS3('bench')
  const creds = {
    endpoint: s3.url,
    bucket: 'bench',
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  }
  const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  try {
    // 1. Directory vs bucket, same library, same latency.
    const lib = { count: o.assets, seed: 21, minBytes: 1024, maxBytes: 8192 }
    const timed = async (s3job: boolean) => {
      const fake = await startFakeCloudKit(new FakeLibrary(lib))
      fake.server.latencyMs = o.latencyMs
      const dir = await o.tmp('s3cmp')
      try {
        return await o.runChild({
          kind: 'sync',
          databaseUrl: fake.databaseUrl,
          directory: dir,
          threads: o.threads,
          ...(s3job && { s3: { ...creds, prefix: `cmp-${Date.now()}` } }),
        })
      } finally {
        await fake.close()
      }
    }
    o.note(`S3: full sync of ${o.assets} assets to a directory, then to the local S3 server…`)
    const dirRun = await timed(false)
    const s3Run = await timed(true)
    if (dirRun.failed || s3Run.failed) throw new Error('downloads failed in the S3 comparison')
    const ratio = s3Run.wallMs / dirRun.wallMs
    rows.push({
      id: 's3-vs-directory',
      scenario: `Full sync, ${o.assets} assets (${s3Run.downloaded} files), threads ${o.threads}: S3 vs directory`,
      ours: `S3 ${fmt(s3Run.wallMs)} vs directory ${fmt(dirRun.wallMs)}; engine CPU ${fmt(s3Run.cpuMs ?? 0)} / ${fmt(dirRun.cpuMs ?? 0)}; peak RSS ${s3Run.peakRssMiB.toFixed(0)} / ${dirRun.peakRssMiB.toFixed(0)} MiB`,
      target: '≤ 1.3× the directory',
      icloudpd: '—',
      ratio: `${ratio.toFixed(2)}×`,
      pass: ratio <= 1.3,
      metrics: {
        assets: o.assets,
        threads: o.threads,
        s3WallMs: s3Run.wallMs,
        dirWallMs: dirRun.wallMs,
        s3CpuMs: s3Run.cpuMs,
        dirCpuMs: dirRun.cpuMs,
        ratio,
      },
    })

    // 2. Peak RSS, 8 threads, one 1 GiB video among small files; 3. the runner's disk meanwhile.
    const big = new OneBigVideo({ count: 200, seed: 22, minBytes: 64 * 1024, maxBytes: 2 * 1024 * 1024 }, GiB)
    const fake = await startFakeCloudKit(big)
    const dir = await o.tmp('s3big')
    let peakDisk = 0
    const poll = setInterval(() => void du(dir).then((b) => (peakDisk = Math.max(peakDisk, b))), 200)
    try {
      o.note('S3: 8 threads, one 1 GiB video: peak RSS and the runner’s disk…')
      const r = await o.runChild({
        kind: 'sync',
        databaseUrl: fake.databaseUrl,
        directory: dir,
        threads: 8,
        s3: { ...creds, prefix: 'big' },
      })
      clearInterval(poll)
      peakDisk = Math.max(peakDisk, await du(dir))
      if (r.failed) throw new Error(`${r.failed} files failed in the 1 GiB run`)
      rows.push({
        id: 's3-rss-1gib',
        scenario: `S3 sync, threads 8, ${r.downloaded} files incl. one 1 GiB video: peak RSS`,
        ours: `${r.peakRssMiB.toFixed(0)} MiB (${fmt(r.wallMs)}, ${(r.bytes / 1024 / 1024).toFixed(0)} MiB uploaded)`,
        target: '< 250 MB (238 MiB)',
        icloudpd: '—',
        ratio: '—',
        pass: r.peakRssMiB * 1024 * 1024 < 250e6,
        metrics: { files: r.downloaded, bytes: r.bytes, peakRssMiB: r.peakRssMiB, wallMs: r.wallMs },
      })
      rows.push({
        id: 's3-runner-disk',
        scenario: 'S3 sync, threads 8: the runner’s disk used meanwhile (sampled every 200 ms)',
        ours: `${peakDisk} bytes`,
        target: `≤ threads × part size (${(8 * PART) / 1024 / 1024} MiB)`,
        icloudpd: '—',
        ratio: '—',
        pass: peakDisk <= 8 * PART,
        metrics: { peakDiskBytes: peakDisk, threads: 8, partSize: PART },
      })
    } finally {
      clearInterval(poll)
      await fake.close()
    }
  } finally {
    await s3.close()
  }
  return rows
}
