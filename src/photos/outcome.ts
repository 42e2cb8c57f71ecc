/**
 * What a sync's result means for the run, the same for the action and the CLI: a run that did not
 * back up everything says so with an error code, unless the owner opted into partial backups; a
 * planned stop (a run budget) is `incomplete`, not a failure.
 */
import { AppError } from '../core/errors.js'
import { directoryError } from './lock.js'
import type { SyncResult } from './sync.js'

export type OutcomeStatus = 'ok' | 'warning' | 'incomplete' | 'failed'

export interface PhotosOutcome {
  status: OutcomeStatus
  /** Set when files are missing (also under allow-partial, where the status is `warning`). */
  error?: AppError
  /** One line for an `incomplete` (or cancelled) run: how many files are left. */
  note?: string
}

export type OutcomeInput = Pick<
  SyncResult,
  'failed' | 'failures' | 'remaining' | 'listingComplete' | 'stopReason' | 'throttled' | 'diskError'
>

/**
 * DISK first (nothing fixes itself there; a disk error in the result with no file listed is the
 * state file), then the error that stopped the run (DISK, DESTINATION_AUTH), then failed downloads
 * (DESTINATION when every one was a write to the destination), then throttling with files left;
 * `allowPartial` turns the last two into `warning`. `rerun` says how the owner runs again.
 */
export function photosOutcome(
  r: OutcomeInput,
  o: { allowPartial?: boolean; rerun?: string; directory?: string } = {},
): PhotosOutcome {
  const rerun = o.rerun ?? 'the next run'
  const left = leftText(r.remaining, r.listingComplete)
  const disk = r.failures.filter((f) => f.reason === 'disk')
  // Files whose write failed carry the errno; the others were left behind when the run stopped.
  const written = disk.filter((f) => f.detail)
  const shown = written.length ? written : disk
  if (shown.length) {
    const first = shown[0]!
    const where = o.directory ?? 'the photos directory'
    // The errno decides the fix (permissions, a file in the way, a full disk).
    const errno = /\b(E[A-Z]{2,})\b/.exec(first.detail ?? '')?.[1]
    const fix = errno
      ? directoryError(where, { code: errno }).remediation
      : 'Free disk space or fix the permissions of the photos directory.'
    return {
      status: 'failed',
      error: new AppError(
        'DISK',
        `${plural(shown.length, 'file')} could not be written in ${where} (${first.relPath}${first.detail ? `: ${first.detail}` : ''}); ${left}.`,
        `${fix} Then run again; ${rerun} continues and nothing downloaded is lost.`,
      ),
    }
  }
  // Every file is there, but the state could not be saved (the disk filled up at the end), or the
  // destination refused the credentials (DESTINATION_AUTH) and the run stopped.
  if (r.diskError)
    return {
      status: 'failed',
      error: new AppError(
        r.diskError.code,
        `${r.diskError.message} ${capital(left)}.`,
        `${r.diskError.remediation} Then run again; ${rerun} continues and nothing downloaded is lost.`,
      ),
    }
  let error: AppError | undefined
  const destination = r.failures.filter((f) => f.reason === 'destination').length
  if (r.failed > 0) {
    // Every failure was the destination's (a bucket failing writes): say where to look.
    error = new AppError(
      destination === r.failed ? 'DESTINATION' : 'DOWNLOAD_FAILED',
      `${plural(r.failed, 'file')} could not be backed up after retries; ${left}.`,
      `${capital(rerun)} retries them; every file is listed in the report. If the same files keep failing, check them in iCloud.`,
    )
  } else if (r.stopReason === 'throttled' && (r.remaining > 0 || !r.listingComplete)) {
    error = new AppError(
      'THROTTLED',
      `Apple throttled the run until it stopped; ${left}.`,
      `${capital(rerun)} continues where this one ended; do not rerun in a loop.`,
    )
  }
  if (error) return { status: o.allowPartial ? 'warning' : 'failed', error }
  if (r.stopReason === 'budget') return { status: 'incomplete', note: `${left}; ${rerun} continues.` }
  // Cancellation sets its own exit code (130/143); it is never a success.
  if (r.stopReason === 'cancelled') return { status: 'failed', note: `The run was cancelled; ${left}.` }
  return { status: 'ok' }
}

function leftText(remaining: number, listingComplete: boolean): string {
  return `${listingComplete ? '' : 'at least '}${plural(remaining, 'file')} left`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
