/** In-memory keyring behind the production KeyringBackend interface; `available: false` mimics a machine without a backend. */
import { keyringUnavailable, type KeyringBackend } from '../src/providers/keyring.js'

export class MemoryKeyring implements KeyringBackend {
  readonly entries = new Map<string, string>()
  constructor(readonly available = true) {}
  private check(): void {
    if (!this.available) throw keyringUnavailable('no backend')
  }
  async get(service: string, account: string): Promise<string | undefined> {
    this.check()
    return this.entries.get(`${service}\0${account}`)
  }
  async set(service: string, account: string, password: string): Promise<void> {
    this.check()
    this.entries.set(`${service}\0${account}`, password)
  }
  async delete(service: string, account: string): Promise<boolean> {
    this.check()
    return this.entries.delete(`${service}\0${account}`)
  }
}
