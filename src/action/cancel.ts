/**
 * A run stopped by SIGINT/SIGTERM: status `failed`, error code CANCELLED, exit 130/143 (main.ts
 * sets it). No notification: the job was cancelled by someone or by its timeout, which GitHub
 * already shows, and the next run continues from the checkpoint.
 */
import { AppError } from '../core/errors.js'
import type { Cancellation } from '../util/signals.js'
import type { ActionLog } from './log.js'
import type { RunReport } from './report.js'

export function cancelledError(c: Cancellation): AppError {
  return new AppError(
    'CANCELLED',
    `The run was cancelled (${c.received ?? 'signal'}) before it finished.`,
    'Files already downloaded are kept and the state is saved; the next run continues with the rest.',
  )
}

export function throwIfCancelled(c: Cancellation | undefined): void {
  if (c?.requested) throw cancelledError(c)
}

export function cancelledRun(c: Cancellation, report: RunReport, log: ActionLog): void {
  const e = cancelledError(c)
  report.status = 'failed'
  report.errorCode = e.code
  report.message = e.describe()
  if (report.photos) {
    log.info(
      `Cancelled after ${report.photos.downloaded} file(s) were downloaded; the rest is left for the next run.`,
    )
  }
  log.fail(`[${e.code}] ${e.describe()}`)
}
