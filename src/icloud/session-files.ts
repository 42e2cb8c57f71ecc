/**
 * Moves the pyicloud session files between the cookie directory and the encrypted bundle that
 * the cache and the `session` input carry. Only this account's two files travel.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { cookieDirectoryError, sessionPaths } from './session-store.js'
import { writeFileAtomic } from '../util/atomic.js'

export async function readSessionFiles(
  cookieDirectory: string,
  username: string,
): Promise<Record<string, Buffer>> {
  const p = sessionPaths(cookieDirectory, username)
  const files: Record<string, Buffer> = {}
  for (const path of [p.jarPath, p.sessionPath]) {
    try {
      files[basename(path)] = await readFile(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  return files
}

/** Writes the bundle's files for this account into the cookie directory (0700 / 0600, atomic). */
export async function writeSessionFiles(
  cookieDirectory: string,
  username: string,
  files: Record<string, Buffer>,
): Promise<number> {
  const p = sessionPaths(cookieDirectory, username)
  let n = 0
  try {
    await mkdir(p.dir, { recursive: true, mode: 0o700 })
    for (const path of [p.jarPath, p.sessionPath]) {
      const content = files[basename(path)]
      if (!content) continue
      await writeFileAtomic(path, content, 0o600)
      n++
    }
  } catch (err) {
    throw cookieDirectoryError(p.dir, err, 'save')
  }
  return n
}
