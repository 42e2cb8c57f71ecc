/**
 * `keyring`: icloudpd's `icloud --username U [--delete-from-keyring]`, with the same prompts and
 * the same keyring service/account, so a password stored by either tool is found by the other.
 */
import { AppError } from '../core/errors.js'
import { KEYRING_SERVICE } from '../providers/keyring.js'
import { promptHidden, promptLine } from '../providers/prompt.js'
import { ExitCode, isInteractiveIo, line, UsageError, type CliIo } from './io.js'

export interface KeyringOptions {
  username?: string
  deleteFromKeyring?: boolean
}

export async function keyringCommand(opts: KeyringOptions, io: CliIo): Promise<number> {
  const username = opts.username
  if (!username) throw new UsageError('--username is required (the Apple ID).')
  if (opts.deleteFromKeyring) {
    const deleted = await io.keyring.delete(KEYRING_SERVICE, username)
    line(
      io.stdout,
      deleted
        ? `Password for ${username} deleted from the keyring.`
        : `No password for ${username} was stored in the keyring; nothing to delete.`,
    )
    return ExitCode.Ok
  }
  if (!isInteractiveIo(io)) {
    throw new AppError(
      'NO_PASSWORD',
      'The keyring command asks for the password, but this is not an interactive terminal (or CI is set).',
      'Run it in a terminal on the machine whose keyring should hold the password.',
    )
  }
  // Ask the backend first, so a machine without one says so before anyone types a password.
  const existing = await io.keyring.get(KEYRING_SERVICE, username)
  if (existing) line(io.stderr, `A password for ${username} is already in the keyring; saving replaces it.`)
  const password = await promptHidden(`iCloud Password for ${username}: `, io.stdin, io.stderr)
  if (!password) {
    line(io.stderr, 'No password entered; nothing was saved.')
    return ExitCode.Error
  }
  const answer = await promptLine('Save password in keyring? (y/N) ', io.stdin, io.stderr)
  if (!/^y(es)?$/i.test(answer.trim())) {
    line(io.stdout, 'Password not saved.')
    return ExitCode.Ok
  }
  await io.keyring.set(KEYRING_SERVICE, username, password)
  line(io.stdout, `Password for ${username} saved in the keyring (service ${KEYRING_SERVICE}).`)
  return ExitCode.Ok
}
