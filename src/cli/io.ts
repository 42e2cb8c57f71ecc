/**
 * What every CLI command gets from the outside world, injectable so tests drive commands
 * in-process: streams, environment, clock and the keyring backend. Also the exit codes and the one
 * way errors are printed (`error [CODE]: message`, then a hint line; never a secret).
 */
import { isConfigError } from '../config/index.js'
import { isICloudError } from '../icloud/errors.js'
import { NativeKeyring, type KeyringBackend } from '../providers/keyring.js'
import { BlobError } from '../session-cache/blob.js'

export type Input = NodeJS.ReadableStream & { isTTY?: boolean }
export type Output = NodeJS.WritableStream & { isTTY?: boolean }

export interface CliIo {
  stdin: Input
  stdout: Output
  stderr: Output
  env: NodeJS.ProcessEnv
  /** Default: the OS keyring (Keychain, Credential Manager, Secret Service). */
  keyring: KeyringBackend
  now: () => number
  /** Whether a human can answer prompts here; default: stdin is a TTY and neither CI nor GITHUB_ACTIONS is `true`. */
  interactive?: boolean
  /** Timing of the webui page (tests shorten how long the final page lingers). */
  webui?: { lingerMs?: number; timeoutMs?: number }
}

export function defaultIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    keyring: new NativeKeyring(),
    now: Date.now,
  }
}

/** The documented exit codes (also in `--help`). */
export const ExitCode = {
  Ok: 0,
  Error: 1,
  Usage: 2,
  /** `status`: valid, but the 2FA trust expires within --warn-days. */
  Expiring: 3,
  /** `status`: no usable session (expired trust, rejected by Apple, missing or unreadable). */
  Expired: 4,
} as const

export const EXIT_CODES_HELP = `
Exit codes:
  0  success (status: the session is valid and the trust lasts longer than --warn-days)
  1  error (network, Apple refused the sign-in, failed downloads, no keyring backend, …)
  2  usage error (unknown command or option, invalid value, invalid config file)
  3  status: the session is valid but the 2FA trust expires within --warn-days
  4  status: the session is expired, rejected by Apple, missing or unreadable
  130/143  sync was stopped by SIGINT (Ctrl-C) / SIGTERM; what was downloaded and the state are kept`

/** Running in CI, where nobody can answer a prompt and the keyring must not be written. */
export function inCi(env: NodeJS.ProcessEnv): boolean {
  return env.GITHUB_ACTIONS === 'true' || env.CI === 'true'
}

export function isInteractiveIo(io: CliIo): boolean {
  return io.interactive ?? (!inCi(io.env) && io.stdin.isTTY === true)
}

/** A problem with the command line itself (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export function line(out: Output, text = ''): void {
  out.write(`${text}\n`)
}

/** Prints any error the user can act on and returns its exit code. */
export function reportError(io: CliIo, err: unknown): number {
  if (err instanceof UsageError) {
    line(io.stderr, `error [USAGE]: ${err.message}`)
    line(io.stderr, 'hint: see --help for the commands and options.')
    return ExitCode.Usage
  }
  if (isConfigError(err)) {
    line(io.stderr, `error [CONFIG_INVALID]: ${err.message}`)
    line(io.stderr, 'hint: fix the configuration file; the schema is schemas/config.schema.json.')
    return ExitCode.Usage
  }
  if (isICloudError(err)) {
    line(io.stderr, `error [${err.code}]: ${err.message}`)
    if (err.remediation) line(io.stderr, `hint: ${err.remediation}`)
    return err.code === 'CONFIG_INVALID' ? ExitCode.Usage : ExitCode.Error
  }
  if (err instanceof BlobError) {
    line(io.stderr, `error [SESSION_INVALID]: ${err.message}`)
    line(
      io.stderr,
      'hint: use the key file and repository the session was exported with, or export the session again.',
    )
    return ExitCode.Error
  }
  // Unexpected: the first line of the message only (library messages can be long; none carry secrets).
  const message = String((err as Error)?.message ?? err).split('\n')[0]
  line(io.stderr, `error [INTERNAL]: ${message}`)
  line(
    io.stderr,
    'hint: this looks like a bug; please report it with the command you ran (never your password).',
  )
  return ExitCode.Error
}

/** The CLI's logger for the sign-in and sync modules: progress on stderr, debug only with --verbose. */
export function cliLog(io: CliIo, verbose: boolean) {
  return {
    info: (m: string) => line(io.stderr, m),
    warning: (m: string) => line(io.stderr, `warning: ${m}`),
    warn: (m: string) => line(io.stderr, `warning: ${m}`),
    notice: (m: string) => line(io.stderr, m),
    debug: (m: string) => {
      if (verbose) line(io.stderr, `debug: ${m}`)
    },
  }
}
