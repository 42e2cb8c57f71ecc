/**
 * One run per photos directory: two runs at once (a manual dispatch during a scheduled run on a
 * self-hosted runner) would delete each other's `.part` files. The lock is a file in the directory
 * holding who has it (pid, host, start time). It is created complete or not at all (written aside,
 * then hard-linked into place, which fails if a lock exists), so a reader never sees half of one.
 *
 * A lock is stale when its process is gone on this host, or when it was not refreshed for
 * STALE_AFTER_MS (another host sharing the directory, or a recycled pid): then it is broken.
 */
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { AppError } from '../core/errors.js'

export const LOCK_FILE = '.icloud-photos.lock'
/** A live run refreshes its lock's time every few minutes; 12 h without that means it is gone. */
export const STALE_AFTER_MS = 12 * 3_600_000
const REFRESH_MS = 5 * 60_000
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'])

export interface LockHolder {
  pid: number
  host: string
  /** ISO 8601. */
  startedAt: string
  /** Random, so a release never removes a lock someone else took over. */
  token: string
}

export interface LockOptions {
  /** How long to wait for the holder to finish (default 0: fail at once with LOCKED). */
  waitMs?: number
  /** Between checks while waiting (default 1 s). */
  pollMs?: number
  log?: { info(m: string): void }
  now?: () => number
}

export interface DirectoryLock {
  readonly path: string
  release(): Promise<void>
}

export async function acquireDirectoryLock(directory: string, o: LockOptions = {}): Promise<DirectoryLock> {
  const now = o.now ?? Date.now
  const dir = path.resolve(directory)
  const file = path.join(dir, LOCK_FILE)
  await ensureDirectory(dir)
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date(now()).toISOString(),
    token: randomBytes(8).toString('hex'),
  }
  const deadline = now() + (o.waitMs ?? 0)
  let told = false
  for (;;) {
    if (await tryCreate(file, me)) break
    const holder = await readHolder(file)
    if (holder === 'gone') continue
    const stale = await staleness(file, holder, now())
    if (stale) {
      o.log?.info(`photos: removing a stale lock in ${dir} (${stale}).`)
      await breakLock(file, holder)
      continue
    }
    if (now() >= deadline) throw locked(dir, file, holder)
    if (!told) {
      o.log?.info(`photos: ${describeHolder(holder)} is using ${dir}; waiting for it to finish.`)
      told = true
    }
    await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 1000, Math.max(1, deadline - now()))))
  }
  // Keep the lock's time fresh so other hosts can tell a long run from a dead one.
  const timer = setInterval(() => {
    const t = new Date()
    void fs.utimes(file, t, t).catch(() => undefined)
  }, REFRESH_MS)
  timer.unref()
  let released = false
  return {
    path: file,
    async release() {
      if (released) return
      released = true
      clearInterval(timer)
      const holder = await readHolder(file)
      if (holder !== 'gone' && holder && holder.token === me.token) await fs.rm(file, { force: true })
    },
  }
}

/** The directory exists or is created; a permission problem or a file in the way is DISK, named. */
async function ensureDirectory(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true })
    const st = await fs.stat(dir)
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
  } catch (err) {
    throw directoryError(dir, err)
  }
}

/** EACCES/EPERM/ENOTDIR/EROFS on the photos directory → DISK with the path and the fix. */
export function directoryError(dir: string, err: unknown): AppError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error'
  const fix =
    code === 'ENOTDIR' || code === 'EEXIST'
      ? `A file is in the way: ${dir} (or a parent) is not a directory. Move that file, or set \`photos.directory\` to another path.`
      : code === 'EACCES' || code === 'EPERM'
        ? `The user running the backup may not write there: give it write access (e.g. \`sudo chown -R $(id -u) ${dir}\`), or set \`photos.directory\` to a directory it owns.`
        : code === 'ENOSPC' || code === 'EDQUOT'
          ? `The disk holding ${dir} is full (or the quota is used up): free disk space there, or set \`photos.directory\` to a disk with room for the files left.`
          : 'Check that the disk is mounted, writable and not full.'
  return new AppError('DISK', `Cannot use the photos directory ${dir} (${code}).`, fix, { cause: err })
}

async function tryCreate(file: string, me: LockHolder): Promise<boolean> {
  const tmp = `${file}.${me.token}.tmp`
  try {
    await fs.writeFile(tmp, JSON.stringify(me) + '\n', { mode: 0o644 })
    try {
      await fs.link(tmp, file)
      return true
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      if (!NO_HARD_LINKS.has(code ?? '')) throw err
    }
    // exFAT/FAT drives and some network shares have no hard links: an exclusive create instead.
    try {
      await fs.writeFile(file, JSON.stringify(me) + '\n', { flag: 'wx', mode: 0o644 })
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
  } catch (err) {
    throw directoryError(path.dirname(file), err)
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined)
  }
}

/** The holder, `undefined` when the file cannot be parsed, 'gone' when it vanished meanwhile. */
async function readHolder(file: string): Promise<LockHolder | undefined | 'gone'> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw directoryError(path.dirname(file), err)
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.startedAt === 'string')
      return { pid: h.pid, host: h.host, startedAt: h.startedAt, token: String(h.token ?? '') }
  } catch {
    // not ours, or damaged by hand: judged by its age alone
  }
  return undefined
}

/** Why the lock is stale, or '' when its holder may still be running. */
async function staleness(file: string, holder: LockHolder | undefined, now: number): Promise<string> {
  if (holder && holder.host === hostname() && !alive(holder.pid))
    return `process ${holder.pid} is no longer running`
  let mtime: number
  try {
    mtime = (await fs.stat(file)).mtimeMs
  } catch {
    return 'it vanished'
  }
  if (now - mtime > STALE_AFTER_MS) return `not refreshed since ${new Date(mtime).toISOString()}`
  return ''
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Moves the stale lock aside, then checks it was the one judged: if another run broke it and took
 * the lock meanwhile, that run's lock is put back.
 */
async function breakLock(file: string, judged: LockHolder | undefined): Promise<void> {
  const aside = `${file}.stale-${randomBytes(6).toString('hex')}`
  try {
    await fs.rename(file, aside)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw directoryError(path.dirname(file), err)
  }
  const moved = await readHolder(aside)
  const same = moved === undefined || moved === 'gone' ? judged === undefined : judged?.token === moved.token
  if (!same) await fs.link(aside, file).catch(() => undefined)
  await fs.rm(aside, { force: true })
}

function describeHolder(h: LockHolder | undefined): string {
  return h ? `Another run (pid ${h.pid} on ${h.host}, started ${h.startedAt})` : 'Another run'
}

function locked(dir: string, file: string, h: LockHolder | undefined): AppError {
  return new AppError(
    'LOCKED',
    `${describeHolder(h)} is using the photos directory ${dir}.`,
    `Wait for it to finish, or set \`photos.lock-wait\` (seconds) to wait for it. If no such run exists, delete ${file}.`,
  )
}
