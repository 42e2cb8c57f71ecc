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
import { CANCEL_GRACE_MS, STOP_SIGNALS, type SignalMessage, type StopSignal } from './signals.js'

export const HEAP_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 1536 } as const

export type WorkerEnd =
  { kind: 'exit'; code: number } | { kind: 'out-of-memory' } | { kind: 'crash'; error: Error }

export interface WorkerOptions {
  workerData?: unknown
  /** Messages the worker posts with `parentPort.postMessage`. */
  onMessage?: (message: unknown) => void
  resourceLimits?: ResourceLimits
  /**
   * Catch SIGINT/SIGTERM for the worker (threads get no signals of their own) and post it a
   * SignalMessage: the first signal asks it to stop, a second one or `graceMs` later forces it.
   */
  forwardSignals?: boolean
  graceMs?: number
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
    const unlisten = o.forwardSignals ? forwardSignals(worker, o.graceMs ?? CANCEL_GRACE_MS) : () => {}
    worker.on('error', (error: Error & { code?: string }) => {
      failure =
        error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? { kind: 'out-of-memory' } : { kind: 'crash', error }
    })
    worker.on('exit', (code) => {
      unlisten()
      resolve(failure ?? { kind: 'exit', code })
    })
  })
}

/** While the worker runs, this process does not die of SIGINT/SIGTERM: the worker decides when. */
function forwardSignals(worker: Worker, graceMs: number): () => void {
  let first: StopSignal | undefined
  let timer: NodeJS.Timeout | undefined
  const post = (m: SignalMessage): void => {
    try {
      worker.postMessage(m)
    } catch {
      // The worker is already gone; its exit ends this process.
    }
  }
  const on = (signal: StopSignal): void => {
    if (first) {
      post({ type: 'signal', signal: first, force: true })
      return
    }
    first = signal
    post({ type: 'signal', signal, force: false })
    timer = setTimeout(() => post({ type: 'signal', signal, force: true }), graceMs)
  }
  const handlers = STOP_SIGNALS.map((s) => [s, () => on(s)] as const)
  for (const [s, h] of handlers) process.on(s, h)
  return () => {
    clearTimeout(timer)
    for (const [s, h] of handlers) process.off(s, h)
  }
}
