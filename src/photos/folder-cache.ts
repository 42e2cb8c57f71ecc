/** The run's view of what is already in the photos directory. */
import { promises as fs, statSync } from 'node:fs'
import path from 'node:path'
import { partPathFor } from './downloader.js'
import { safeJoin } from './filenames.js'
import type { ManifestFile } from './state.js'

/**
 * Folder listings for "already downloaded?" checks: one async readdir per folder (LRU-bounded),
 * sizes from the manifest, a stat only for a present name the manifest does not know. Files
 * planned in this run are reserved so two assets never claim the same path.
 */
export class DirCache {
  private readonly dirs = new Map<string, Set<string>>()
  private readonly reserved = new Map<string, number>()

  constructor(
    private readonly root: string,
    private readonly max = 256,
  ) {}

  async load(folder: string): Promise<void> {
    const hit = this.dirs.get(folder)
    if (hit) {
      this.dirs.delete(folder)
      this.dirs.set(folder, hit)
      return
    }
    let names: string[]
    try {
      names = await fs.readdir(folder === '' ? this.root : path.join(this.root, folder))
    } catch {
      names = [] // not created yet
    }
    this.dirs.set(folder, new Set(names))
    if (this.dirs.size > this.max) this.dirs.delete(this.dirs.keys().next().value!)
  }

  size(rel: string, known: ManifestFile[] | undefined): number | undefined {
    const r = this.reserved.get(rel)
    if (r !== undefined) return r
    const slash = rel.lastIndexOf('/')
    const names = this.dirs.get(rel.slice(0, Math.max(0, slash)))
    if (names && !names.has(rel.slice(slash + 1))) return undefined
    const k = known?.find((x) => x.relPath === rel)
    // A file edited after download (EXIF dates) still matches the size iCloud lists.
    if (k) return k.icloudSize ?? k.size
    try {
      return statSync(safeJoin(this.root, rel)).size
    } catch {
      return undefined
    }
  }

  /** True when the folder listing shows no `<rel>.part` (so the downloader need not look). */
  noPart(rel: string): boolean {
    const slash = rel.lastIndexOf('/')
    const names = this.dirs.get(rel.slice(0, Math.max(0, slash)))
    return names !== undefined && !names.has(path.basename(partPathFor(rel)))
  }

  reserve(rel: string, size: number): void {
    this.reserved.set(rel, size)
  }

  /** A finished download is now on disk; a failed one frees its path. */
  settle(rel: string, ok: boolean): void {
    this.reserved.delete(rel)
    if (!ok) return
    const slash = rel.lastIndexOf('/')
    this.dirs.get(rel.slice(0, Math.max(0, slash)))?.add(rel.slice(slash + 1))
  }
}
