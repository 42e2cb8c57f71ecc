/**
 * OS keyring access, with the service name icloudpd's `icloud` tool uses so a password stored by
 * icloudpd is found here (and the other way round). The native binding is loaded lazily: the
 * action bundle ships without it, and a machine without a keyring backend is a clear "unavailable".
 */
import { AppError } from '../core/errors.js'

/** pyicloud's KEYRING_SYSTEM; the account name is the Apple ID. */
export const KEYRING_SERVICE = 'pyicloud://icloud-password'

export interface KeyringBackend {
  get(service: string, account: string): Promise<string | undefined>
  set(service: string, account: string, password: string): Promise<void>
  /** true when something was deleted. */
  delete(service: string, account: string): Promise<boolean>
}

export function keyringUnavailable(detail: string): AppError {
  return new AppError(
    'INTERNAL',
    `No OS keyring is available on this machine (${detail}).`,
    'Use another password provider (parameter, env or command), or install and unlock a keyring service (macOS Keychain, Windows Credential Manager, or GNOME Keyring/KWallet via the Secret Service on Linux).',
  )
}

type EntryCtor = new (
  service: string,
  account: string,
) => {
  getPassword(): Promise<string | null>
  setPassword(p: string): Promise<void>
  deleteCredential(): Promise<boolean>
}

/** The real backend over @napi-rs/keyring (Keychain, Credential Manager, Secret Service). */
export class NativeKeyring implements KeyringBackend {
  private entryCtor?: Promise<EntryCtor>

  private async entry(service: string, account: string) {
    this.entryCtor ??= import(/* webpackIgnore: true */ '@napi-rs/keyring').then(
      (m) => (m as unknown as { AsyncEntry: EntryCtor }).AsyncEntry,
      (err: unknown) => {
        throw keyringUnavailable(
          `the keyring module could not be loaded: ${(err as Error).message.split('\n')[0]}`,
        )
      },
    )
    return new (await this.entryCtor)(service, account)
  }

  async get(service: string, account: string): Promise<string | undefined> {
    const e = await this.entry(service, account)
    try {
      return (await e.getPassword()) ?? undefined
    } catch (err) {
      throw keyringUnavailable(firstLine(err))
    }
  }

  async set(service: string, account: string, password: string): Promise<void> {
    const e = await this.entry(service, account)
    try {
      await e.setPassword(password)
    } catch (err) {
      throw keyringUnavailable(firstLine(err))
    }
  }

  async delete(service: string, account: string): Promise<boolean> {
    const e = await this.entry(service, account)
    try {
      return await e.deleteCredential()
    } catch (err) {
      throw keyringUnavailable(firstLine(err))
    }
  }
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!
}
