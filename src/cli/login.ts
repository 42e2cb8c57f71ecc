/**
 * `login`: sign in on this machine (password from the ordered providers, 2FA code on the console or
 * the web page), write the pyicloud-compatible session, and say how long the trust lasts.
 *
 * The sign-in happens in a private scratch directory and its files replace the stored ones only
 * once it succeeded: a wrong password, a code nobody typed or a network error leaves the previous
 * session files byte for byte as they were (and creates none where there were none).
 */
import { constants as fsConstants } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { readSessionFiles, writeSessionFiles } from '../icloud/session-files.js'
import { sessionPaths } from '../icloud/session-store.js'
import { command, describeTrust, hint } from './format.js'
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
  // mkdtemp makes the directory 0700: the session files in it are as private as the real ones.
  const scratch = await mkdtemp(join(tmpdir(), 'icloud-photos-login-'))
  const scratchDir = sessionPaths(scratch, username).dir
  const realDir = sessionPaths(dir, username).dir
  // Messages name the cookie directory the user knows, never the scratch copy.
  const base = cliLog(io, Boolean(opts.verbose))
  const real = (m: string) => m.split(scratchDir).join(realDir)
  const log = {
    info: (m: string) => base.info(real(m)),
    warning: (m: string) => base.warning(real(m)),
    debug: (m: string) => base.debug(real(m)),
  }
  try {
    // Without --force the stored session may still work and is tried first; --force starts empty,
    // so the sign-in asks for a new code and renews the trust.
    if (!opts.force) await writeSessionFiles(scratch, username, await readSessionFiles(dir, username))
    const auth = await cliSignIn({ ...config, auth: { ...config.auth, cookieDirectory: scratch } }, io, {
      password: opts.password,
      log,
    })
    try {
      // An unreadable or rejected session was set aside in the scratch copy: keep those copies
      // beside the real files, under the names the warning gave.
      for (const aside of auth.movedAside ?? [])
        await copyFile(aside, join(realDir, basename(aside)), fsConstants.COPYFILE_EXCL)
      await writeSessionFiles(dir, username, await readSessionFiles(scratch, username))
      const files = sessionPaths(dir, username)
      if (auth.method === 'srp') line(io.stdout, `Signed in as ${username}.`)
      else
        line(io.stdout, `The stored session for ${username} is still valid; no password or code was needed.`)
      line(
        io.stdout,
        `Session saved in ${files.dir} (${basename(files.jarPath)}, ${basename(files.sessionPath)}).`,
      )
      line(io.stdout, describeTrust(auth.trust))
      if (auth.method !== 'srp')
        hint(
          io.stdout,
          `to renew the trust now (a new 2FA code): ${command(`login --force --username ${username}`)}`,
        )
      hint(
        io.stdout,
        `for GitHub Actions: ${command(`session export --username ${username} --repo <owner/name>`)}`,
      )
      return ExitCode.Ok
    } finally {
      await auth.session.close()
    }
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}
