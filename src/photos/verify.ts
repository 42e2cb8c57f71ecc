/**
 * The backup against the disk: the manifest says which files were written and how big they were;
 * a persistent directory (self-hosted runner, CLI) can lose or damage them behind our back.
 *
 * - `checkDisk`: one stat per manifest file (existence and size), on every sync with a state file
 *   beside the photos. Cheap enough to always run (bench/disk-check.ts: 100k files).
 * - `verifyDirectory` (`verify` command / `mode: verify`): re-hashes every file against the SHA-256
 *   recorded when it was downloaded; bit rot keeps the size, so only a hash finds it.
 *
 * A file that is there but wrong is never deleted: it is moved aside to `<name>.damaged` (it may be
 * the only copy left of an asset deleted in iCloud), and the next listing downloads the original to
 * its old path.
 */
import { createHash } from 'node:crypto'
import { createReadStream, promises as fs, statSync } from 'node:fs'
import path from 'node:path'
import { AppError } from '../core/errors.js'
import { safeJoin } from './filenames.js'
import type { PhotosLog } from './progress.js'
import {
  STATE_FILE,
  loadStateFile,
  packedDiskSize,
  saveStateFile,
  stamp,
  type ManifestFile,
  type SyncState,
} from './state.js'

/** Suffix of a damaged file moved aside. */
export const DAMAGED_SUFFIX = '.damaged'

export interface DiskProblem {
  assetId: string
  file: ManifestFile
  problem: 'missing' | 'size' | 'hash'
  /** Size on disk (size / hash problems). */
  actualSize?: number
}

/**
 * Stat every manifest file (synchronous stats: nothing else runs yet, and at 100k files promise
 * stats cost several times more). The packed manifest is read as it is — only path and size, no
 * digest decoding — and plain relative paths are joined by string; anything unusual goes through
 * safeJoin, and a path that would leave the directory (a tampered state file) counts as missing
 * and is never touched.
 */
export function checkDisk(directory: string, state: SyncState): { checked: number; problems: DiskProblem[] } {
  const problems: DiskProblem[] = []
  const root = path.resolve(directory) + path.sep
  const posix = path.sep === '/'
  let checked = 0
  for (const [assetId, packed] of state.manifest.packedEntries()) {
    const parts = packed.split(SEP)
    for (let i = 0; i + 2 < parts.length; i += 3) {
      checked++
      const relPath = parts[i]!
      const size = packedDiskSize(parts[i + 1]!)
      let full: string
      if (posix && !UNUSUAL.test(relPath)) full = root + relPath
      else {
        try {
          full = safeJoin(directory, relPath)
        } catch {
          problems.push({ assetId, file: fileAt(parts, i), problem: 'missing' })
          continue
        }
      }
      const st = statSync(full, { throwIfNoEntry: false })
      if (!st?.isFile()) problems.push({ assetId, file: fileAt(parts, i), problem: 'missing' })
      else if (st.size !== size)
        problems.push({ assetId, file: fileAt(parts, i), problem: 'size', actualSize: st.size })
    }
  }
  return { checked, problems }
}

/** Paths that need safeJoin's checks: `..`, absolute, backslashes, NUL, empty segments. */
const UNUSUAL = /(?:^|\/)\.{1,2}(?:\/|$)|^\/|\\|\0|\/\/|^$|\/$/

/** The digest is decoded only for the (few) problem files. */
function fileAt(parts: string[], i: number): ManifestFile {
  const sha = parts[i + 2]!
  return {
    relPath: parts[i]!,
    size: packedDiskSize(parts[i + 1]!),
    sha256: sha ? Buffer.from(sha, 'base64url').toString('hex') : '',
  }
}

const SEP = '\0'

/**
 * Forget the problem files so a listing fetches them again: drop them from the manifest, move a
 * wrong file aside, and drop the sync tokens — a delta only offers what changed in iCloud, and
 * the URL of a file that went missing here comes only from a listing. The tokens come back from
 * the next complete listing (this run's, normally).
 */
