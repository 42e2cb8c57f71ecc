// The measured side of a benchmark, in its own process so its peak RSS is the engine's alone (the
// fake server stays in the parent). Like the action (src/index.ts), the main thread only launches
// a worker with the action's heap limits, and the work (job.ts) runs there. Prints one JSON line
// (ChildResult). run.ts transpiles it to plain JavaScript first (compile.ts):
// `node child.js '<ChildJob>'`.
import { readFileSync } from 'node:fs'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { runInWorker } from '../src/util/worker.js'

export interface ChildJob {
  kind: 'sync' | 'list'
  databaseUrl: string
  directory: string
  threads?: number
  /** Back up into this bucket (the local S3 server) instead of `directory`. */
  s3?: { endpoint: string; bucket: string; prefix: string; accessKeyId: string; secretAccessKey: string }
}

export interface ChildResult {
  /** Wall time of the measured call only (no process start, no module loading). */
  wallMs: number
  /** CPU time (user + system, all threads) of the measured call. */
  cpuMs?: number
  mode?: string
  downloaded: number
  skipped: number
  failed: number
  bytes: number
  listed: number
  /** CloudKit requests as the client counted them. */
  requests: number
  /** Files left behind (failed or stopped) and why the run stopped, if it did. */
  remaining?: number
  stopReason?: string
  /** Peak resident set size of this process (both threads), MiB (getrusage maxrss; VmHWM where available). */
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

if (isMainThread) {
  let result: Omit<ChildResult, 'peakRssMiB'> | undefined
  const end = await runInWorker(new URL(import.meta.url), {
    workerData: JSON.parse(process.argv[2] ?? '{}') as ChildJob,
    onMessage: (m) => (result = m as typeof result),
  })
  if (end.kind !== 'exit' || end.code !== 0 || !result) {
    process.stderr.write(
      `bench worker ended: ${end.kind === 'crash' ? end.error.stack : JSON.stringify(end)}\n`,
    )
    process.exitCode = 1
  } else {
    process.stdout.write(JSON.stringify({ ...result, peakRssMiB: peakRssMiB() } satisfies ChildResult) + '\n')
  }
} else {
  // Loaded here only, so the main thread holds none of the engine's modules (as in the action).
  const { runJob } = await import('./job.js')
  parentPort!.postMessage(await runJob(workerData as ChildJob))
}
