/**
 * `mode: list`: icloudpd's `--list-libraries` and `--list-albums` in a workflow — the account's
 * libraries (both databases) and the albums of `photos.library`, for the job summary, the `list`
 * output and the report. Nothing is downloaded.
 */
import type { Config } from '../config/index.js'
import type { AuthResult } from '../icloud/auth.js'
import { cloudKitFor } from '../photos/connect.js'
import { albumCatalog, listLibraries, selectLibrary } from '../photos/libraries.js'
import type { Log } from './log.js'
import type { RunReport } from './report.js'

export type Catalog = NonNullable<RunReport['catalog']>

/**
 * Fills `report.catalog`. The libraries are there even when `photos.library` names none of them
 * (the config error that follows lists them too).
 */
export async function runList(auth: AuthResult, config: Config, report: RunReport, log: Log): Promise<void> {
  const client = cloudKitFor(auth)
  const found = await listLibraries(client)
  for (const u of found.unavailable) log.warning(`The ${u.scope} database could not be listed: ${u.reason}`)
  const library = config.photos.library
  const catalog: Catalog = {
    libraries: found.libraries.map((l) => ({ name: l.name, database: l.scope })),
    library,
    albums: [],
  }
  report.catalog = catalog
  const albums = await albumCatalog(client, await selectLibrary(client, library))
  catalog.albums = albums.map((a) => ({ name: a.name, kind: a.kind }))
  log.info(
    `${catalog.libraries.length} librar${catalog.libraries.length === 1 ? 'y' : 'ies'}; ${albums.length} albums in ${library}.`,
  )
}
