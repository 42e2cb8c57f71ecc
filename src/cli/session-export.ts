/**
 * `session export`: the session files, encrypted and bound to one repository in exactly the format
 * the action's cache and `session` input use, written to 0600 files with the `gh secret set`
 * commands to store them. The blob and key are never printed.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { readSessionFiles } from '../icloud/session-files.js'
import { SecretEnv } from '../config/index.js'
import { AppError } from '../core/errors.js'
import { loadSession } from '../icloud/session-store.js'
import { writeFileAtomic } from '../util/atomic.js'
import { estimateTrust } from '../icloud/trust.js'
import { encodeExport, encryptBundle, generateSessionKey } from '../session-cache/blob.js'
import { command, describeTrust, hint } from './format.js'
import { ExitCode, line, UsageError, type CliIo } from './io.js'
import { resolveConfig } from './options.js'

export interface ExportOptions extends Record<string, unknown> {
  repo?: string
  key?: string
  keyFile?: string
  out?: string
}

/** The action's default `notifications.warn-days`: a session this close to expiry is worth renewing first. */
const EXPORT_WARN_DAYS = 7

const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/

export function checkRepo(repo: string | undefined): string {
  if (!repo)
    throw new UsageError('--repo owner/name is required: the session is encrypted for that repository only.')
  if (!REPO.test(repo)) throw new UsageError(`--repo must look like owner/name (got \`${repo}\`).`)
  return repo
}

/** The session key from --key-file, --key or ICLOUD_SESSION_KEY, and where it came from. */
export async function readKey(
  opts: { key?: string; keyFile?: string },
  io: CliIo,
): Promise<{ key: string; from: 'file' | 'flag' | 'env' } | undefined> {
  if (opts.keyFile) {
    let text: string
    try {
      text = await readFile(opts.keyFile, 'utf8')
    } catch (err) {
      throw new UsageError(
        `--key-file: cannot read ${opts.keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
      )
    }
    if (!text.trim()) throw new UsageError(`--key-file: ${opts.keyFile} is empty.`)
    return { key: text.trim(), from: 'file' }
  }
  if (opts.key?.trim()) return { key: opts.key.trim(), from: 'flag' }
  const env = io.env[SecretEnv.SessionKey]?.trim()
  if (env) return { key: env, from: 'env' }
  return undefined
}

/** A path as it can be pasted into a POSIX shell. */
export function shellQuote(p: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`
}

export async function sessionExport(opts: ExportOptions, io: CliIo): Promise<number> {
  const repo = checkRepo(opts.repo)
  const config = await resolveConfig(opts)
  const username = config.account.username
  const dir = config.auth.cookieDirectory
  const files = await readSessionFiles(dir, username)
  const signIn = `sign in first: ${command(`login --username ${username}`)}, then export again.`
  if (!Object.keys(files).length) {
    throw new AppError('SESSION_INVALID', `There is no session for ${username} in ${dir}.`, signIn)
  }
  const loaded = await loadSession(dir, username)
  if (loaded.status === 'broken') {
    throw new AppError(
      'SESSION_INVALID',
      `The session for ${username} cannot be read: ${loaded.problem}.`,
      `Run ${command(`session reset --username ${username}`)} and ${command(`login --username ${username}`)}, then export again.`,
    )
  }
  // Only a 2FA-trusted session is worth a secret: anything else would make the first scheduled
  // run fail with MFA_REQUIRED. Nothing is written before this check.
  const trust = estimateTrust(await loaded.jar.store.getAllCookies(), loaded.data, io.now())
  if (!trust.trusted) {
    throw new AppError(
      'SESSION_INVALID',
      `The session for ${username} in ${dir} is not 2FA-trusted (it holds no trust cookie: a sign-in that did not finish?), so the action could not use it.`,
      signIn,
    )
  }
  if (trust.daysRemaining !== undefined && trust.daysRemaining < 0) {
    throw new AppError(
      'SESSION_INVALID',
      `The session for ${username} can no longer be used: ${describeTrust(trust)}`,
      `Renew it with a new 2FA code: ${command(`login --force --username ${username}`)}, then export again.`,
    )
  }

  const given = await readKey(opts, io)
  const key = given?.key ?? generateSessionKey()
  const blob = encodeExport(encryptBundle({ files, state: {} }, key, repo))

  const out = resolve(opts.out ?? dir)
  await mkdir(out, { recursive: true, mode: 0o700 })
  const slug = repo.replace('/', '-')
  const sessionFile = join(out, `ICLOUD_SESSION.${slug}.txt`)
  await writeFileAtomic(sessionFile, blob)
  let keyFile = given?.from === 'file' ? resolve(opts.keyFile!) : undefined
  if (!given) {
    keyFile = join(out, `ICLOUD_SESSION_KEY.${slug}.txt`)
    await writeFileAtomic(keyFile, key)
  }

  line(io.stdout, `Encrypted session for ${username}, usable only by ${repo}: ${sessionFile}`)
  if (!given)
    line(io.stdout, `New session key: ${keyFile} (keep it; the action needs it to open the session).`)
  line(io.stdout, describeTrust(trust))
  // Still usable, but the action would warn within days: say so while it is cheap to act.
  if (trust.daysRemaining !== undefined && trust.daysRemaining <= EXPORT_WARN_DAYS) {
    hint(
      io.stderr,
      `the trust runs out within ${EXPORT_WARN_DAYS} days; to give CI a full month, renew it first with ${command(`login --force --username ${username}`)} and export again.`,
    )
  }
  line(io.stdout, '')
  line(io.stdout, 'Store it in the repository secrets:')
  line(io.stdout, `  gh secret set ICLOUD_SESSION --repo ${repo} < ${shellQuote(sessionFile)}`)
  if (keyFile) line(io.stdout, `  gh secret set ICLOUD_SESSION_KEY --repo ${repo} < ${shellQuote(keyFile)}`)
  else
    line(
      io.stdout,
      `  (ICLOUD_SESSION_KEY must hold the key you gave ${given!.from === 'env' ? `in ${SecretEnv.SessionKey}` : 'with --key'}, unchanged.)`,
    )
  line(io.stdout, 'Then delete the files, or keep them somewhere safe.')
  return ExitCode.Ok
}
