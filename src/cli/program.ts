/**
 * The command-line grammar (commander): every command and option with its help, "did you mean" on
 * typos, and the exit codes. `main` parses, runs one command module and returns the exit code;
 * nothing here exits the process, so tests drive it in-process with their own streams.
 */
import { Command, CommanderError, Help, Option } from 'commander'
import pkg from '../../package.json' with { type: 'json' }
import {
  defaultIo,
  exitCodesHelp,
  ExitCode,
  reportError,
  type CliIo,
  type ExitCodeMeanings,
  type Output,
} from './io.js'
import { keyringCommand } from './keyring.js'
import { login } from './login.js'
import { collect } from './options.js'
import { sessionExport } from './session-export.js'
import { sessionImport } from './session-import.js'
import { sessionReset } from './session-reset.js'
import { status } from './status.js'
import { sync } from './sync.js'
import { verify } from './verify.js'

/**
 * Help laid out for the terminal: wrapped to its width (80 when it is not a terminal). When the
 * option names leave too narrow a column for the descriptions, each description goes on the lines
 * below its option instead of running off the screen.
 */
function formatItem(this: Help, term: string, termWidth: number, description: string, helper: Help): string {
  const width = this.helpWidth ?? 80
  const column = width - termWidth - 4
  if (!description || column >= 40)
    return Help.prototype.formatItem.call(this, term, termWidth, description, helper)
  const indent = ' '.repeat(8)
  const wrapped = helper.boxWrap(description, Math.max(width - indent.length, 20))
  return `  ${term}\n${indent}${wrapped.replace(/\n/g, `\n${indent}`)}`
}

const widthOf = (out: Output): number => (out.isTTY && out.columns ? out.columns : 80)

function account(cmd: Command, usernameHelp = 'Apple ID (usually an email address)'): Command {
  return cmd
    .option('-u, --username <apple-id>', usernameHelp)
    .option(
      '--cookie-directory <dir>',
      'directory of the pyicloud session files, shared with icloudpd (default: ~/.pyicloud)',
    )
    .option(
      '--config <file>',
      'read defaults from this config file (e.g. .github/icloud-photos.yml); flags win',
    )
}

function domain(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--domain <domain>',
      'Apple service region: com, or cn for mainland China (default: com)',
    ).choices(['com', 'cn']),
  )
}

function signInOptions(cmd: Command): Command {
  return domain(cmd)
    .option(
      '--password-provider <name>',
      'where the password comes from, in order; repeat the flag: parameter, env, keyring, command, console, webui (default: parameter, keyring, console). console and webui are mutually exclusive and must be last',
      collect,
    )
    .option(
      '--password <password>',
      'the `parameter` provider (visible to other local users in the process list; prefer keyring or console)',
    )
    .option('--password-env <var>', 'variable read by the `env` provider (default: ICLOUD_PASSWORD)')
    .option(
      '--password-command <cmd>',
      'shell command whose output is the password, for the `command` provider',
    )
    .addOption(
      new Option(
        '--mfa-provider <name>',
        'where the 2FA code is typed: console, webui (a page on 127.0.0.1), or none (default: console)',
      ).choices(['console', 'webui', 'none']),
    )
}

function photosOptions(cmd: Command): Command {
  return cmd
    .option('-d, --directory <dir>', 'local folder for the photos')
    .option('--folder-structure <format>', 'folders below --directory, e.g. {:%Y/%m/%d} (default) or none')
    .option(
      '--size <size>',
      'original, medium, thumb, adjusted, alternative; repeatable (default: original)',
      collect,
    )
    .option('--live-photo-size <size>', 'original, medium or thumb (default: original)')
    .option('--live-photo-mov-filename-policy <policy>', 'suffix or original (default: suffix)')
    .option('--align-raw <policy>', 'as-is, original or alternative (default: as-is)')
    .option('--file-match-policy <policy>', 'name-size-dedup-with-suffix or name-id7')
    .option('--skip-videos', 'do not download videos')
    .option('--skip-live-photos', 'do not download the movie part of Live Photos')
    .option('--album <name>', 'only this album; repeatable', collect)
    .option('--library <zone>', 'PrimarySync (default) or a SharedSync-… library')
    .option('--recent <n>', 'only the N most recent assets')
    .option('--until-found <n>', 'stop after N consecutive assets that are already downloaded')
    .option('--threads <n>', 'parallel downloads (default: 8)')
    .option('--dry-run', 'list what would be downloaded, write nothing')
    .option('--allow-partial-backup', 'exit 0 (with a warning) even when some files could not be backed up')
    .option('--lock-wait <seconds>', 'wait this long when another sync uses --directory (default: 0)')
}

