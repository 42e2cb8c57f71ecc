/**
 * Verified downloads with adaptive concurrency. Each file streams from Apple through SHA-256 into a
 * FileWriter of the destination (destination.ts), is checked against the record's size, and only
 * then committed (a directory fsyncs and renames `<final>.part` into place; a bucket verifies the
 * upload) — so a killed run leaves at most partial data, never a corrupt final.
 *
 * Partial data a writer holds (a `.part` left by an earlier run) is resumed with `Range`
 * (200 → start over, 416 → discard). Transient failures (5xx, network, truncated or oversized
 * bodies, a DESTINATION write error) are retried with exponential backoff and jitter (p-retry),
 * downloading from Apple again; a file that still fails is reported failed and the others carry on.
 * A 503/429 is Apple throttling: the slot waits (Retry-After, else backoff), the number of streams
 * halves (throttle.ts) and the file is tried again; throttle retries do not use up the failure
 * retries — the run's throttle budget bounds them. A full disk or refused destination credentials
 * (DESTINATION_AUTH) stop the run: no new work starts. Cancelling aborts the requests in flight:
 * their partial data stays (a `.part`) and the next run resumes it.
 */
import { createHash } from 'node:crypto'
import pRetry, { AbortError } from 'p-retry'
import { AppError, isAppError } from '../core/errors.js'
import type { Log } from '../core/log.js'
import type { HttpClient } from '../icloud/http.js'
import type { Destination, FileWriter } from './destination.js'
import { AdaptiveLimit, parseRetryAfter, START_STREAMS, ThrottleGovernor } from './throttle.js'

// Moved to the directory destination; re-exported for older imports.
export { findPartFiles, PART_SUFFIX, partPathFor } from './directory-destination.js'

export interface DownloadTask {
  assetId: string
  url: string
  /** POSIX path relative to the destination root (already made safe by naming). */
  relPath: string
  size: number
  /** Asset date (epoch ms) for mtime/atime. */
  mtime: number
  /** MIME type, for destinations that store one. */
  contentType?: string
  /** The caller saw no `.part` for this file (folder listing): the first attempt skips the stat. */
  noPart?: boolean
}

/** Why the run stopped: `disk` a full disk, `destination` refused destination credentials, `budget` max-duration. */
export type StopReason = 'throttled' | 'cancelled' | 'disk' | 'destination' | 'budget'

/** `stopped`: the run stopped (throttle budget, cancel, disk full, destination) before this file was done. */
export type DownloadStatus = 'downloaded' | 'failed' | 'stopped'

export interface DownloadOutcome {
  task: DownloadTask
  status: DownloadStatus
  bytes: number
  sha256?: string
  error?: AppError
  /** Requests made for this file (0 = never started). */
  attempts: number
  /** Why a stopped file was left. */
  stopReason?: StopReason
  /** A failed file: the last attempt's problem in a few words (no URL). */
  detail?: string
}

export interface DownloaderOptions {
  http: HttpClient
  /** Where the files go (a directory, a bucket). */
  destination: Destination
  threads: number
  /** Retries after the first attempt (default 3). */
  retries?: number
  /** Backoff base and cap in ms (default 1000 / 30000); jitter multiplies by 1–2. */
  minRetryMs?: number
  maxRetryMs?: number
  signal?: AbortSignal
  /** The run's throttle governor (budget, backoff); a private one with no budget when omitted. */
  governor?: ThrottleGovernor
  log?: Pick<Log, 'warning'> & Partial<Pick<Log, 'debug'>>
  /**
   * Asked as each file is about to start (it holds a stream slot): false means the run's time
   * budget is up — the file and every queued one after it are left (reason `budget`).
   */
  mayStart?: () => boolean
  /** Called with the number of bytes as they are written (progress). */
  onBytes?: (n: number) => void
}

