/**
 * The CLI's sign-in: the shared `authenticate` flow with the local providers wired in — console
 * prompts on this terminal, the webui page, the OS keyring — and icloudpd's keyring write-back
 * (a password that signed in is saved to the keyring when `keyring` is a provider and the password
 * came from elsewhere; never an invalid one, never in CI).
 */
import type { Config } from '../config/index.js'
import { authenticate, type AuthLog, type AuthResult } from '../icloud/auth.js'
import { endpointsFor } from '../icloud/endpoints.js'
import { AppError, isAppError } from '../core/errors.js'
import { KEYRING_SERVICE } from '../providers/keyring.js'
import { consoleMfa } from '../providers/mfa.js'
import { createPasswordProviders } from '../providers/passwords.js'
import { promptHidden } from '../providers/prompt.js'
import type { MfaProvider, PasswordProvider } from '../icloud/ports.js'
import { WebUi } from '../providers/webui.js'
import { command, describeTrust } from './format.js'
import { inCi, isInteractiveIo, line, type CliIo } from './io.js'

export interface CliSignInOptions {
  /** `--password` (the `parameter` provider). */
  password?: string
  log: AuthLog
}

export async function cliSignIn(config: Config, io: CliIo, o: CliSignInOptions): Promise<AuthResult> {
  const username = config.account.username
  const names = config.auth.passwordProviders
  const interactive = isInteractiveIo(io)
  const ci = inCi(io.env)
  // github-issue belongs to the CI re-auth workflow; on a laptop the terminal is the natural place.
  const mfaName = config.auth.mfaProvider === 'github-issue' ? 'console' : config.auth.mfaProvider
  if (o.password && !names.includes('parameter')) {
    o.log.warning('--password is ignored: `parameter` is not among the password providers.')
  }
  const webNeeded = !ci && (names.includes('webui') || mfaName === 'webui')
  const webui = webNeeded
    ? new WebUi({
        username,
        onUrl: (url) => line(io.stderr, `Open ${url} in your browser to continue the sign-in.`),
        ...io.webui,
      })
    : undefined

  const providers: PasswordProvider[] = createPasswordProviders(names, {
    parameter: o.password,
    passwordEnv: config.auth.passwordEnv,
    passwordCommand: config.auth.passwordCommand,
    keyring: names.includes('keyring') ? io.keyring : undefined,
    // The web page needs a browser, not a terminal; console and webui never appear together.
    interactive: interactive || Boolean(webui && names.includes('webui')),
    webui: webui?.passwordProvider(),
    env: io.env,
    log: o.log,
  }).map((p) =>
    p.name === 'console'
      ? { name: 'console', get: (u) => promptHidden(`iCloud Password for ${u}: `, io.stdin, io.stderr) }
      : p,
  )

  let mfa: MfaProvider | undefined
  if (mfaName === 'console' && interactive) mfa = consoleMfa(io.stdin, io.stderr)
  else if (mfaName === 'webui' && webui) mfa = webui.mfaProvider()

  try {
    const result = await authenticate({
      username,
      cookieDirectory: config.auth.cookieDirectory,
      endpoints: endpointsFor(config.account.domain, io.env),
      passwordProviders: providers,
      mfa,
      log: o.log,
      now: io.now,
      onPasswordAccepted: async (password, provider) => {
        if (!names.includes('keyring') || provider.name === 'keyring' || ci) return
        try {
          await io.keyring.set(KEYRING_SERVICE, username, password)
          line(io.stderr, `Saved the password in the OS keyring (from ${provider.name}), as icloudpd does.`)
        } catch (err) {
          o.log.warning(`The password was not saved in the keyring: ${(err as Error).message}`)
        }
      },
    })
    await webui?.finish(true, `Signed in as ${username}. ${describeTrust(result.trust)}`)
    return result
  } catch (err) {
    await webui?.finish(false, isAppError(err) ? err.message : 'The sign-in failed; see the terminal.')
    throw localise(err, username, mfaName, interactive)
  } finally {
    await webui?.close()
  }
}

/** The flow's CI-oriented remediations, reworded for someone at a terminal. */
function localise(err: unknown, username: string, mfaName: string, interactive: boolean): unknown {
  if (isAppError(err, 'MFA_REQUIRED')) {
    const why =
      mfaName === 'none'
        ? '`--mfa-provider none` was given'
        : mfaName === 'console' && !interactive
          ? 'this is not an interactive terminal (or CI is set)'
          : 'no MFA provider is available here'
    return new AppError(
      'MFA_REQUIRED',
      `Apple asks for a two-factor code for ${username}, but ${why}.`,
      'Run the command in a terminal, or add `--mfa-provider webui` to enter the code in a browser.',
      { cause: err },
    )
  }
  if (isAppError(err, 'NO_PASSWORD')) {
    return new AppError(
      'NO_PASSWORD',
      err.message,
      `Run the command in a terminal (the \`console\` provider asks), store the password with ${command(`keyring --username ${username}`)}, or use \`--password-env VAR\` / \`--password-command CMD\` with the matching \`--password-provider\`.`,
      { cause: err },
    )
  }
  return err
}
