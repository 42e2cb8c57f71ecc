/**
 * Verified downloads with adaptive concurrency. Each file streams to `<final>.part` while SHA-256
 * is computed, is checked against the record's size, fsynced, renamed into place and given the
 * asset's date as mtime/atime — so a killed run leaves at most `.part` files, never a corrupt final.
 *
 * A `.part` left by an earlier run is resumed with `Range` (200 → start over, 416 → discard).
 * Transient failures (5xx, network, truncated or oversized bodies) are retried with exponential
 * backoff and jitter (p-retry); a file that still fails is reported failed and the others carry on.
 * A 503/429 is Apple throttling: the slot waits (Retry-After, else backoff), the number of streams
 * halves (throttle.ts) and the file is tried again; throttle retries do not use up the failure
 * retries — the run's throttle budget bounds them. Cancelling aborts the requests in flight: their
 * `.part` files stay and the next run resumes them.
 */
import { createHash } from 'node:crypto'
import { createReadStream, promises as fs } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import pRetry, { AbortError } from 'p-retry'
import { AppError } from '../core/errors.js'
import type { Log } from '../core/log.js'
import type { HttpClient } from '../icloud/http.js'
import { AdaptiveLimit, parseRetryAfter, START_STREAMS, ThrottleGovernor } from './throttle.js'

export const PART_SUFFIX = '.part'

/**
 * `<final>.part`, unless that would pass the 255-byte name limit (naming allows finals up to it):
 * then a shortened, deterministic name, so a later run still finds the file to resume.
 */
export function partPathFor(fullPath: string): string {
  const dir = path.dirname(fullPath)
  const base = path.basename(fullPath)
  if (Buffer.byteLength(base + PART_SUFFIX) <= 255) return fullPath + PART_SUFFIX
  const tag = createHash('sha256').update(base).digest('hex').slice(0, 12)
  let head = ''
  for (const ch of base) {
    if (Buffer.byteLength(head + ch) > 200) break
    head += ch
  }
  return path.join(dir, `${head}~${tag}${PART_SUFFIX}`)
}

export interface DownloadTask {
  assetId: string
  url: string
  /** POSIX path relative to the download directory (already made safe by naming). */
  relPath: string
  /** Absolute target path (safeJoin of directory and relPath). */
  fullPath: string
  size: number
  /** Asset date (epoch ms) for mtime/atime. */
  mtime: number
  /** The caller saw no `.part` for this file (folder listing): the first attempt skips the stat. */
  noPart?: boolean
}

/** `stopped`: the run stopped (throttle budget, cancel, disk full) before this file was done. */
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
  stopReason?: 'throttled' | 'cancelled' | 'disk'
  /** A failed file: the last attempt's problem in a few words (no URL). */
  detail?: string
}

export interface DownloaderOptions {
  http: HttpClient
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
  /** Called with the number of bytes as they are written (progress). */
  onBytes?: (n: number) => void
}