/** Why one attempt failed, and whether another attempt can help. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code:
      | 'DOWNLOAD_FAILED'
      | 'NETWORK'
      | 'DISK'
      | 'DESTINATION'
      | 'DESTINATION_AUTH'
      | 'THROTTLED'
      | 'STOPPED' = 'DOWNLOAD_FAILED',
    /** THROTTLED: the server's Retry-After, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EROFS'])

export class Downloader {
  /** Set on a fatal error (disk full, DESTINATION_AUTH): no new work starts. */
  fatal?: AppError
  /** AIMD stream count: starts at START_STREAMS, never above `threads`. */
  readonly limit: AdaptiveLimit
  readonly governor: ThrottleGovernor
  private pending = 0
  private readonly waiters: Array<() => void> = []
  /** `halt()` was called: queued files do not start; those in flight finish. */
  private halted = false

  constructor(private readonly o: DownloaderOptions) {
    this.limit = new AdaptiveLimit(Math.max(1, o.threads), START_STREAMS)
    this.governor =
      o.governor ?? new ThrottleGovernor({ maxWaitMs: 0, baseMs: o.minRetryMs, signal: o.signal })
  }

  /** True once the throttle budget, a fatal error or a cancel means no more work should start. */
  get stopped(): boolean {
    return this.governor.exhausted || this.fatal !== undefined || this.o.signal?.aborted === true
  }

  /** Why the downloader stopped, if it did. */
  get stopReason(): StopReason | undefined {
    if (this.o.signal?.aborted) return 'cancelled'
    if (this.fatal) return this.fatal.code === 'DISK' ? 'disk' : 'destination'
    if (this.governor.exhausted) return 'throttled'
    return undefined
  }

  /**
   * A run budget (max-duration) is up: files queued but not started are left (reason `budget`);
   * files in flight finish, with their retries.
   */
  halt(): void {
    this.halted = true
  }

  /** Schedule a download; the promise settles (never rejects) with the outcome. */
  add(task: DownloadTask): Promise<DownloadOutcome> {
    this.pending++
    return this.run(task).finally(() => {
      this.pending--
      for (const w of this.waiters.splice(0)) w()
    })
  }

  /** Backpressure: wait while more than a few tasks per thread are queued (bounded memory). */
  async waitForCapacity(): Promise<void> {
    const cap = Math.max(1, this.o.threads) * 4
    while (this.pending >= cap) await new Promise<void>((r) => this.waiters.push(r))
  }

  async drain(): Promise<void> {
    while (this.pending > 0) await new Promise<void>((r) => this.waiters.push(r))
  }

  private stoppedOutcome(task: DownloadTask, attempts: number): DownloadOutcome {
    const stopReason = this.stopReason ?? (this.halted ? 'budget' : 'cancelled')
    return { task, status: 'stopped', bytes: 0, attempts, stopReason }
  }

  private async run(task: DownloadTask): Promise<DownloadOutcome> {
    if (this.stopped || this.halted) return this.stoppedOutcome(task, 0)
    await this.limit.acquire()
    if (!this.stopped && (this.halted || this.o.mayStart?.() === false)) {
      this.halted = true
      this.limit.release()
      return this.stoppedOutcome(task, 0)
    }
    // The stream slot bounds requests to Apple: it is given back as soon as the body is in, so
    // the commit of one file (fsync and rename, an upload's last part) overlaps the next request.
    let held = true
    const releaseSlot = () => {
      if (!held) return
      held = false
      this.limit.release()
    }
    let attempts = 0
    let throttles = 0
    // A committed file is done, even if a cancel makes p-retry throw afterwards.
    let done: { bytes: number; sha256: string } | undefined
    try {
      let first = true
      const r = await pRetry(
        async () => {
          // Throttled answers loop here: they wait, they do not count as failed attempts.
          for (;;) {
            if (this.stopped) throw new AbortError(new AttemptError('the run stopped', false, 'STOPPED'))
            if (!held) {
              await this.limit.acquire()
              held = true
            }
            const skipStat = first && task.noPart === true
            first = false
            const epoch = this.limit.mark()
            attempts++
            try {
              done = await this.governor.working(() => this.attempt(task, skipStat, releaseSlot))
              this.limit.succeeded()
              this.governor.noteSuccess()
              return done
            } catch (err) {
              const e = asAttemptError(err)
              if (e.code !== 'THROTTLED') throw e.retryable ? e : new AbortError(e)
              this.limit.throttled(epoch)
              const wait = this.governor.delayFor(e.retryAfterMs, ++throttles)
              this.o.log?.debug?.(
                `photos: ${task.relPath}: throttled (${e.message}); waiting ${Math.round(wait)} ms, ${this.limit.limit} stream(s).`,
              )
              if (!(await this.governor.pause(wait)))
                throw new AbortError(new AttemptError('the run stopped', false, 'STOPPED'))
            }
          }
        },
        {
          retries: this.o.retries ?? 3,
          factor: 2,
          minTimeout: this.o.minRetryMs ?? 1000,
          maxTimeout: this.o.maxRetryMs ?? 30_000,
          randomize: true,
          signal: this.o.signal,
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            if (retriesLeft > 0) {
              this.o.log?.debug?.(
                `photos: ${task.relPath}: attempt ${attemptNumber} failed (${error.message}); retrying.`,
              )
            }
          },
        },
      )
      return { task, status: 'downloaded', bytes: r.bytes, sha256: r.sha256, attempts }
    } catch (err) {
      if (done) return { task, status: 'downloaded', bytes: done.bytes, sha256: done.sha256, attempts }
      const e = asAttemptError(err)
      const own = e.code === 'DISK' || e.code === 'DESTINATION_AUTH'
      // Stopped (throttle budget, cancel, disk full elsewhere): not a failure of this file.
      if (e.code === 'STOPPED' || (this.stopped && !own)) return this.stoppedOutcome(task, attempts)
      const error = new AppError(
        e.code === 'THROTTLED' ? 'DOWNLOAD_FAILED' : e.code,
        e.code === 'DESTINATION' || e.code === 'DESTINATION_AUTH'
          ? `Could not write ${task.relPath} to ${this.o.destination.label}: ${e.message}.`
          : `Could not download ${task.relPath}: ${e.message}.`,
        REMEDIATION[e.code] ?? 'This file is retried on the next run; the rest of the library is unaffected.',
        { cause: err },
      )
      if (
        e.code === 'DESTINATION_AUTH' ||
        (e.code === 'DISK' && DISK_FULL.has(String((err as { cause?: { code?: string } }).cause?.code ?? '')))
      ) {
        this.fatal ??= error
      }
      this.o.log?.warning(`photos: ${error.message}`)
      return { task, status: 'failed', bytes: 0, error, attempts, detail: e.message }
    } finally {
      releaseSlot()
    }
  }

  /** A writer for this attempt; its errors are the destination's (DISK, DESTINATION…). */
  private async openWriter(task: DownloadTask, noPartial: boolean): Promise<FileWriter> {
    try {
      return await this.o.destination.openWriter({
        assetId: task.assetId,
        relPath: task.relPath,
        size: task.size,
        mtime: task.mtime,
        contentType: task.contentType,
        noPartial,
      })
    } catch (err) {
      throw writerError(err)
    }
  }

  /** One attempt: resume or start a writer, stream, verify, commit. */
  private async attempt(
    task: DownloadTask,
    skipPartStat: boolean,
    bodyDone: () => void,
  ): Promise<{ bytes: number; sha256: string }> {
    let writer = await this.openWriter(task, skipPartStat)
    const start = writer.offset
    /** What an attempt that does not commit leaves: partial data to resume, or nothing. */
    let keep = true
    let committed = false
    try {
      let res
      try {
        res = await this.o.http.request({
          url: task.url,
          headers: { range: `bytes=${start}-` },
          noCookies: true,
          signal: this.o.signal,
        })
      } catch (err) {
        throw new AttemptError(`network error (${(err as Error).message})`, true, 'NETWORK')
      }
      const status = res.status
      if (status === 503 || status === 429) {
        res.body.resume()
        throw new AttemptError(
          `HTTP ${status}`,
          false,
          'THROTTLED',
          parseRetryAfter(res.header('retry-after')),
        )
      }
      if (status === 416) {
        // The partial data is not a prefix the server recognises: start from scratch.
        res.body.resume()
        keep = false
        throw new AttemptError('the server refused to resume (HTTP 416)', true)
      }
      if (status < 200 || status > 299) {
        res.body.resume()
        if (status === 403 || status === 410) {
          throw new AttemptError(
            `the download link expired (HTTP ${status}); it is listed afresh next run`,
            false,
          )
        }
        throw new AttemptError(`HTTP ${status}`, status >= 500)
      }

      const hash = createHash('sha256')
      let append = false
      if (start > 0 && status === 206) {
        const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.header('content-range') ?? '')
        if (!cr || Number(cr[1]) !== start) {
          res.body.resume()
          keep = false
          throw new AttemptError('the server resumed at the wrong offset', true)
        }
        try {
          for await (const chunk of writer.existing()) hash.update(chunk)
        } catch (err) {
          res.body.resume()
          throw writerError(err)
        }
        append = true
      } else if (start > 0) {
        // 200 to a ranged request: the server sends the whole file, so the partial data goes.
        await writer.abort(false)
        writer = await this.openWriter(task, true)
      }
      // A declared length that cannot add up to the record's size is refused before anything is written.
      const remaining = task.size - (append ? start : 0)
      const declared = Number(res.header('content-length') ?? NaN)
      if (Number.isFinite(declared) && declared !== remaining) {
        res.body.resume()
        keep = append
        throw new AttemptError(`size mismatch: the server announced ${declared} of ${remaining} bytes`, true)
      }
      let received = 0
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          received += chunk.length
          if (received > remaining) {
            res.body.destroy()
            keep = false
            throw new AttemptError(`the server sent more than the expected ${task.size} bytes`, true)
          }
          hash.update(chunk)
          try {
            await writer.write(chunk)
          } catch (err) {
            res.body.destroy()
            throw writerError(err)
          }
          this.o.onBytes?.(chunk.length)
        }
      } catch (err) {
        if (err instanceof AttemptError) throw err
        // A reset mid-body: keep the partial data, the next attempt resumes it.
        throw new AttemptError(
          `the connection broke mid-download (${(err as Error).message})`,
          true,
          'NETWORK',
        )
      }
      if (received !== remaining) {
        // Short: keep the partial data to resume.
        throw new AttemptError(
          `size mismatch: got ${task.size - remaining + received} of ${task.size} bytes`,
          true,
        )
      }
      // The request is over; what is left is the destination's (fsync and rename; an upload's end).
      bodyDone()
      const sha256 = hash.digest('hex')
      try {
        await writer.commit({ size: task.size, sha256 })
      } catch (err) {
        throw writerError(err)
      }
      committed = true
      return { bytes: task.size, sha256 }
    } finally {
      if (!committed) await writer.abort(keep).catch(() => undefined)
    }
  }
}

