/**
 * `verify`: re-hash every downloaded file against the SHA-256 in the state file beside the photos
 * and list what is missing or damaged. No sign-in, unless `--repair`: then damaged files are moved
 * aside (`<name>.damaged`, never deleted) and a sync in the same run downloads them again.
 */
import { loadConfig } from '../config/index.js'
import { verifyAndPrint, verifyFailed } from '../photos/verify.js'
import { cliLog, ExitCode, line, UsageError, type CliIo } from './io.js'
import { resolveConfig } from './options.js'
import { sync } from './sync.js'

export interface VerifyOptions extends Record<string, unknown> {
  directory?: string
  config?: string
  repair?: boolean
  verbose?: boolean
}

export async function verify(opts: VerifyOptions, io: CliIo): Promise<number> {
  // With --repair the sync needs a full config: check it before anything is moved.
  const config = opts.repair
    ? await resolveConfig(opts)
    : typeof opts.config === 'string'
      ? await loadConfig(opts.config)
      : undefined
  if (opts.repair && (opts.dryRun || config?.photos.dryRun))
    throw new UsageError(
      '--repair and --dry-run exclude each other: a dry run writes nothing, a repair downloads.',
    )
  const directory = opts.directory ?? config?.photos.directory
  if (!directory)
    throw new UsageError('--directory is required (or `photos.directory` in the --config file).')
  const log = cliLog(io, Boolean(opts.verbose))
  const print = (l: string) => line(io.stdout, l)
  const result = await verifyAndPrint({
    directory,
    repair: opts.repair,
    log,
    print: { problem: print, summary: print },
  })
  if (result.problems.length === 0) return ExitCode.Ok
  if (!opts.repair) throw verifyFailed(directory, result)
  for (const m of result.movedAside) line(io.stdout, `moved aside: ${m}`)
  line(io.stdout, `Downloading ${result.problems.length} file(s) again…`)
  return sync(opts, io)
}
