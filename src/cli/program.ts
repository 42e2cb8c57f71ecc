/**
 * The command-line grammar (commander): every command and option with its help, "did you mean" on
 * typos, and the exit codes. `main` parses, runs one command module and returns the exit code;
 * nothing here exits the process, so tests drive it in-process with their own streams.
 */
import { Command, CommanderError, Option } from 'commander'
import pkg from '../../package.json' with { type: 'json' }
import { defaultIo, EXIT_CODES_HELP, ExitCode, reportError, type CliIo } from './io.js'
import { keyringCommand } from './keyring.js'
import { login } from './login.js'
import { collect } from './options.js'
import { sessionExport } from './session-export.js'
import { sessionImport } from './session-import.js'
import { sessionReset } from './session-reset.js'
import { status } from './status.js'
import { sync } from './sync.js'
import { verify } from './verify.js'

const STATUS_CODES_HELP = `
Exit codes:
  0  the session is valid and the 2FA trust lasts longer than --warn-days
  1  the check itself failed (network, Apple unavailable, …)
  2  usage error
  3  the session is valid but the trust expires within --warn-days
  4  the session is expired, rejected by Apple, missing or unreadable`

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
    .option('-v, --verbose', 'print debug messages')
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
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command()
  program
    .name('icloud-photos-action')
    .description(
      'Local companion of the icloud-photos-action GitHub Action: sign in to iCloud (with 2FA), keep the password in the OS keyring, export the session for CI, check it, and sync photos.',
    )
    .version(pkg.version)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // `--pasword=secret` would be echoed whole in "unknown option": never print what follows `=`.
      outputError: (s, write) =>
        write(s.replace(/^error: /, 'error [USAGE]: ').replace(/('--?[\w-]+)=.*'/g, "$1=…'")),
    })
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)

  signInOptions(account(program.command('login')))
    .description(
      'sign in (password + 2FA code), write the pyicloud-compatible session and show when the trust expires',
    )
    .option(
      '--force',
      'sign in with a new 2FA code even if the stored session still works (renews the trust)',
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts) => setExit(await login(opts, io)))

  program
    .command('keyring')
    .description("store the password in the OS keyring, like icloudpd's `icloud` tool (same keyring entry)")
    .option('-u, --username <apple-id>', 'Apple ID')
    .option('--delete-from-keyring', 'delete the stored password instead')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts) => setExit(await keyringCommand(opts, io)))

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
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts) => setExit(await sessionExport(opts, io)))
  account(session.command('import'))
    .description('write an exported session into the cookie directory (the reverse of export)')
    .argument('<blob-file>', 'the exported session file, or - for standard input')
    .option('--repo <owner/name>', 'the repository the session was exported for')
    .option('--key-file <file>', 'file holding the session key (or set ICLOUD_SESSION_KEY)')
    .option('--key <key>', 'the session key (visible in the process list; prefer --key-file)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (source: string, opts) => setExit(await sessionImport(source, opts, io)))
  account(
    session.command('reset'),
    'Apple ID whose session to reset (default: every session in the directory)',
  )
    .description('move the session files aside (`<name>.broken-<time>`) so the next sign-in starts clean')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts) => setExit(await sessionReset(opts, io)))

  domain(account(program.command('status')))
    .description(
      'check the stored session with Apple (never signs in, never asks) and show the days until the 2FA trust expires',
    )
    .option('--warn-days <n>', 'exit with 3 when the trust expires within this many days (default: 7)')
    .option('--json', 'print the result as JSON')
    .option('-v, --verbose', 'print debug messages')
    .addHelpText('after', STATUS_CODES_HELP)
    .action(async (opts) => setExit(await status(opts, io)))

  photosOptions(signInOptions(account(program.command('sync'))))
    .description('download new photos with the same engine as the action (signs in first when needed)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts) => setExit(await sync(opts, io)))

  photosOptions(signInOptions(account(program.command('verify'))))
    .description(
      're-hash the downloaded files against the SHA-256 recorded at download and list missing or damaged ones (no sign-in without --repair)',
    )
    .option(
      '--repair',
      'move damaged files aside (<name>.damaged) and download them and the missing ones again (signs in)',
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts) => setExit(await verify(opts, io)))

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
