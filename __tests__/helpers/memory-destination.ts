/**
 * A Destination held in memory, for the engine's tests of the destination seam: what a bucket-like
 * destination sees (no resume, sizes in listings, state as one blob), with calls counted and
 * faults that can be injected per write.
 */
import { createHash } from 'node:crypto'
import { AppError } from '../../src/core/errors.js'
import type { Destination, FileWriter, WriteTask } from '../../src/photos/destination.js'
import { parseState, serializeState, type SyncState } from '../../src/photos/state.js'

export interface StoredObject {
  bytes: Buffer
  sha256: string
  mtime: number
  contentType?: string
}

/** A fault for the next matching commit: `times` commits of `relPath` (any path when omitted) fail. */
export interface WriteFault {
  relPath?: string
  code: 'DESTINATION' | 'DESTINATION_AUTH'
  times: number
}

export class MemoryDestination implements Destination {
  readonly kind = 's3' as const
  readonly label = 'memory://bucket/prefix'
  readonly durable = true
  readonly objects = new Map<string, StoredObject>()
  /** The state as the destination stores it (serialised). */
  stateText?: string
  readonly calls = {
    lock: 0,
    release: 0,
    listFolder: 0,
    stat: 0,
    openWriter: 0,
    commit: 0,
    abort: 0,
    sweep: 0,
  }
  readonly faults: WriteFault[] = []
  locked = false

  async lock() {
    this.calls.lock++
    if (this.locked) throw new Error('locked twice')
    this.locked = true
    return {
      release: async () => {
        if (this.locked) this.calls.release++
        this.locked = false
      },
    }
  }

  async loadState(): Promise<SyncState | undefined> {
    return this.stateText === undefined ? undefined : parseState(this.stateText)
  }

  async saveState(state: SyncState): Promise<void> {
    this.stateText = serializeState(state)
  }

  async listFolder(relDir: string): Promise<Map<string, number>> {
    this.calls.listFolder++
    const out = new Map<string, number>()
    const prefix = relDir === '' ? '' : `${relDir}/`
    for (const [key, o] of this.objects) {
      if (!key.startsWith(prefix) || key.slice(prefix.length).includes('/')) continue
      out.set(key.slice(prefix.length), o.bytes.length)
    }
    return out
  }

  async stat(relPath: string): Promise<number | undefined> {
    this.calls.stat++
    return this.objects.get(relPath)?.bytes.length
  }

  /** Called as each writer opens, with the count so far (tests move a clock here). */
  onOpen?: (n: number) => void

  async openWriter(task: WriteTask): Promise<FileWriter> {
    this.calls.openWriter++
    this.onOpen?.(this.calls.openWriter)
    const chunks: Buffer[] = []
    return {
      offset: 0,
      async *existing() {},
      write: async (chunk: Buffer) => {
        chunks.push(Buffer.from(chunk))
      },
      commit: async (done: { size: number; sha256: string }) => {
        this.calls.commit++
        const fault = this.faults.find((f) => f.times > 0 && (!f.relPath || f.relPath === task.relPath))
        if (fault) {
          fault.times--
          throw new AppError(fault.code, `injected ${fault.code} for ${task.relPath}`)
        }
        const bytes = Buffer.concat(chunks)
        const sha256 = createHash('sha256').update(bytes).digest('hex')
        // The destination verifies what it got, as a bucket's checksum does.
        if (bytes.length !== done.size || sha256 !== done.sha256)
          throw new AppError('DESTINATION', `checksum mismatch for ${task.relPath}`)
        this.objects.set(task.relPath, { bytes, sha256, mtime: task.mtime, contentType: task.contentType })
      },
      abort: async () => {
        this.calls.abort++
      },
    }
  }

  async remove(relPath: string): Promise<void> {
    this.objects.delete(relPath)
  }

  async sweep(): Promise<void> {
    this.calls.sweep++
  }

  /** Hashes of every object, sorted (compare with expectedHashes). */
  hashes(): string[] {
    return [...this.objects.values()].map((o) => o.sha256).sort()
  }
}
