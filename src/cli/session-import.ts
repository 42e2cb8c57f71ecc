/**
 * `session import`: the reverse of `session export` — open a blob (file or stdin) with its key and
 * repository and write the session files into the cookie directory. A session already there is
 * moved aside first, never overwritten.
 */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { readSessionFiles, writeSessionFiles } from '../icloud/session-files.js'
import { AppError } from '../core/errors.js'
import { loadSession, moveSessionAside, sessionPaths } from '../icloud/session-store.js'
import { estimateTrust } from '../icloud/trust.js'
import { decodeExport, decryptBundle } from '../session-cache/blob.js'
import { describeTrust } from './format.js'
import { ExitCode, line, UsageError, type CliIo, type Input } from './io.js'
import { resolveConfig } from './options.js'
import { checkRepo, readKey } from './session-export.js'

export interface ImportOptions extends Record<string, unknown> {
  repo?: string
  key?: string
  keyFile?: string
}

async function readAll(input: Input): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of input as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks).toString('utf8')
}

export async function sessionImport(source: string, opts: ImportOptions, io: CliIo): Promise<number> {
  const repo = checkRepo(opts.repo)
  const config = await resolveConfig(opts)
  const username = config.account.username
  const dir = config.auth.cookieDirectory
  const key = await readKey(opts, io)
  if (!key) throw new UsageError('--key-file is required: the file holding the ICLOUD_SESSION_KEY value.')
  let text: string
  try {
    text = source === '-' ? await readAll(io.stdin) : await readFile(source, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read ${source} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`)
  }
  const bundle = decryptBundle(decodeExport(text), key.key, repo)

  const paths = sessionPaths(dir, username)
  const mine = [basename(paths.jarPath), basename(paths.sessionPath)]
  if (!mine.some((name) => bundle.files[name])) {
    const has = Object.keys(bundle.files)
    throw new AppError(
      'SESSION_INVALID',
      `The exported session holds no session for ${username}${has.length ? ` (it has: ${has.join(', ')})` : ''}.`,
      'Import it with the --username it was exported for.',
    )
  }
  if (Object.keys(await readSessionFiles(dir, username)).length) {
    const moved = await moveSessionAside(dir, username, new Date(io.now()))
    line(io.stderr, `The existing session was moved aside: ${moved.join(', ')}`)
  }
  const n = await writeSessionFiles(dir, username, bundle.files)
  const loaded = await loadSession(dir, username)
  const trust = estimateTrust(await loaded.jar.store.getAllCookies(), loaded.data, io.now())
  line(io.stdout, `Imported the session for ${username} into ${paths.dir} (${n} file${n === 1 ? '' : 's'}).`)
  line(io.stdout, describeTrust(trust))
  return ExitCode.Ok
}
