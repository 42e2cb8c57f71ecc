/**
 * `sync`: the action's photos engine on this machine — sign in (prompting when needed, as icloudpd
 * does), then download, with a progress bar on a terminal. The incremental state lives in the file
 * beside the photos (the engine reads and writes it), not in a cache blob.
 *
 * While downloading, SIGINT/SIGTERM (Ctrl-C) stop it cleanly: no new download starts, the ones in
 * flight are kept as `.part`, the state is saved, and the exit code is 130/143. A second signal
 * exits at once (the state file is replaced atomically, so the last save stands).
 */
import path from 'node:path'
import { tmpdir } from 'node:os'
import { SecretEnv } from '../config/index.js'
import { isS3, openDestination } from '../destinations/open.js'
import { createPhotosEngine } from '../photos/engine.js'
import { createProgress } from '../photos/progress.js'
import { command, hint } from './format.js'
import { photosOutcome } from '../photos/outcome.js'
import { describeListing, type FileProblem } from '../photos/sync.js'
import { Cancellation, listenToProcessSignals } from '../util/signals.js'
import { cliLog, ExitCode, inCi, line, UsageError, type CliIo } from './io.js'
import { resolveConfig } from './options.js'
import { cliSignIn } from './signin.js'

export interface SyncOptions extends Record<string, unknown> {
  password?: string
  verbose?: boolean
  /** icloudpd --only-print-filenames: a dry run whose stdout is the paths it would download. */
  onlyPrintFilenames?: boolean
  /** icloudpd --log-level: debug (= --verbose), info, error (errors only). */
  logLevel?: 'debug' | 'info' | 'error'
  /** false with --no-progress-bar. */
  progressBar?: boolean
}

export async function sync(opts: SyncOptions, io: CliIo): Promise<number> {
  const config = await resolveConfig(opts)
  const s3 = isS3(config.photos)
  if (!config.photos.directory && !s3)
    throw new UsageError('--directory is required (or `photos.directory` in the --config file).')
  const onlyNames = opts.onlyPrintFilenames === true
  if (onlyNames) config.photos.dryRun = true
  const level = opts.logLevel ?? (opts.verbose ? 'debug' : 'info')
  const log = cliLog(io, level === 'debug', level === 'error')
  // A bucket: credentials from the AWS environment; its state object sealed with the session key when one is set.
  const destination = await openDestination(config.photos, {
    log,
    sessionKey: io.env[SecretEnv.SessionKey] || undefined,
  })
  const directory = s3 ? destination.label : config.photos.directory!
  const auth = await cliSignIn(config, io, { password: opts.password, log })
  try {
    const engine = createPhotosEngine(auth, config.photos)
    const progress = createProgress({
      tty: io.stderr.isTTY === true && !inCi(io.env) && opts.progressBar !== false,
      stream: io.stderr,
      log: (l) => log.info(l),
    })
    const cancel = new Cancellation()
    const unlisten = listenToProcessSignals(cancel)
    try {
      const result = await engine.sync({
        directory: s3 ? tmpdir() : directory,
        destination,
        log,
        progress: (p) => progress.update(p),
        signal: cancel.signal,
      })
      progress.stop()
      // icloudpd prints `directory/<folder>/<name>` for each file it would download, and nothing else.
      if (onlyNames)
        for (const rel of result.newFiles)
          line(
            io.stdout,
            s3 ? `${directory.replace(/\/$/, '')}/${rel}` : path.join(directory, ...rel.split('/')),
          )
      const verb = config.photos.dryRun ? 'would download' : 'downloaded'
      line(
        onlyNames ? io.stderr : io.stdout,
        `Photos in ${directory}: ${result.downloaded} ${verb}, ${result.skipped} already there, ${result.failed} failed (listing: ${describeListing(result)}).`,
      )
      listFailures(io, result.failures)
      if (result.deleted.length || result.deleteFailed || result.autoDeleted.length) {
        const dry = config.photos.dryRun ? 'would be ' : ''
        line(
          io.stdout,
          `Deletions: ${result.deleted.length} asset(s) ${dry}moved to Recently Deleted in iCloud` +
            `${result.deleteFailed ? ` (${result.deleteFailed} refused or failed, kept in iCloud)` : ''}, ` +
            `${result.autoDeleted.length} file(s) ${dry}deleted from the backup (auto-delete).`,
        )
      }
      if (cancel.requested) {
        line(io.stderr, `error [CANCELLED]: stopped by ${cancel.received}; the state is saved.`)
        hint(io.stderr, `run ${command('sync …')} again to continue where it stopped.`)
        return cancel.exitCode!
      }
      const outcome = photosOutcome(result, {
        allowPartial: config.photos.allowPartialBackup,
        rerun: 'the next `sync`',
        directory,
      })
      if (outcome.status === 'failed' && outcome.error) throw outcome.error
      if (outcome.status === 'failed') {
        line(io.stderr, `error: ${outcome.note ?? 'the sync did not finish.'}`)
        return ExitCode.Error
      }
      if (outcome.error) line(io.stderr, `warning [${outcome.error.code}]: ${outcome.error.describe()}`)
      if (outcome.note) line(onlyNames ? io.stderr : io.stdout, outcome.note)
      return ExitCode.Ok
    } finally {
      unlisten()
      progress.stop()
      await engine.close()
    }
  } finally {
    await auth.session.close()
  }
}

/** Every file not backed up, one per line on stderr (`failed after 4 attempts: HTTP 500`). */
function listFailures(io: CliIo, failures: FileProblem[]): void {
  if (!failures.length) return
  line(io.stderr, `Not backed up (${failures.length}):`)
  for (const f of failures) {
    const why = f.detail ? `${f.reason}: ${f.detail}` : f.reason
    line(
      io.stderr,
      `  ${f.relPath || `asset ${f.assetId}`}  (${why}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`,
    )
  }
}
