/**
 * `list-albums` (icloudpd `--list-albums`): the albums of the selected library — icloudpd's smart
 * folders, then the user albums — one per line after `Albums:`, or as JSON with `--json`.
 */
import { cloudKitFor } from '../photos/connect.js'
import { albumCatalog, selectLibrary } from '../photos/libraries.js'
import { cliLog, ExitCode, line, type CliIo } from './io.js'
import { resolveConfig } from './options.js'
import { cliSignIn } from './signin.js'

export interface ListOptions extends Record<string, unknown> {
  password?: string
  verbose?: boolean
  json?: boolean
}

export async function listAlbums(opts: ListOptions, io: CliIo): Promise<number> {
  const config = await resolveConfig(opts)
  const log = cliLog(io, Boolean(opts.verbose))
  const auth = await cliSignIn(config, io, { password: opts.password, log })
  try {
    const client = cloudKitFor(auth)
    const library = config.photos.library
    const albums = await albumCatalog(client, await selectLibrary(client, library))
    if (opts.json) {
      const out = { library, albums: albums.map((a) => ({ name: a.name, kind: a.kind })) }
      line(io.stdout, JSON.stringify(out, null, 2))
    } else {
      line(io.stdout, 'Albums:')
      for (const a of albums) line(io.stdout, a.name)
    }
    return ExitCode.Ok
  } finally {
    await auth.session.close()
  }
}