const REMEDIATION: Partial<Record<AttemptError['code'], string>> = {
  DISK: 'Free disk space or fix permissions on the download directory, then run again.',
  DESTINATION:
    'The destination failed the write after retries; this file is retried on the next run. If it repeats, check the storage (status, bucket, endpoint).',
  DESTINATION_AUTH:
    'The destination refused the credentials or the access: check them and their permissions on the bucket and prefix; the next run continues.',
}

/**
 * A destination's error as an attempt's: DISK stays DISK (not retried; a full disk stops the run),
 * DESTINATION_AUTH stops the run, anything else from a writer is retried like a network failure.
 */
function writerError(err: unknown): AttemptError {
  if (err instanceof AttemptError) return err
  const name = (err as Error | null)?.name
  if (name === 'AbortError') return new AttemptError('the run was cancelled', false, 'STOPPED')
  if (isAppError(err, 'DISK')) {
    const e = new AttemptError(err.message, false, 'DISK')
    ;(e as { cause?: unknown }).cause = err.cause ?? err
    return e
  }
  if (isAppError(err, 'DESTINATION_AUTH')) return new AttemptError(err.message, false, 'DESTINATION_AUTH')
  if (isFsError(err)) return diskError(err)
  const message = (err as Error | null)?.message ?? String(err)
  return new AttemptError(message, true, 'DESTINATION')
}

function isFsError(err: unknown): boolean {
  const e = err as { syscall?: string; code?: string } | null
  return Boolean(
    e?.syscall && ['open', 'write', 'close', 'fsync', 'rename', 'utime', 'mkdir'].includes(e.syscall),
  )
}

function diskError(err: unknown): AttemptError {
  const code = (err as { code?: string } | null)?.code ?? 'unknown'
  const e = new AttemptError(`disk error (${code})`, false, 'DISK')
  ;(e as { cause?: unknown }).cause = err
  return e
}

function asAttemptError(err: unknown): AttemptError {
  if (err instanceof AttemptError) return err
  const name = (err as Error | null)?.name
  if (name === 'AbortError') return new AttemptError('the run was cancelled', false, 'STOPPED')
  return new AttemptError((err as Error | null)?.message ?? String(err), false)
}
