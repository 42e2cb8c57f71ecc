/**
 * `session reset`: icloudpd's "delete the .pyicloud folder" advice, done safely — the session files
 * are renamed to `<name>.broken-<timestamp>` (kept for inspection) so the next sign-in starts clean.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expandCookieDirectory, moveSessionAside } from '../icloud/session-store.js'
import { ExitCode, line, type CliIo } from './io.js'
import { resolveConfig } from './options.js'

export interface ResetOptions extends Record<string, unknown> {
  username?: string
  cookieDirectory?: string
  config?: string
}

const DEFAULT_COOKIE_DIRECTORY = '~/.pyicloud'

export async function sessionReset(opts: ResetOptions, io: CliIo): Promise<number> {
  let dir: string
  let accounts: string[]
  if (opts.username || opts.config) {
    const config = await resolveConfig(opts)
    dir = config.auth.cookieDirectory
    accounts = [config.account.username]
  } else {
    dir = expandCookieDirectory(opts.cookieDirectory ?? DEFAULT_COOKIE_DIRECTORY)
    accounts = await sessionsIn(dir)
  }
  const moved: string[] = []
  for (const account of accounts) moved.push(...(await moveSessionAside(dir, account, new Date(io.now()))))
  if (!moved.length) {
    const whose = opts.username ? ` for ${opts.username}` : ''
    line(io.stdout, `No session files${whose} in ${expandCookieDirectory(dir)}; nothing to reset.`)
    return ExitCode.Ok
  }
  line(io.stdout, 'Moved the session files aside (kept for inspection; delete them when you like):')
  for (const m of moved) line(io.stdout, `  ${m}`)
  line(io.stdout, 'The next `login` (or action run) signs in fresh.')
  return ExitCode.Ok
}

/**
 * Base names of the sessions in a cookie directory: every `<b>.session`, and every LWP cookie jar
 * `<b>`. Base names are already reduced to word characters, so they work as the Apple ID argument.
 */
async function sessionsIn(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const bases = new Set<string>()
  for (const name of names) {
    if (name.startsWith('.') || name.includes('.broken-')) continue
    if (/^[\p{L}\p{N}_]+\.session$/u.test(name)) bases.add(name.slice(0, -'.session'.length))
    else if (/^[\p{L}\p{N}_]+$/u.test(name) && (await isLwpJar(join(dir, name)))) bases.add(name)
  }
  return [...bases].sort()
}

async function isLwpJar(file: string): Promise<boolean> {
  try {
    return (await readFile(file, 'utf8')).startsWith('#LWP-Cookies-2.0')
  } catch {
    return false
  }
}