/** Why one attempt failed, and whether another attempt can help. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: 'DOWNLOAD_FAILED' | 'NETWORK' | 'DISK' | 'THROTTLED' | 'STOPPED' = 'DOWNLOAD_FAILED',
    /** THROTTLED: the server's Retry-After, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EROFS'])

export class Downloader {
  /** Set on a fatal local error (disk full): no new work starts. */
  fatal?: AppError
  /** AIMD stream count: starts at START_STREAMS, never above `threads`. */
  readonly limit: AdaptiveLimit
  readonly governor: ThrottleGovernor
  private pending = 0
  private readonly waiters: Array<() => void> = []
  private readonly dirs = new Set<string>()

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
  get stopReason(): 'throttled' | 'cancelled' | 'disk' | undefined {
    if (this.o.signal?.aborted) return 'cancelled'
    if (this.fatal) return 'disk'
    if (this.governor.exhausted) return 'throttled'
    return undefined
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
    return { task, status: 'stopped', bytes: 0, attempts, stopReason: this.stopReason ?? 'cancelled' }
  }

  private async run(task: DownloadTask): Promise<DownloadOutcome> {
    if (this.stopped) return this.stoppedOutcome(task, 0)
    await this.limit.acquire()
    // The stream slot bounds requests to Apple: it is given back as soon as the body is in, so
    // the fsync and rename of one file overlap the next request.
    let held = true
    const releaseSlot = () => {
      if (!held) return
      held = false
      this.limit.release()
    }
    let attempts = 0
    let throttles = 0
    // A file renamed into place is done, even if a cancel makes p-retry throw afterwards.
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
      // Stopped (throttle budget, cancel, disk full elsewhere): not a failure of this file.
      if (e.code === 'STOPPED' || (this.stopped && e.code !== 'DISK'))
        return this.stoppedOutcome(task, attempts)
      const error = new AppError(
        e.code === 'THROTTLED' ? 'DOWNLOAD_FAILED' : e.code,
        `Could not download ${task.relPath}: ${e.message}.`,
        e.code === 'DISK'
          ? 'Free disk space or fix permissions on the download directory, then run again.'
          : 'This file is retried on the next run; the rest of the library is unaffected.',
        { cause: err },
      )
      if (
        e.code === 'DISK' &&
        DISK_FULL.has(String((err as { cause?: { code?: string } }).cause?.code ?? ''))
      ) {
        this.fatal ??= error
      }
      this.o.log?.warning(`photos: ${error.message}`)
      return { task, status: 'failed', bytes: 0, error, attempts, detail: e.message }
    } finally {
      releaseSlot()
    }
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.dirs.has(dir)) return
    await fs.mkdir(dir, { recursive: true })
    this.dirs.add(dir)
  }

  /** One attempt: resume or start the `.part`, stream, verify, fsync, rename, set times. */
  private async attempt(
    task: DownloadTask,
    skipPartStat: boolean,
    bodyDone: () => void,
  ): Promise<{ bytes: number; sha256: string }> {
    const part = partPathFor(task.fullPath)
    try {
      await this.ensureDir(path.dirname(task.fullPath))
    } catch (err) {
      throw diskError(err)
    }
    let start = 0
    const st = skipPartStat ? undefined : await fs.stat(part).catch(() => undefined)
    if (st && st.isFile() && st.size > 0 && st.size < task.size) start = st.size
    else if (st) await fs.rm(part, { force: true })

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
      throw new AttemptError(`HTTP ${status}`, false, 'THROTTLED', parseRetryAfter(res.header('retry-after')))
    }
    if (status === 416) {
      // The .part is not a prefix the server recognises: start from scratch.
      res.body.resume()
      await fs.rm(part, { force: true })
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
        await fs.rm(part, { force: true })
        throw new AttemptError('the server resumed at the wrong offset', true)
      }
      try {
        for await (const chunk of createReadStream(part, { end: start - 1 })) hash.update(chunk as Buffer)
      } catch (err) {
        res.body.resume()
        throw diskError(err)
      }
      append = true
    }
    // A declared length that cannot add up to the record's size is refused before anything is written.
    const remaining = task.size - (append ? start : 0)
    const declared = Number(res.header('content-length') ?? NaN)
    if (Number.isFinite(declared) && declared !== remaining) {
      res.body.resume()
      if (!append) await fs.rm(part, { force: true })
      throw new AttemptError(`size mismatch: the server announced ${declared} of ${remaining} bytes`, true)
    }
    // 200 to a ranged request: the server sends the whole file, so the .part starts over.
    // A plain loop over the body and one FileHandle: far less per-file garbage than stream pipelines
    // (which matters for peak memory across 100k files).
    let fh: FileHandle
    try {
      fh = await fs.open(part, append ? 'a' : 'w')
    } catch (err) {
      res.body.resume()
      throw diskError(err)
    }
    let received = 0
    try {
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          received += chunk.length
          if (received > remaining) {
            res.body.destroy()
            await fh.close().catch(() => undefined)
            await fs.rm(part, { force: true })
            throw new AttemptError(`the server sent more than the expected ${task.size} bytes`, true)
          }
          hash.update(chunk)
          await writeAll(fh, chunk)
          this.o.onBytes?.(chunk.length)
        }
      } catch (err) {
        if (err instanceof AttemptError) throw err
        if (isFsError(err)) throw diskError(err)
        // A reset mid-body: keep the .part, the next attempt resumes it.
        throw new AttemptError(
          `the connection broke mid-download (${(err as Error).message})`,
          true,
          'NETWORK',
        )
      }
      if (received !== remaining) {
        // Short: keep the .part to resume.
        throw new AttemptError(
          `size mismatch: got ${task.size - remaining + received} of ${task.size} bytes`,
          true,
        )
      }
      // The request is over; what is left is local and can only fail as a disk error (no retry).
      bodyDone()
      try {
        await fh.sync()
        const t = new Date(task.mtime)
        await fh.utimes(t, t)
      } catch (err) {
        throw diskError(err)
      }
    } finally {
      await fh.close().catch(() => undefined)
    }
    try {
      await fs.rename(part, task.fullPath)
    } catch (err) {
      throw diskError(err)
    }
    return { bytes: task.size, sha256: hash.digest('hex') }
  }
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off)
    off += bytesWritten
  }
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

/** Every `.part` file under `directory` (after a killed run), to resume or remove. */
export async function findPartFiles(directory: string): Promise<string[]> {
  let entries: string[]
  try {
    entries = await fs.readdir(directory, { recursive: true })
  } catch {
    return []
  }
  return entries.filter((e) => e.endsWith(PART_SUFFIX)).map((e) => path.join(directory, e))
}
