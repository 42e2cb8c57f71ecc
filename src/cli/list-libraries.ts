/**
 * `list-libraries` (icloudpd `--list-libraries`): the libraries of both databases, one zone name
 * per line (what `--library` takes), or as JSON with `--json`.
 */
import { cloudKitFor } from '../photos/connect.js'
import { listLibraries } from '../photos/libraries.js'
import { cliLog, ExitCode, line, type CliIo } from './io.js'
import type { ListOptions } from './list-albums.js'
import { resolveConfig } from './options.js'
import { cliSignIn } from './signin.js'

export async function listLibrariesCommand(opts: ListOptions, io: CliIo): Promise<number> {
  const config = await resolveConfig(opts)
  const log = cliLog(io, Boolean(opts.verbose))
  const auth = await cliSignIn(config, io, { password: opts.password, log })
  try {
    const found = await listLibraries(cloudKitFor(auth))
    for (const u of found.unavailable) log.warning(`The ${u.scope} database could not be listed: ${u.reason}`)
    if (opts.json) {
      const libraries = found.libraries.map((l) => ({ name: l.name, database: l.scope }))
      line(io.stdout, JSON.stringify({ libraries }, null, 2))
    } else for (const l of found.libraries) line(io.stdout, l.name)
    return ExitCode.Ok
  } finally {
    await auth.session.close()
  }
}
