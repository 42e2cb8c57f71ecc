/**
 * `pending-state.json`: the non-file half of the bundle that the post step saves to the cache.
 * Main writes it as soon as the session is restored (so it never knows less than the restored
 * entry), again at each checkpoint of the photos engine, and at the end. Each write is atomic and
 * writes are serialised, so a run killed at any instant leaves the last complete checkpoint.
 */
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { writeFileAtomic } from '../util/atomic.js'
import type { Log } from './log.js'

export class PendingState {
  private latest: Record<string, unknown> | undefined
  private written: Record<string, unknown> | undefined
  private chain: Promise<void> = Promise.resolve()
  private warned = false

  constructor(
    readonly file: string,
    private readonly log: Pick<Log, 'warning'>,
  ) {}

  /** The newest state handed in (what a forced exit leaves behind). */
  get current(): Record<string, unknown> | undefined {
    return this.latest
  }

  /** Queue a write of `state`; writes queued meanwhile collapse into the newest one. */
  write(state: Record<string, unknown>): Promise<void> {
    this.latest = state
    this.chain = this.chain.then(() => this.writeLatest())
    return this.chain
  }

  /** Resolves once every write queued so far is on disk (or failed with a warning). */
  flush(): Promise<void> {
    return this.chain
  }

  private async writeLatest(): Promise<void> {
    const state = this.latest
    if (!state || state === this.written) return
    try {
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 })
      await writeFileAtomic(this.file, JSON.stringify(state), 0o600)
      this.written = state
    } catch (err) {
      if (this.warned) return
      this.warned = true
      this.log.warning(
        `Could not write the run's state for the post step (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the cache keeps the previous state.`,
      )
    }
  }
}
