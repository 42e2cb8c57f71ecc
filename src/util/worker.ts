/**
 * Runs a module in a worker thread with a sized V8 heap.
 *
 * A JavaScript action cannot pass Node flags, and with V8's defaults for a machine with several
 * GiB of memory a long run keeps far more garbage than data: listing 100,000 assets peaked at
 * ~190 MiB RSS for ~15 MiB of live objects (a 48 MiB young generation, and an old generation
 * allowed to grow 4× between collections). A worker's `resourceLimits` are Node's documented way
 * to size one isolate's heap; below 2 GiB of old generation V8 uses its growing factors for smaller
 * heaps, and the same listing peaks at ~123 MiB.
 *
 * The 1.5 GiB cap is far above what a run needs: the manifest costs ~170 bytes per file, and a
 * state of two million files, loaded twice (cache and file) beside its text, still fits. Should a
 * run exceed it, the worker ends with ERR_WORKER_OUT_OF_MEMORY and the caller reports that,
 * instead of the process being killed by the system.
 */
import { Worker, SHARE_ENV, type ResourceLimits } from 'node:worker_threads'

export const HEAP_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 1536 } as const

export type WorkerEnd =
  { kind: 'exit'; code: number } | { kind: 'out-of-memory' } | { kind: 'crash'; error: Error }

export interface WorkerOptions {
  workerData?: unknown
  /** Messages the worker posts with `parentPort.postMessage`. */
  onMessage?: (message: unknown) => void
  resourceLimits?: ResourceLimits
}

/**
 * Start `file` (an ES module) in a worker that shares this process's environment variables and
 * writes to its stdout/stderr, and resolve with how it ended. `process.exitCode` set in the worker
 * is its exit code.
 */
export function runInWorker(file: string | URL, o: WorkerOptions = {}): Promise<WorkerEnd> {
  return new Promise((resolve) => {
    let failure: WorkerEnd | undefined
    const worker = new Worker(file, {
      env: SHARE_ENV,
      workerData: o.workerData,
      resourceLimits: o.resourceLimits ?? HEAP_LIMITS,
    })
    if (o.onMessage) worker.on('message', o.onMessage)
    worker.on('error', (error: Error & { code?: string }) => {
      failure =
        error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? { kind: 'out-of-memory' } : { kind: 'crash', error }
    })
    worker.on('exit', (code) => resolve(failure ?? { kind: 'exit', code }))
  })
}
