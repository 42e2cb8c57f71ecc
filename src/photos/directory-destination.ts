/**
 * The photos directory as a destination (a self-hosted runner, a NAS, the CLI). Each file streams
 * to `<final>.part`, is fsynced, given the asset's date as mtime/atime and renamed into place, so a
 * killed run leaves at most `.part` files, never a corrupt final; a `.part` left by an earlier run
 * is resumed (the writer reports its length as `offset`). The state file lives beside the photos.
 */
import { createHash } from 'node:crypto'
import { createReadStream, promises as fs } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { AppError } from '../core/errors.js'
import type { Log } from '../core/log.js'
import type { Destination, DestinationLock, FileWriter, WriteTask } from './destination.js'
import { safeJoin } from './filenames.js'
import { acquireDirectoryLock } from './lock.js'
import { loadStateFile, saveStateFile, type SyncState } from './state.js'

export const PART_SUFFIX = '.part'

/**
 * `<final>.part`, unless that would pass the 255-byte name limit (naming allows finals up to it):
 * then a shortened, deterministic name, so a later run still finds the file to resume.
 */
export function partPathFor(fullPath: string): string {
  const dir = path.dirname(fullPath)
  const base = path.basename(fullPath)
  if (Buffer.byteLength(base + PART_SUFFIX) <= 255) return fullPath + PART_SUFFIX
  const tag = createHash('sha256').update(base).digest('hex').slice(0, 12)
  let head = ''
  for (const ch of base) {
    if (Buffer.byteLength(head + ch) > 200) break
    head += ch
  }
  return path.join(dir, `${head}~${tag}${PART_SUFFIX}`)
}

/** Every `.part` file under `directory` (after a killed run), to resume or remove. */
export async function findPartFiles(directory: string): Promise<string[]> {
  let entries: string[]
  try {
    entries = await fs.readdir(directory, { recursive: true })
  } catch {
    return []
  }
  return entries.filter((e) => e.endsWith(PART_SUFFIX)).map((e) => path.join(directory, e))
}

/** A local file-system error as the DISK AppError writers throw (the errno stays in `cause`). */
export function diskWriteError(err: unknown): AppError {
  const code = (err as { code?: string } | null)?.code ?? 'unknown'
  return new AppError(
    'DISK',
    `disk error (${code})`,
    'Free disk space or fix permissions on the download directory, then run again.',
    { cause: err },
  )
}

export class DirectoryDestination implements Destination {
  readonly kind = 'directory' as const
  readonly label: string
  readonly durable: boolean
  readonly root: string
  /** Folders known to exist (created once per run). */
  private readonly dirs = new Set<string>()

  /** `durable: false` in hand-off mode: a later step of the user's moves the files away. */
  constructor(directory: string, o: { durable?: boolean; log?: Partial<Pick<Log, 'debug'>> } = {}) {
    this.root = path.resolve(directory)
    this.label = this.root
    this.durable = o.durable ?? true
    this.log = o.log
  }

  private readonly log?: Partial<Pick<Log, 'debug'>>

  lock(o: { waitMs: number; log: Pick<Log, 'info' | 'warning'> }): Promise<DestinationLock> {
    // A new run: folders may have been removed since the last one.
    this.dirs.clear()
    return acquireDirectoryLock(this.root, o)
  }

  loadState(): Promise<SyncState | undefined> {
    return loadStateFile(this.root)
  }

  saveState(state: SyncState): Promise<void> {
    return saveStateFile(this.root, state)
  }

  /** Names only: sizes cost a stat each, so they are asked for (stat) only when needed. */
  async listFolder(relDir: string): Promise<Map<string, number | undefined>> {
    let names: string[]
    try {
      names = await fs.readdir(relDir === '' ? this.root : safeJoin(this.root, relDir))
    } catch {
      names = [] // not created yet
    }
    return new Map(names.map((n) => [n, undefined]))
  }

  async stat(relPath: string): Promise<number | undefined> {
    try {
      return (await fs.stat(safeJoin(this.root, relPath))).size
    } catch {
      return undefined
    }
  }

  async openWriter(task: WriteTask): Promise<FileWriter> {
    const fullPath = safeJoin(this.root, task.relPath)
    const dir = path.dirname(fullPath)
    if (!this.dirs.has(dir)) {
      try {
        await fs.mkdir(dir, { recursive: true })
      } catch (err) {
        throw diskWriteError(err)
      }
      this.dirs.add(dir)
    }
    const part = partPathFor(fullPath)
    let offset = 0
    const st = task.noPartial ? undefined : await fs.stat(part).catch(() => undefined)
    if (st && st.isFile() && st.size > 0 && st.size < task.size) offset = st.size
    else if (st) await fs.rm(part, { force: true })
    return new PartWriter(part, fullPath, task, offset)
  }

  async remove(relPath: string): Promise<void> {
    try {
      await fs.rm(safeJoin(this.root, relPath), { force: true })
    } catch (err) {
      throw diskWriteError(err)
    }
  }

  /** Every `.part` except those of `keep` (relative paths of files kept for a resume). */
  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const kept = new Set([...keep].map((rel) => partPathFor(safeJoin(this.root, rel))))
    for (const p of await findPartFiles(this.root)) {
      if (kept.has(p)) continue
      await fs.rm(p, { force: true })
      this.log?.debug?.(`photos: removed leftover ${path.relative(this.root, p)}`)
    }
  }
}

/**
 * One attempt on one `.part`. The file is opened at the first write (append when resuming), so an
 * attempt that fails before any byte arrives creates nothing. A plain FileHandle rather than a
 * stream pipeline: far less per-file garbage, which matters for peak memory across 100k files.
 */
class PartWriter implements FileWriter {
  private fh?: FileHandle

  constructor(
    readonly part: string,
    private readonly fullPath: string,
    private readonly task: WriteTask,
    readonly offset: number,
  ) {}

  async *existing(): AsyncIterable<Buffer> {
    if (this.offset === 0) return
    try {
      for await (const chunk of createReadStream(this.part, { end: this.offset - 1 })) yield chunk as Buffer
    } catch (err) {
      throw diskWriteError(err)
    }
  }

  private async handle(): Promise<FileHandle> {
    if (!this.fh) {
      try {
        this.fh = await fs.open(this.part, this.offset > 0 ? 'a' : 'w')
      } catch (err) {
        throw diskWriteError(err)
      }
    }
    return this.fh
  }

  async write(chunk: Buffer): Promise<void> {
    const fh = await this.handle()
    try {
      let off = 0
      while (off < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.length - off)
        off += bytesWritten
      }
    } catch (err) {
      throw diskWriteError(err)
    }
  }

  async commit(): Promise<void> {
    const fh = await this.handle()
    try {
      await fh.sync()
      const t = new Date(this.task.mtime)
      await fh.utimes(t, t)
    } catch (err) {
      throw diskWriteError(err)
    } finally {
      this.fh = undefined
      await fh.close().catch(() => undefined)
    }
    try {
      await fs.rename(this.part, this.fullPath)
    } catch (err) {
      throw diskWriteError(err)
    }
  }

  async abort(keepPartial: boolean): Promise<void> {
    const fh = this.fh
    this.fh = undefined
    await fh?.close().catch(() => undefined)
    if (!keepPartial) await fs.rm(this.part, { force: true }).catch(() => undefined)
  }
}
