/**
 * Atomic file replacement: a temp file in the same directory, fsync, rename, then fsync of the
 * directory — a crash or a killed run leaves the old file or the new one, never half of either.
 */
import { open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { randomBytes } from 'node:crypto'

/**
 * `content` may be a sequence of pieces (written in batches as they come), so a large file need
 * not be built as one string first.
 */
export async function writeFileAtomic(
  target: string,
  content: string | Buffer | Iterable<string>,
  mode = 0o600,
): Promise<void> {
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`,
  )
  const fh = await open(tmp, 'wx', mode)
  try {
    try {
      await fh.chmod(mode)
      await fh.writeFile(typeof content === 'string' || Buffer.isBuffer(content) ? content : batched(content))
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, target)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw err
  }
  await syncDirectory(path.dirname(target))
}

/** Joins small pieces into writes of about 64 KiB. */
function* batched(pieces: Iterable<string>, size = 64 * 1024): Generator<string> {
  let batch = ''
  for (const p of pieces) {
    batch += p
    if (batch.length >= size) {
      yield batch
      batch = ''
    }
  }
  if (batch) yield batch
}

/** Makes the rename itself durable; not every platform lets a directory be opened, so best effort. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  } catch {
    // Windows and some file systems refuse; the data itself is already synced.
  }
}