export async function forgetProblems(
  directory: string,
  state: SyncState,
  problems: DiskProblem[],
): Promise<string[]> {
  const moved: string[] = []
  const byAsset = new Map<string, Set<string>>()
  for (const p of problems) {
    if (p.problem !== 'missing') moved.push(await moveAside(directory, p.file.relPath))
    const set = byAsset.get(p.assetId) ?? new Set<string>()
    set.add(p.file.relPath)
    byAsset.set(p.assetId, set)
  }
  for (const [id, paths] of byAsset) {
    const files = state.manifest.get(id) ?? []
    state.manifest.set(
      id,
      files.filter((f) => !paths.has(f.relPath)),
    )
  }
  state.dbSyncToken = undefined
  state.zoneSyncToken = undefined
  state.optionsKey = undefined
  return moved
}

async function moveAside(directory: string, relPath: string): Promise<string> {
  const from = safeJoin(directory, relPath)
  let to = from + DAMAGED_SUFFIX
  for (let n = 2; await exists(to); n++) to = `${from}${DAMAGED_SUFFIX}-${n}`
  await fs.rename(from, to)
  return to
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  )
}

/** At most this many paths are named in a log line; the rest are counted. */
const NAMED = 10

export function describeProblems(problems: DiskProblem[]): string {
  const named = problems.slice(0, NAMED).map((p) => {
    if (p.problem === 'missing') return `${p.file.relPath} (missing)`
    if (p.problem === 'size') return `${p.file.relPath} (${p.actualSize} bytes, expected ${p.file.size})`
    return `${p.file.relPath} (content differs)`
  })
  const more = problems.length - named.length
  return named.join(', ') + (more > 0 ? ` and ${more} more` : '')
}

/**
 * The sync's disk check. Only with a state file beside the photos: a directory without one is new,
 * or a hand-off directory (hosted runner) whose files were uploaded elsewhere and deleted — there
 * a missing file is expected, and the manifest from the cache is the record of what was backed up.
 * Returns a note for the listing line when files must be fetched again (the run lists in full).
 * A dry run only reports.
 */
export async function diskCheck(
  directory: string,
  state: SyncState,
  persistent: boolean,
  dryRun: boolean,
  log: PhotosLog,
): Promise<string | undefined> {
  if (!persistent || state.manifest.size === 0) return undefined
  const { problems } = checkDisk(directory, state)
  if (problems.length === 0) return undefined
  const n = problems.length
  log.warning(
    `photos: ${n} downloaded file${n === 1 ? ' is' : 's are'} missing or damaged on disk: ${describeProblems(problems)}. ` +
      (dryRun ? 'A real run would download them again.' : 'Listing the library to download them again.'),
  )
  if (!dryRun) await forgetProblems(directory, state, problems)
  return `${n} file${n === 1 ? '' : 's'} missing or damaged on disk`
}

export interface VerifyResult {
  /** Files in the manifest. */
  files: number
  /** Files whose hash was compared. */
  hashed: number
  /** Files found on disk by another tool (icloudpd): no recorded hash, only the size is checked. */
  unhashed: number
  problems: DiskProblem[]
  /** Files moved aside (`--repair`). */
  movedAside: string[]
}

/**
 * Re-hash every manifest file. With `repair`, wrong files are moved aside and dropped from the
 * manifest, missing ones dropped too, and the tokens cleared (see forgetProblems), then the state
 * file is saved: the next sync (run in the same invocation by the CLI and the action) lists the
 * library and downloads exactly those files again.
 */
