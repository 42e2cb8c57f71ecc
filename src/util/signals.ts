/**
 * Cancellation by SIGINT / SIGTERM. GitHub cancels a job (or ends it at its timeout) with SIGINT,
 * then SIGTERM about 7.5 s later, then SIGKILL. The first signal asks the run to stop: start no
 * new download, park the ones in flight as `.part`, write the state, exit 130 (SIGINT) or 143
 * (SIGTERM). A second signal, or the grace period running out, forces the exit — but only once
 * the state write under way has finished.
 *
 * The action runs in a worker thread, and worker threads receive no process signals: the launcher
 * (util/worker.ts) catches them and posts a SignalMessage; the CLI catches them itself. Both feed a
 * Cancellation.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM'
export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM']

/** The shell convention: 128 + the signal number. */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 }

/** Time from the first signal to the forced exit, so that the process is gone within 5 s. */
export const CANCEL_GRACE_MS = 4000

/** What the launcher posts to the worker. */
export interface SignalMessage {
  type: 'signal'
  signal: StopSignal
  /** A second signal or the grace period ran out: exit now (after the state write under way). */
  force: boolean
}

export function isSignalMessage(m: unknown): m is SignalMessage {
  const s = m as Partial<SignalMessage> | null
  return (
    typeof s === 'object' &&
    s !== null &&
    s.type === 'signal' &&
    (s.signal === 'SIGINT' || s.signal === 'SIGTERM') &&
    typeof s.force === 'boolean'
  )
}

export class Cancellation {
  private readonly controller = new AbortController()
  private readonly beforeExit = new Set<() => Promise<void>>()
  private forcing = false
  /** The first signal received. */
  received?: StopSignal

  constructor(private readonly exit: (code: number) => void = (code) => process.exit(code)) {}

  /** Aborted at the first signal; goes to the photos engine (SyncOptions.signal). */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  get requested(): boolean {
    return this.received !== undefined
  }

  /** 130 or 143 once a signal came. */
  get exitCode(): number | undefined {
    return this.received ? SIGNAL_EXIT_CODES[this.received] : undefined
  }

  /**
   * Work a forced exit waits for (the pending state write). Returns the function that removes it.
   */
  onForcedExit(fn: () => Promise<void>): () => void {
    this.beforeExit.add(fn)
    return () => this.beforeExit.delete(fn)
  }

  /** The first signal: ask the run to stop. Later calls keep the first signal's exit code. */
  stop(signal: StopSignal): void {
    if (this.received) return
    this.received = signal
    this.controller.abort(new Error(`stopped by ${signal}`))
  }

  /** Exit now, once the registered writes are done (they never throw here). */
  async force(signal: StopSignal): Promise<void> {
    this.stop(signal)
    if (this.forcing) return
    this.forcing = true
    for (const fn of this.beforeExit) await fn().catch(() => undefined)
    this.exit(this.exitCode!)
  }

  handle(m: SignalMessage): void {
    if (m.force) void this.force(m.signal)
    else this.stop(m.signal)
  }
}

/**
 * In a process that receives the signals itself (the CLI): the first stops, a second or the
 * grace period forces. Returns the function that removes the handlers.
 */
export function listenToProcessSignals(c: Cancellation, graceMs = CANCEL_GRACE_MS): () => void {
  let timer: NodeJS.Timeout | undefined
  const on = (signal: StopSignal): void => {
    if (c.requested) {
      void c.force(signal)
      return
    }
    c.stop(signal)
    timer = setTimeout(() => void c.force(signal), graceMs)
    timer.unref()
  }
  const handlers = STOP_SIGNALS.map((s) => [s, () => on(s)] as const)
  for (const [s, h] of handlers) process.on(s, h)
  return () => {
    clearTimeout(timer)
    for (const [s, h] of handlers) process.off(s, h)
  }
}
