/**
 * Where the download state lives between runs, and the warning for a backup that is not one.
 *
 * The state belongs with the photos: the state file beside them in a directory, an object in a
 * bucket (the destination keeps it). Only in hand-off mode does a directory vanish with the job,
 * so there — and only there — the state travels in its own encrypted cache entry
 * (session-cache/state-entry.ts): restored and handed to the engine before it runs, saved from the
 * directory's state file by the post step. The session entry never carries it (it stays a few KB).
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config/index.js'
import { parseState, STATE_FILE, type SyncState } from '../photos/state.js'
import type { CacheBackend } from '../session-cache/backend.js'
import { ActionsCacheBackend } from '../session-cache/backend.js'
import {
  restoreStateEntry,
  saveStateEntry,
  type NormalizeHead,
  type StateRestore,
} from '../session-cache/state-entry.js'
import type { SaveResult } from '../session-cache/session-cache.js'
import type { Settings } from './inputs.js'
import type { Log } from './log.js'

/** `photos.destination.type`, read defensively (the key is newer than some configs' types): 'directory' when absent. */
export function destinationType(config: Config): string {
  const d = (config.photos as { destination?: { type?: unknown } }).destination
  return typeof d?.type === 'string' ? d.type : 'directory'
}

/**
 * The destination decides: one that keeps the state itself (a bucket, or a directory that outlives
 * the job) needs no state cache entry; a directory in hand-off mode (ephemeral runner) does.
 */
export function stateInDestination(config: Config): boolean {
  return !(config.photos.handOff && destinationType(config) === 'directory')
}

/** Whether the state goes through the Actions cache in this run (hand-off, a key, caching on). */
export function stateInCache(config: Config, settings: Pick<Settings, 'sessionKey'>): boolean {
  return (
    !stateInDestination(config) &&
    config.session.cache &&
    !!settings.sessionKey?.trim() &&
    !!config.photos.directory
  )
}

/**
 * A GitHub-hosted runner's disk is wiped when the job ends: photos written to a directory there
 * are gone, unless hand-off mode says a later step uploads them (its commit rule then applies).
 */
export function hostedRunnerWarning(
  config: Config,
  settings: Pick<Settings, 'runnerEnvironment'>,
): string | undefined {
  if (settings.runnerEnvironment !== 'github-hosted') return undefined
  if (destinationType(config) !== 'directory' || config.photos.handOff) return undefined
  return (
    'This job runs on a GitHub-hosted runner and writes the photos to a directory on it: the files vanish when the job ends, so this is not a backup. ' +
    'Use an S3-compatible `photos.destination` (the durable choice on hosted runners), a self-hosted runner with a persistent `photos.directory`, ' +
    'or `photos.hand-off: true` with a later step of the job that uploads the files (`new-files` lists them).'
  )
}

/**
 * Hand-off: the cached state, for the engine to weigh against a state file in the directory (the
 * newer wins). It is not written into the directory: a state file there tells the engine the
 * files are there too, and on a fresh runner they are not (a later step moved them).
 */
export async function restoreState(
  settings: Settings,
  config: Config,
  cache: CacheBackend | undefined,
  log: Log,
): Promise<{ entry: StateRestore; state?: SyncState }> {
  const restored = join(settings.cacheTmpDir, 'restored-state.json')
  const entry = await restoreStateEntry({
    ...common(settings, config, cache, log),
    outFile: restored,
  })
  if (!entry.found) return { entry }
  try {
    const state = parseState(await readFile(restored, 'utf8'))
    if (!state) log.warning('The cached download state is not a state this version can read; ignoring it.')
    return { entry, state }
  } finally {
    await rm(restored, { force: true })
  }
}

/**
 * The engine stamps the state on every save (`"g"` generation, `"t"` time, first in the file: see
 * serializeStatePieces), also when a fresh runner's run found nothing new. Leaving them out of the
 * fingerprint keeps such a run from uploading the whole state again.
 */
export const withoutSaveStamp: NormalizeHead = (head) =>
  Buffer.from(head.toString('latin1').replace(/^\{"v":(\d+),"g":\d+,"t":"[^"]*"/, '{"v":$1'), 'latin1')

function common(settings: Settings, config: Config, cache: CacheBackend | undefined, log: Log) {
  return {
    backend: cache ?? new ActionsCacheBackend(),
    key: settings.sessionKey!,
    account: config.account.username,
    repository: settings.repository,
    runnerOs: settings.runnerOs,
    runId: settings.runId,
    runAttempt: settings.runAttempt,
    tmpDir: settings.cacheTmpDir,
    log,
    normalizeHead: withoutSaveStamp,
  }
}

/** Post: save the directory's state file (with `extras`) as a new entry when it changed. */
export async function saveState(o: {
  settings: Settings
  account: string
  directory: string
  extras: Record<string, unknown>
  cache: CacheBackend | undefined
  log: Log
  previousFingerprint?: string
  restoredAt?: string
  lastSavedAt?: number
  now: number
}): Promise<SaveResult> {
  const { settings } = o
  return saveStateEntry({
    backend: o.cache ?? new ActionsCacheBackend(),
    key: settings.sessionKey!,
    account: o.account,
    repository: settings.repository,
    runnerOs: settings.runnerOs,
    runId: settings.runId,
    runAttempt: settings.runAttempt,
    tmpDir: settings.cacheTmpDir,
    log: o.log,
    stateFile: join(o.directory, STATE_FILE),
    extras: o.extras,
    previousFingerprint: o.previousFingerprint,
    restoredAt: o.restoredAt,
    lastSavedAt: o.lastSavedAt,
    now: o.now,
    normalizeHead: withoutSaveStamp,
  })
}
