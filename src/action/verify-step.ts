/**
 * `mode: verify`: re-hash the files of the download directory against the state file beside them
 * (self-hosted runners; a hand-off directory has no state file and nothing to verify). Without
 * `repair` nothing signs in and problems fail the run (VERIFY_FAILED); with `repair` damaged files
 * are moved aside and the sync that follows in the same run downloads them again.
 */
import { verifyAndPrint, verifyFailed } from '../photos/verify.js'
import type { Config } from '../config/index.js'
import { AppError } from '../core/errors.js'
import type { Log } from './log.js'
import type { RunReport, VerifySummary } from './report.js'

/** Fills `report.verify` (also when the check fails, so the report lists the files). */
export async function runVerify(config: Config, repair: boolean, log: Log, report: RunReport): Promise<void> {
  const directory = config.photos.directory!
  if (repair && config.photos.dryRun) {
    throw new AppError(
      'CONFIG_INVALID',
      '`repair: true` and a dry run exclude each other: a dry run writes nothing, a repair downloads.',
      'Set `dry-run: false` (or leave `photos.dry-run` unset) to repair, or drop `repair` to only check.',
    )
  }
  const result = await verifyAndPrint({
    directory,
    repair,
    log,
    print: { problem: (l) => log.warning(l), summary: (l) => log.info(l) },
  })
  const summary: VerifySummary = {
    files: result.files,
    hashed: result.hashed,
    unhashed: result.unhashed,
    problems: result.problems.map((p) => p.file.relPath),
    movedAside: result.movedAside,
  }
  report.verify = summary
  if (result.problems.length && !repair) throw verifyFailed(directory, result)
  if (result.problems.length)
    log.info(`Moved aside: ${result.movedAside.join(', ') || 'none'}; syncing to download the files again.`)
}
