// The measured side of a benchmark, in its own process so its peak RSS is the engine's alone (the
// fake server stays in the parent). Wired like src/action/photos-step.ts: one HttpClient for
// CloudKit, one for downloads with `connections = threads`. Prints one JSON line (ChildResult).
// run.ts transpiles it to plain JavaScript first (compile.ts): `node child.js '<ChildJob>'`.
import { readFileSync } from 'node:fs'
import { HttpClient } from '../src/icloud/http.js'
import { CloudKitClient } from '../src/photos/cloudkit.js'
import { listAssets } from '../src/photos/listing.js'
import { syncPhotos } from '../src/photos/sync.js'

export interface ChildJob {
  kind: 'sync' | 'list'
  databaseUrl: string
  directory: string
  threads?: number
}

export interface ChildResult {
  /** Wall time of the measured call only (no process start, no module loading). */
  wallMs: number
  mode?: string
  downloaded: number
  skipped: number
  failed: number
  bytes: number
  listed: number
  /** CloudKit requests as the client counted them. */
  requests: number
  /** Peak resident set size of this process, MiB (getrusage maxrss; VmHWM where available). */
  peakRssMiB: number
}

function peakRssMiB(): number {
  const fromRusage = process.resourceUsage().maxRSS / 1024
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (hwm) return Math.max(fromRusage, Number(hwm[1]) / 1024)
  } catch {
    // Not Linux: getrusage alone.
  }
  return fromRusage
}

const job = JSON.parse(process.argv[2] ?? '{}') as ChildJob
const api = new HttpClient()
const downloads = new HttpClient({ connections: job.threads ?? 8 })
const client = new CloudKitClient({
  http: api,
  databaseUrl: job.databaseUrl,
  clientId: 'auth-bench',
  dsid: '1',
})
const quiet = { info: () => undefined, warn: (m: string) => process.stderr.write(`${m}\n`) }

const started = performance.now()
let result: Omit<ChildResult, 'wallMs' | 'peakRssMiB'>
if (job.kind === 'list') {
  // Listing alone: every page parsed into assets, nothing kept (what the engine holds while listing).
  let listed = 0
  for await (const page of listAssets(client, { scope: 'private', zone: { zoneName: 'PrimarySync' } })) {
    listed += page.assets.length
  }
  result = { downloaded: 0, skipped: 0, failed: 0, bytes: 0, listed, requests: client.requests }
} else {
  const r = await syncPhotos({
    client,
    http: downloads,
    directory: job.directory,
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
  }
}
const wallMs = performance.now() - started
await api.close()
await downloads.close()
process.stdout.write(
  JSON.stringify({ ...result, wallMs, peakRssMiB: peakRssMiB() } satisfies ChildResult) + '\n',
)
