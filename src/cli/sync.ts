/**
 * `sync`: the action's photos engine on this machine — sign in (prompting when needed, as icloudpd
 * does), then download, with a progress bar on a terminal. The incremental state lives in the file
 * beside the photos (the engine reads and writes it), not in a cache blob.
 *
 * While downloading, SIGINT/SIGTERM (Ctrl-C) stop it cleanly: no new download starts, the ones in
 * flight are kept as `.part`, the state is saved, and the exit code is 130/143. A second signal
 * exits at once (the state file is replaced atomically, so the last save stands).
 */
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
}

export async function sync(opts: SyncOptions, io: CliIo): Promise<number> {
  const config = await resolveConfig(opts)
  const s3 = isS3(config.photos)
  if (!config.photos.directory && !s3)
    throw new UsageError('--directory is required (or `photos.directory` in the --config file).')
  const log = cliLog(io, Boolean(opts.verbose))
  // A bucket: credentials from the AWS environment; its state object sealed with the session key when one is set.
  const destination = openDestination(config.photos, {
    log,
    sessionKey: io.env[SecretEnv.SessionKey] || undefined,
  })
  const directory = s3 ? destination.label : config.photos.directory!
  const auth = await cliSignIn(config, io, { password: opts.password, log })
  try {
    const engine = createPhotosEngine(auth, config.photos)
    const progress = createProgress({
      tty: io.stderr.isTTY === true && !inCi(io.env),
      stream: io.stderr,
      log: (l) => line(io.stderr, l),
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
      const verb = config.photos.dryRun ? 'would download' : 'downloaded'
      line(
        io.stdout,
        `Photos in ${directory}: ${result.downloaded} ${verb}, ${result.skipped} already there, ${result.failed} failed (listing: ${describeListing(result)}).`,
      )
      listFailures(io, result.failures)
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
      if (outcome.note) line(io.stdout, outcome.note)
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
