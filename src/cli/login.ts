/**
 * `login`: sign in on this machine (password from the ordered providers, 2FA code on the console or
 * the web page), write the pyicloud-compatible session, and say how long the trust lasts.
 */
import { rm } from 'node:fs/promises'
import { basename } from 'node:path'
import { readSessionFiles, writeSessionFiles } from '../action/session-files.js'
import { sessionPaths } from '../icloud/session-store.js'
import { describeTrust } from './format.js'
import { cliLog, ExitCode, line, type CliIo } from './io.js'
import { resolveConfig } from './options.js'
import { cliSignIn } from './signin.js'

export interface LoginOptions extends Record<string, unknown> {
  password?: string
  force?: boolean
  verbose?: boolean
}

export async function login(opts: LoginOptions, io: CliIo): Promise<number> {
  const config = await resolveConfig(opts)
  const username = config.account.username
  const dir = config.auth.cookieDirectory
  const log = cliLog(io, Boolean(opts.verbose))

  // --force: a sign-in with a new code renews the trust; a stored session would be reused instead.
  // Keep the old files in memory so a failed sign-in puts them back.
  const previous = opts.force ? await readSessionFiles(dir, username) : {}
  if (opts.force) {
    const files = sessionPaths(dir, username)
    await rm(files.jarPath, { force: true })
    await rm(files.sessionPath, { force: true })
  }

  let auth
  try {
    auth = await cliSignIn(config, io, { password: opts.password, log })
  } catch (err) {
    if (Object.keys(previous).length) {
      await writeSessionFiles(dir, username, previous)
      log.info('The previous session files were put back.')
    }
    throw err
  }
  try {
    const files = sessionPaths(dir, username)
    if (auth.method === 'srp') line(io.stdout, `Signed in as ${username}.`)
    else line(io.stdout, `The stored session for ${username} is still valid; no password or code was needed.`)
    line(
      io.stdout,
      `Session saved in ${files.dir} (${basename(files.jarPath)}, ${basename(files.sessionPath)}).`,
    )
    line(io.stdout, describeTrust(auth.trust))
    if (auth.method !== 'srp')
      line(io.stdout, 'To renew the trust now (a new 2FA code), run `login --force`.')
    line(
      io.stdout,
      `For GitHub Actions: npx icloud-photos-action session export --username ${username} --repo <owner/name>`,
    )
    return ExitCode.Ok
  } finally {
    await auth.session.close()
  }
}
