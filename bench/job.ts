// The measured work of a bench child, run in the child's worker (see child.ts). Wired like
// src/action/photos-step.ts: one HttpClient for CloudKit, one for downloads with
// `connections = threads`.
import { HttpClient } from '../src/icloud/http.js'
import { CloudKitClient } from '../src/photos/cloudkit.js'
import { listAssets } from '../src/photos/listing.js'
import { syncPhotos } from '../src/photos/sync.js'
import { S3Destination } from '../src/destinations/s3-destination.js'
import type { ChildJob, ChildResult } from './child.js'

export async function runJob(job: ChildJob): Promise<Omit<ChildResult, 'peakRssMiB'>> {
  const api = new HttpClient()
  const downloads = new HttpClient({ connections: job.threads ?? 8 })
  const client = new CloudKitClient({
    http: api,
    databaseUrl: job.databaseUrl,
    clientId: 'auth-bench',
    dsid: '1',
  })
  const quiet = { info: () => undefined, warning: (m: string) => process.stderr.write(`${m}\n`) }

  const started = performance.now()
  const cpu = process.cpuUsage()
  let result: Omit<ChildResult, 'wallMs' | 'peakRssMiB'>
  if (job.kind === 'list') {
    // Listing alone: every page parsed into assets, nothing kept (what the engine holds while listing).
    let listed = 0
    for await (const page of listAssets(client, { scope: 'private', zone: { zoneName: 'PrimarySync' } })) {
      listed += page.assets.length
    }
    result = { downloaded: 0, skipped: 0, failed: 0, bytes: 0, listed, requests: client.requests }
  } else {
    const destination = job.s3
      ? new S3Destination({
          bucket: job.s3.bucket,
          prefix: job.s3.prefix,
          region: 'us-east-1',
          endpoint: job.s3.endpoint,
          forcePathStyle: true,
          credentials: { accessKeyId: job.s3.accessKeyId, secretAccessKey: job.s3.secretAccessKey },
        })
      : undefined
    const r = await syncPhotos({
      client,
      http: downloads,
      directory: job.directory,
      destination,
      options: { threads: job.threads },
      log: quiet,
    })
    result = {
      mode: r.mode,
      downloaded: r.downloaded,
      skipped: r.skipped,
      failed: r.failed,
      bytes: r.bytes,
      listed: r.listed,
      requests: r.requests,
      remaining: r.remaining,
      stopReason: r.stopReason,
    }
  }
  const wallMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  await api.close()
  await downloads.close()
  return { ...result, wallMs, cpuMs: (used.user + used.system) / 1000 }
}
