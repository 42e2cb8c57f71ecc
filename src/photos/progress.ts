/**
 * Progress of a photos sync: a cli-progress bar on a TTY; in CI (no TTY) an interval-driven log line
 * every few seconds with counts, bytes and throughput. Both stop cleanly.
 */
import cliProgress from 'cli-progress'
import type { Log } from '../core/log.js'

export type PhotosLog = Pick<Log, 'info' | 'warning'> & Partial<Pick<Log, 'debug'>>

export interface ProgressSnapshot {
  /** Assets seen in the listing so far, and the total when known. */
  listed: number
  total?: number
  downloaded: number
  skipped: number
  failed: number
  bytes: number
}

export interface ProgressReporter {
  update(p: ProgressSnapshot): void
  stop(): void
}

export interface ProgressOptions {
  /** Default: process.stderr.isTTY. */
  tty?: boolean
  /** Non-TTY line interval (default 5 s). */
  intervalMs?: number
  log: (line: string) => void
  stream?: NodeJS.WritableStream
  now?: () => number
}

export function humanBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`
}

/** One human line: `listed 1200/5000, downloaded 300 (12.0 MB, 2.1 MB/s), skipped 900, failed 0`. */
export function progressLine(p: ProgressSnapshot, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (p.bytes / elapsedMs) * 1000 : 0
  const listed = p.total === undefined ? `${p.listed}` : `${p.listed}/${p.total}`
  return (
    `photos: listed ${listed}, downloaded ${p.downloaded} (${humanBytes(p.bytes)}, ${humanBytes(rate)}/s), ` +
    `skipped ${p.skipped}, failed ${p.failed}`
  )
}

export function createProgress(o: ProgressOptions): ProgressReporter {
  const now = o.now ?? Date.now
  const start = now()
  let last: ProgressSnapshot = { listed: 0, downloaded: 0, skipped: 0, failed: 0, bytes: 0 }
  const tty = o.tty ?? Boolean(process.stderr.isTTY)

  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        stream: o.stream ?? process.stderr,
        format:
          'photos [{bar}] {value}/{total} | new {downloaded} | skipped {skipped} | failed {failed} | {mb}',
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    )
    bar.start(0, 0, { downloaded: 0, skipped: 0, failed: 0, mb: '0 B' })
    return {
      update(p) {
        last = p
        bar.setTotal(p.total ?? Math.max(p.listed, 1))
        bar.update(p.listed, {
          downloaded: p.downloaded,
          skipped: p.skipped,
          failed: p.failed,
          mb: humanBytes(p.bytes),
        })
      },
      stop() {
        bar.stop()
      },
    }
  }

  let printed = ''
  const tick = (): void => {
    const line = progressLine(last, now() - start)
    // No news, no line: a quiet CI log for a long listing of existing files still ticks on `listed`.
    if (line !== printed) o.log(line)
    printed = line
  }
  const timer = setInterval(tick, o.intervalMs ?? 5000)
  timer.unref()
  return {
    update(p) {
      last = p
    },
    stop() {
      clearInterval(timer)
    },
  }
}