/** Run budgets: `sync` only (verify reads every file whatever it takes). */
function budgetOptions(cmd: Command): Command {
  return cmd
    .option(
      '--max-duration <time>',
      'stop starting downloads after this long, e.g. 5h; the next sync continues',
    )
    .option('--max-bytes <size>', 'download at most this much per run, e.g. 50GB or 500MiB')
    .option('--max-files <n>', 'download at most this many files per run')
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  // Help text added after the options is wrapped like the rest, to the stream it is written to.
  const codes =
    (m: ExitCodeMeanings, all = false) =>
    (ctx: { error: boolean }): string =>
      exitCodesHelp(m, all, widthOf(ctx.error ? io.stderr : io.stdout))
  const program = new Command()
  program
    .name('icloud-photos-action')
    .description(
      'Local companion of the icloud-photos-action GitHub Action: sign in to iCloud (with 2FA), keep the password in the OS keyring, export the session for CI, check it, and sync photos.',
    )
    .version(pkg.version)
    // Global: before or after the command name (`-v login …` and `login -v …`).
    .option('-v, --verbose', 'print debug messages')
    .configureHelp({ showGlobalOptions: true, formatItem })
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      getOutHelpWidth: () => widthOf(io.stdout),
      getErrHelpWidth: () => widthOf(io.stderr),
      // `--pasword=secret` would be echoed whole in "unknown option": never print what follows `=`.
      outputError: (s, write) =>
        write(s.replace(/^error: /, 'error [USAGE]: ').replace(/('--?[\w-]+)=.*'/g, "$1=…'")),
    })
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', codes({ ok: 'success', error: 'error (see the command’s --help)' }, true))

  signInOptions(account(program.command('login')))
    .description(
      'sign in (password + 2FA code), write the pyicloud-compatible session and show when the trust expires',
    )
    .option(
      '--force',
      'sign in with a new 2FA code even if the stored session still works (renews the trust)',
    )
    .addHelpText(
      'after',
      codes({
        ok: 'signed in (or the stored session still works)',
        error: 'the sign-in failed (wrong password, no 2FA code, Apple or the network refused, …)',
      }),
    )
    .action(async (_opts, cmd: Command) => setExit(await login(cmd.optsWithGlobals(), io)))

  program
    .command('keyring')
    .description("store the password in the OS keyring, like icloudpd's `icloud` tool (same keyring entry)")
    .option('-u, --username <apple-id>', 'Apple ID')
    .option('--delete-from-keyring', 'delete the stored password instead')
    .addHelpText(
      'after',
      codes({
        ok: 'saved or deleted (or declined at the prompt)',
        error: 'no keyring backend, or not a terminal to type the password in',
      }),
    )
    .action(async (_opts, cmd: Command) => setExit(await keyringCommand(cmd.optsWithGlobals(), io)))

  const session = program
    .command('session')
    .description('move the session between this machine and GitHub Actions, or reset it')
  account(session.command('export'))
    .description(
      'encrypt the session for one repository and print the `gh secret set` commands (ICLOUD_SESSION, ICLOUD_SESSION_KEY)',
    )
    .option(
      '--repo <owner/name>',
      'the repository whose workflow will use the session (the blob only opens there)',
    )
    .option('--key-file <file>', 'file holding an existing session key (default: a new key is generated)')
    .option(
      '--key <key>',
      'an existing session key (visible in the process list; prefer --key-file or ICLOUD_SESSION_KEY)',
    )
    .option('--out <dir>', 'where to write the files (mode 0600; default: the cookie directory)')
    .addHelpText(
      'after',
      codes({
        ok: 'exported',
        error: 'no session, or one that is unreadable, not 2FA-trusted or expired (nothing is written)',
      }),
    )
    .action(async (_opts, cmd: Command) => setExit(await sessionExport(cmd.optsWithGlobals(), io)))
  account(session.command('import'))
    .description('write an exported session into the cookie directory (the reverse of export)')
    .argument('<blob-file>', 'the exported session file, or - for standard input')
    .option('--repo <owner/name>', 'the repository the session was exported for')
    .option('--key-file <file>', 'file holding the session key (or set ICLOUD_SESSION_KEY)')
    .option('--key <key>', 'the session key (visible in the process list; prefer --key-file)')
    .addHelpText(
      'after',
      codes({
        ok: 'imported',
        error: 'the blob cannot be opened (wrong key or repository, damaged) or read',
      }),
    )
    .action(async (source: string, _opts, cmd: Command) =>
      setExit(await sessionImport(source, cmd.optsWithGlobals(), io)),
    )
  account(
    session.command('reset'),
    'Apple ID whose session to reset (default: every session in the directory)',
  )
    .description('move the session files aside (`<name>.broken-<time>`) so the next sign-in starts clean')
    .addHelpText(
      'after',
      codes({ ok: 'moved aside (or nothing to reset)', error: 'the files could not be moved' }),
    )
    .action(async (_opts, cmd: Command) => setExit(await sessionReset(cmd.optsWithGlobals(), io)))

  domain(account(program.command('status')))
    .description(
      'check the stored session with Apple (never signs in, never asks) and show the days until the 2FA trust expires',
    )
    .option('--warn-days <n>', 'exit with 3 when the trust expires within this many days (default: 7)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      codes({
        ok: 'the session is valid and the 2FA trust lasts longer than --warn-days',
        error: 'the check itself failed (network, Apple unavailable, …)',
        expiring: 'the session is valid but the trust expires within --warn-days',
        expired: 'the session is expired, rejected by Apple, missing or unreadable',
      }),
    )
    .action(async (_opts, cmd: Command) => setExit(await status(cmd.optsWithGlobals(), io)))

  budgetOptions(photosOptions(signInOptions(account(program.command('sync')))))
    .description('download new photos with the same engine as the action (signs in first when needed)')
    .addHelpText(
      'after',
      codes({
        ok: 'every file is backed up (ok), or a planned stop left files for the next sync (incomplete), or files are missing but --allow-partial-backup is set (warning, listed on stderr)',
        error:
          'files are missing or the sync could not run: DOWNLOAD_FAILED (failed after retries), THROTTLED (Apple throttled until the sync stopped), DISK (permissions, a file in the way, disk full), LOCKED (another sync uses the directory), or a sign-in error; the code is printed as `error [CODE]` and the missing files are listed on stderr',
      }),
    )
    .action(async (_opts, cmd: Command) => setExit(await sync(cmd.optsWithGlobals(), io)))

  photosOptions(signInOptions(account(program.command('verify'))))
    .description(
      're-hash the downloaded files against the SHA-256 recorded at download and list missing or damaged ones (no sign-in without --repair)',
    )
    .option(
      '--repair',
      'move damaged files aside (<name>.damaged) and download them and the missing ones again (signs in)',
    )
    .addHelpText(
      'after',
      codes({
        ok: 'every file in the manifest is present and matches its hash (or was repaired)',
        error: 'files are missing or damaged (VERIFY_FAILED, listed on stderr), or the repair sync failed',
      }),
    )
    .action(async (_opts, cmd: Command) => setExit(await verify(cmd.optsWithGlobals(), io)))

  return program
}

/** Runs one command line (without `node` and the script) and returns the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let code: number = ExitCode.Ok
  const program = buildProgram(io, (c) => (code = c))
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage
    return reportError(io, err)
  }
  return code
}