export async function verifyDirectory(o: {
  directory: string
  repair?: boolean
  log: PhotosLog
  /** Files hashed at once (default 4). */
  concurrency?: number
  signal?: AbortSignal
}): Promise<VerifyResult | undefined> {
  const state = await loadStateFile(o.directory)
  if (!state) return undefined
  const { checked, problems } = checkDisk(o.directory, state)
  const bad = new Set(problems.map((p) => p.file.relPath))
  let hashed = 0
  let unhashed = 0
  // A few workers pull files from one generator: memory stays flat at any library size.
  const manifest = state.manifest
  function* files(): Generator<[string, ManifestFile]> {
    for (const [assetId, list] of manifest.entries()) for (const f of list) yield [assetId, f]
  }
  const queue = files()
  const worker = async (): Promise<void> => {
    for (let next = queue.next(); !next.done; next = queue.next()) {
      const [assetId, file] = next.value
      if (bad.has(file.relPath)) continue
      if (!file.sha256) {
        unhashed++
        continue
      }
      o.signal?.throwIfAborted()
      let digest: string
      try {
        digest = await sha256File(safeJoin(o.directory, file.relPath))
      } catch {
        problems.push({ assetId, file, problem: 'missing' }) // gone (or unreadable) since the stat
        continue
      }
      hashed++
      if (digest !== file.sha256) problems.push({ assetId, file, problem: 'hash', actualSize: file.size })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker))
  let movedAside: string[] = []
  if (o.repair && problems.length) {
    movedAside = (await forgetProblems(o.directory, state, problems)).map((p) =>
      path.relative(o.directory, p).split(path.sep).join('/'),
    )
    await saveStateFile(o.directory, stamp(state))
  }
  return { files: checked, hashed, unhashed, problems, movedAside }
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')))
  })
}

/** One line per problem, for the CLI's output and the action's log. */
export function problemLines(r: VerifyResult): string[] {
  return r.problems.map((p) =>
    p.problem === 'missing'
      ? `missing: ${p.file.relPath}`
      : p.problem === 'size'
        ? `damaged: ${p.file.relPath} (${p.actualSize} bytes, expected ${p.file.size})`
        : `damaged: ${p.file.relPath} (content differs from the SHA-256 recorded at download)`,
  )
}

export function verifySummary(directory: string, r: VerifyResult): string {
  return (
    `Verified ${r.files} file${r.files === 1 ? '' : 's'} in ${directory}: ${r.hashed} hashed, ` +
    `${r.unhashed} without a recorded hash (size checked only), ${r.problems.length} missing or damaged.`
  )
}

/** The error of a verify that found problems and did not repair them. */
export function verifyFailed(directory: string, r: VerifyResult): AppError {
  const n = r.problems.length
  return new AppError(
    'VERIFY_FAILED',
    `${n} downloaded file${n === 1 ? ' is' : 's are'} missing or damaged in ${directory}: ${describeProblems(r.problems)}.`,
    'Run verify again with repair (CLI `--repair`, action input `repair: true`): damaged files are moved aside as *.damaged and downloaded again.',
  )
}

/** verify needs the state file beside the photos. */
export function noStateToVerify(directory: string): AppError {
  return new AppError(
    'CONFIG_INVALID',
    `There is nothing to verify in ${directory}: it has no ${STATE_FILE}.`,
    'verify checks the directory a sync downloads into and keeps its state in; a hand-off directory (files uploaded elsewhere, state only in the cache) cannot be verified.',
  )
}

/**
 * `verify` as the action and the CLI both run it: the check (with `repair`, damaged files moved
 * aside), then each problem and the summary through `print`. Without a state file there is
 * nothing to check against: NO state is an error (noStateToVerify).
 */
export async function verifyAndPrint(o: {
  directory: string
  repair?: boolean
  log: PhotosLog
  print: { problem(line: string): void; summary(line: string): void }
}): Promise<VerifyResult> {
  const result = await verifyDirectory({ directory: o.directory, repair: o.repair, log: o.log })
  if (!result) throw noStateToVerify(o.directory)
  for (const l of problemLines(result)) o.print.problem(l)
  o.print.summary(verifySummary(o.directory, result))
  return result
}
