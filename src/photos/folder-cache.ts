/** The run's view of what is already at the destination. */
import path from 'node:path'
import type { Destination } from './destination.js'
import { partPathFor } from './directory-destination.js'
import type { ManifestFile } from './state.js'

/** A size that must be asked for (a present name whose size the listing did not give). */
const ASK = Symbol('ask')

/**
 * Folder listings for "already backed up?" checks: one listing per folder (LRU-bounded), sizes
 * from the manifest, then from the listing, and a `stat` only for a present name neither knows.
 * Files planned in this run are reserved so two assets never claim the same path.
 */
export class DirCache {
  private readonly dirs = new Map<string, Map<string, number | undefined>>()
  private readonly reserved = new Map<string, number>()
  /** Sizes fetched with `stat` (bounded like the folders: cleared with them). */
  private readonly stats = new Map<string, number | undefined>()

  constructor(
    private readonly destination: Pick<Destination, 'listFolder' | 'stat'>,
    private readonly max = 256,
  ) {}

  async load(folder: string): Promise<void> {
    const hit = this.dirs.get(folder)
    if (hit) {
      this.dirs.delete(folder)
      this.dirs.set(folder, hit)
      return
    }
    this.dirs.set(folder, await this.destination.listFolder(folder))
    if (this.dirs.size > this.max) {
      this.dirs.delete(this.dirs.keys().next().value!)
      this.stats.clear()
    }
  }

  private peek(rel: string, known: ManifestFile[] | undefined): number | undefined | typeof ASK {
    const r = this.reserved.get(rel)
    if (r !== undefined) return r
    const slash = rel.lastIndexOf('/')
    const names = this.dirs.get(rel.slice(0, Math.max(0, slash)))
    const name = rel.slice(slash + 1)
    if (names && !names.has(name)) return undefined
    const k = known?.find((x) => x.relPath === rel)
    if (k) return k.size
    const listed = names?.get(name)
    if (listed !== undefined) return listed
    return this.stats.has(rel) ? this.stats.get(rel) : ASK
  }

  /**
   * Run `decide` (naming's synchronous resolveExisting) with a size lookup; the sizes it needed
   * and nobody knew are fetched with `stat`, then it runs again, until it needs nothing new.
   */
  async resolve<T>(
    known: ManifestFile[] | undefined,
    decide: (stat: (rel: string) => number | undefined) => T,
  ): Promise<T> {
    for (;;) {
      const ask: string[] = []
      const result = decide((rel) => {
        const s = this.peek(rel, known)
        if (s !== ASK) return s
        ask.push(rel)
        return undefined
      })
      if (ask.length === 0) return result
      for (const rel of ask) this.stats.set(rel, await this.destination.stat(rel))
    }
  }

  /** The size `resolve` found for a present path (after `resolve`). */
  size(rel: string, known: ManifestFile[] | undefined): number | undefined {
    const s = this.peek(rel, known)
    return s === ASK ? undefined : s
  }

  /** True when the folder listing shows no `<rel>.part` (so the writer need not look). */
  noPart(rel: string): boolean {
    const slash = rel.lastIndexOf('/')
    const names = this.dirs.get(rel.slice(0, Math.max(0, slash)))
    return names !== undefined && !names.has(path.basename(partPathFor(rel)))
  }

  reserve(rel: string, size: number): void {
    this.reserved.set(rel, size)
  }

  /** A finished download is now at the destination; a failed one frees its path. */
  settle(rel: string, ok: boolean, size?: number): void {
    this.reserved.delete(rel)
    this.stats.delete(rel)
    if (!ok) return
    const slash = rel.lastIndexOf('/')
    this.dirs.get(rel.slice(0, Math.max(0, slash)))?.set(rel.slice(slash + 1), size)
  }
}
