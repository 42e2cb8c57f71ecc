/**
 * Slowing down when Apple throttles (HTTP 503/429), instead of ending the run.
 *
 * - `parseRetryAfter`: Apple's `Retry-After`, in seconds or as an HTTP date, capped.
 * - `ThrottleGovernor`: one per run, shared by the listing and the downloads. It spaces retries
 *   (Retry-After when given, else exponential backoff with jitter over the current streak of
 *   throttled answers) and keeps the throttle budget: the time the run spends *stalled* — some
 *   request waiting because of throttling while no request is making progress. When the budget
 *   is used up every wait ends at once and the run stops cleanly (`THROTTLED`).
 * - `AdaptiveLimit`: AIMD download concurrency. A run starts with `START_STREAMS` (8); until Apple
 *   first throttles, each success adds a stream (slow start), after that a window of successes
 *   adds one — never above the `threads` ceiling (default 16): the concurrency rises above 8 only
 *   while Apple does not throttle. A throttled answer halves the number of streams (down to 1). Answers to requests sent before the last decrease do not halve again, so one
 *   burst of 503s is one decrease.
 *
 * Why not p-retry here: a throttle wait must hold the download slot, count against a budget shared
 * by the whole run and end early when that budget runs out; p-retry's delay is private to one call
 * and its retry count would mix throttling with real failures. p-retry still spaces the retries of
 * failed downloads (downloader.ts).
 */

/** Longest wait a `Retry-After` can ask for; longer answers are capped (the budget still applies). */
export const MAX_RETRY_AFTER_MS = 5 * 60_000

/** `Retry-After` in ms (delta-seconds or an HTTP date), capped; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (v === '') return undefined
  let ms: number
  if (/^\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000
  else if (/^[-+]?[\d.]+$/.test(v)) return undefined
  else {
    const at = Date.parse(v)
    if (!Number.isFinite(at)) return undefined
    ms = at - now
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.round(ms)))
}

export interface ThrottleGovernorOptions {
  /** Throttle budget: stalled time allowed before the run stops (0 = stop at the first wait). */
  maxWaitMs: number
  /** Backoff without Retry-After: base (default 1000 ms), doubled per throttled answer in a row. */
  baseMs?: number
  /** Backoff cap (default 60 s). */
  capMs?: number
  signal?: AbortSignal
  /** Injectable for tests; default Math.random. */
  random?: () => number
}

export class ThrottleGovernor {
  /** Stalled time so far (ms). */
  spentMs = 0
  /** Throttled answers seen (503/429 or a CloudKit THROTTLED body). */
  events = 0
  /** The budget is used up (or the run was cancelled while waiting): no more waits, no new work. */
  exhausted = false
  private streak = 0
  private paused = 0
  private busy = 0
  private stalledSince?: number
  private timer?: NodeJS.Timeout
  private readonly wakers = new Set<() => void>()

  constructor(private readonly o: ThrottleGovernorOptions) {}

  get maxWaitMs(): number {
    return this.o.maxWaitMs
  }

  /**
   * How long to wait after a throttled answer: its Retry-After, else backoff with jitter. The
   * exponent is the larger of the run's streak of throttled answers (reset by any success) and
   * `tries`, the throttled answers this one request got in a row — so a request that keeps being
   * refused backs off even while other requests get through.
   */
  delayFor(retryAfterMs: number | undefined, tries = 1): number {
    this.events++
    this.streak++
    if (retryAfterMs !== undefined && retryAfterMs > 0) return retryAfterMs
    const base = this.o.baseMs ?? 1000
    const cap = this.o.capMs ?? 60_000
    const exp = Math.min(cap, base * 2 ** Math.min(20, Math.max(this.streak, tries) - 1))
    // "Equal jitter": half fixed, half random, so waits never collapse to zero.
    return Math.round(exp / 2 + (exp / 2) * (this.o.random ?? Math.random)())
  }

  /** A request got through: the streak of throttled answers is over. */
  noteSuccess(): void {
    this.streak = 0
  }

  /** Run `fn` counted as progress (a request on the wire, a body being written). */
  async working<T>(fn: () => Promise<T>): Promise<T> {
    this.busy++
    this.tick()
    try {
      return await fn()
    } finally {
      this.busy--
      this.tick()
    }
  }

  /** Wait `ms` because Apple throttled. False when the budget ran out or the run was cancelled first. */
  async pause(ms: number): Promise<boolean> {
    if (this.exhausted || this.o.signal?.aborted) return false
    this.paused++
    this.tick()
    try {
      if (this.exhausted) return false
      return await new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(t)
          this.wakers.delete(wake)
          this.o.signal?.removeEventListener('abort', onAbort)
          resolve(ok)
        }
        const wake = () => done(false)
        const onAbort = () => done(false)
        const t = setTimeout(() => done(!this.exhausted), ms)
        this.wakers.add(wake)
        this.o.signal?.addEventListener('abort', onAbort, { once: true })
      })
    } finally {
      this.paused--
      this.tick()
    }
  }

  /** Account stalled time and arm the budget timer while stalled. */
  private tick(): void {
    const now = Date.now()
    if (this.stalledSince !== undefined) {
      this.spentMs += now - this.stalledSince
      this.stalledSince = undefined
    }
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.exhausted || this.paused === 0 || this.busy > 0) return
    this.stalledSince = now
    const left = this.o.maxWaitMs - this.spentMs
    if (left <= 0) this.exhaust()
    else this.timer = setTimeout(() => this.tick(), left)
  }

  private exhaust(): void {
    this.exhausted = true
    this.stalledSince = undefined
    for (const w of [...this.wakers]) w()
  }
}

/**
 * Streams a run starts with: what icloudpd-era experience says Apple tolerates. More are earned by
 * successes (up to `threads`), so an unthrottled run uses what the ceiling allows.
 */
export const START_STREAMS = 8

/** AIMD concurrency: halve on throttling (min 1); +1 per success before the first throttling, then +1 after `limit` successes (max `max`). */
export class AdaptiveLimit {
  limit: number
  /** Lowest limit reached (reported in logs and the bench). */
  lowest: number
  active = 0
  private epoch = 0
  private successes = 0
  private readonly queue: Array<() => void> = []

  constructor(
    readonly max: number,
    start = max,
  ) {
    this.limit = Math.max(1, Math.min(max, start))
    this.lowest = this.limit
  }

  /** Wait for a slot (first come, first served). */
  async acquire(): Promise<void> {
    if (this.active < this.limit && this.queue.length === 0) {
      this.active++
      return
    }
    // The slot is handed over by `wake` (active already counted).
    await new Promise<void>((r) => this.queue.push(r))
  }

  release(): void {
    this.active--
    this.wake()
  }

  /** Mark the start of a request (epoch of the current limit). */
  mark(): number {
    return this.epoch
  }

  /** A request started at `epoch` was throttled: halve, unless the limit already dropped since. */
  throttled(epoch: number): void {
    this.successes = 0
    if (epoch !== this.epoch) return
    this.epoch++
    this.limit = Math.max(1, Math.floor(this.limit / 2))
    this.lowest = Math.min(this.lowest, this.limit)
  }

  succeeded(): void {
    if (this.limit >= this.max) return
    // Slow start (as in TCP): until Apple first throttles, every success adds a stream.
    if (this.epoch === 0) {
      this.limit++
      this.wake()
      return
    }
    if (++this.successes < this.limit) return
    this.successes = 0
    this.limit++
    this.wake()
  }

  private wake(): void {
    while (this.active < this.limit && this.queue.length > 0) {
      this.active++
      this.queue.shift()!()
    }
  }
}
