/**
 * Password providers, tried in the configured order (icloudpd's `--password-provider`).
 * Interactive ones (console, webui) are unavailable in CI or without a terminal: the run must never
 * wait on stdin there.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { PasswordProvider, PasswordProviderName } from '../icloud/ports.js'
import { KEYRING_SERVICE, type KeyringBackend } from './keyring.js'
import { promptHidden } from './prompt.js'

const run = promisify(execFile)

export interface ProviderContext {
  /** The `password` action input or `--password` flag. */
  parameter?: string
  /** `auth.password-env`: the variable holding the password. */
  passwordEnv?: string
  /** `auth.password-command`: a command whose stdout is the password (e.g. a password manager CLI). */
  passwordCommand?: string
  keyring?: KeyringBackend
  /** Whether a human can answer here (a TTY, not CI). */
  interactive: boolean
  /** The webui provider, when the CLI offers one. */
  webui?: PasswordProvider
  env?: NodeJS.ProcessEnv
  log: { debug(m: string): void; warning(m: string): void }
}

export function createPasswordProviders(
  names: PasswordProviderName[],
  ctx: ProviderContext,
): PasswordProvider[] {
  const env = ctx.env ?? process.env
  const out: PasswordProvider[] = []
  for (const name of names) {
    switch (name) {
      case 'parameter':
        out.push({ name, get: async () => ctx.parameter || undefined })
        break
      case 'env':
        out.push({ name, get: async () => (ctx.passwordEnv ? env[ctx.passwordEnv] || undefined : undefined) })
        break
      case 'command':
        out.push({
          name,
          get: async () => {
            if (!ctx.passwordCommand) return undefined
            try {
              // Through the shell, like icloudpd/kei: the value is a command line the user wrote.
              const { stdout } = await run('/bin/sh', ['-c', ctx.passwordCommand], { timeout: 60_000, env })
              return stdout.replace(/\r?\n$/, '') || undefined
            } catch (err) {
              // Only the exit status: stderr of a password manager may echo secrets.
              ctx.log.warning(
                `password-command failed (exit ${(err as { code?: unknown }).code ?? 'unknown'}); trying the next provider.`,
              )
              return undefined
            }
          },
        })
        break
      case 'keyring':
        out.push({
          name,
          get: async (username) => {
            if (!ctx.keyring) return undefined
            try {
              return await ctx.keyring.get(KEYRING_SERVICE, username)
            } catch (err) {
              ctx.log.debug(`keyring: ${(err as Error).message}`)
              return undefined
            }
          },
        })
        break
      case 'console':
        if (ctx.interactive) out.push({ name, get: (u) => promptHidden(`iCloud Password for ${u}: `) })
        else ctx.log.debug('password provider console: unavailable (no terminal or CI)')
        break
      case 'webui':
        if (ctx.interactive && ctx.webui) out.push(ctx.webui)
        else ctx.log.debug('password provider webui: unavailable here')
        break
    }
  }
  return out
}
