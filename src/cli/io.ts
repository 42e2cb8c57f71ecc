/**
 * What every CLI command gets from the outside world, injectable so tests drive commands
 * in-process: streams, environment, clock and the keyring backend. Also the exit codes and the one
 * way errors are printed (`error [CODE]: message`, then a hint line; never a secret).
 */
import { Help } from 'commander'
import { isConfigError } from '../config/index.js'
import { isAppError } from '../core/errors.js'
import type { Log } from '../core/log.js'
import { NativeKeyring, type KeyringBackend } from '../providers/keyring.js'
import { BlobError } from '../session-cache/blob.js'
import { hint } from './format.js'

export type Input = NodeJS.ReadableStream & { isTTY?: boolean }
export type Output = NodeJS.WritableStream & { isTTY?: boolean; columns?: number }

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

/** What each exit code means for one command; `status` alone has 3 and 4. */
export interface ExitCodeMeanings {
  ok: string
  error: string
  expiring?: string
  expired?: string
  /** `sync`: stopped by SIGINT / SIGTERM (130 / 143). */
  cancelled?: string
}

/**
 * The "Exit codes:" block of a command's --help: only the codes that command can return, wrapped
 * to `width` with the meanings aligned. The top level (`all`) also says which command has 3 and 4.
 */
export function exitCodesHelp(m: ExitCodeMeanings, all = false, width = 80): string {
  const rows: [number | string, string][] = [
    [ExitCode.Ok, m.ok],
    [ExitCode.Error, m.error],
    [ExitCode.Usage, 'usage error (unknown command or option, invalid value, invalid config file)'],
  ]
  if (m.expiring) rows.push([ExitCode.Expiring, m.expiring])
  if (m.expired) rows.push([ExitCode.Expired, m.expired])
  if (m.cancelled) rows.push(['130/143', m.cancelled])
  const help = new Help()
  const indent = '     '
  const table = rows
    .map(
      ([code, text]) =>
        `  ${code}  ${help.boxWrap(text, width - indent.length).replace(/\n/g, `\n${indent}`)}`,
    )
    .join('\n')
  const more = all
    ? `\n${help.boxWrap('`status` also exits with 3 or 4 when the trust expires soon or has expired (see `status --help`).', width)}`
    : ''
  return `\nExit codes:\n${table}${more}`
}

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
    hint(io.stderr, 'see --help for the commands and options.')
    return ExitCode.Usage
  }
  if (isConfigError(err)) {
    line(io.stderr, `error [CONFIG_INVALID]: ${err.message}`)
    hint(io.stderr, 'fix the configuration file; the schema is schemas/config.schema.json.')
    return ExitCode.Usage
  }
  if (isAppError(err)) {
    line(io.stderr, `error [${err.code}]: ${err.message}`)
    if (err.remediation) hint(io.stderr, err.remediation)
    return err.code === 'CONFIG_INVALID' ? ExitCode.Usage : ExitCode.Error
  }
  if (err instanceof BlobError) {
    line(io.stderr, `error [SESSION_INVALID]: ${err.message}`)
    hint(
      io.stderr,
      'use the key file and repository the session was exported with, or export the session again.',
    )
    return ExitCode.Error
  }
  // Unexpected: the first line of the message only (library messages can be long; none carry secrets).
  const message = String((err as Error)?.message ?? err).split('\n')[0]
  line(io.stderr, `error [INTERNAL]: ${message}`)
  hint(io.stderr, 'this looks like a bug; please report it with the command you ran (never your password).')
  return ExitCode.Error
}

/**
 * The CLI's logger for the sign-in and sync modules: progress on stderr, debug only with --verbose.
 * `errorsOnly` (icloudpd --log-level error) drops everything but errors, which commands print
 * themselves.
 */
export function cliLog(io: CliIo, verbose: boolean, errorsOnly = false): Log {
  const say = (m: string) => {
    if (!errorsOnly) line(io.stderr, m)
  }
  return {
    info: say,
    warning: (m: string) => say(`warning: ${m}`),
    notice: say,
    debug: (m: string) => {
      if (verbose) line(io.stderr, `debug: ${m}`)
    },
  }
}
