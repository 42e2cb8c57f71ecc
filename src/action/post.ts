/**
 * The post step: pack the (possibly refreshed) session files with the run's state into the
 * encrypted bundle and save it to the Actions cache. It never fails the job — only warnings.
 * It never saves a state that knows less than the one restored at the start of the run.
 */
import * as core from '@actions/core'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { State } from './constants.js'
import { readSettings } from './inputs.js'
import { actionsLog } from './log.js'
import { actionsState } from './state.js'
import { readSessionFiles } from '../icloud/session-files.js'
import { PENDING_STATE_FILE, type StepDeps } from './run.js'
import { ActionsCacheBackend } from '../session-cache/backend.js'
import { saveSession } from '../session-cache/session-cache.js'

export async function post(deps: StepDeps = {}): Promise<void> {
  const state = deps.state ?? actionsState
  const log = deps.log ?? actionsLog
  try {
    const cookieDirectory = state.get(State.CookieDirectory)
    const username = state.get(State.Username)
    if (!cookieDirectory || !username || state.get(State.SessionCache) !== 'true') return
    const settings = readSettings(deps.getInput, deps.env)
    const files = await readSessionFiles(cookieDirectory, username)
    if (!Object.keys(files).length) {
      log.info('No session files to save.')
      return
    }
    // Main writes this once the session is restored and at each checkpoint. Without it (main was
    // killed before that), saving would put an entry that knows less over the restored one.
    const bundleState = await readPendingState(join(settings.cacheTmpDir, PENDING_STATE_FILE))
    if (!bundleState) {
      log.info(
        'Session not saved: the main step left no state (it was stopped before restoring the session); the cached entry stays as it was.',
      )
      return
    }
    const savedAt = Number(state.get(State.SessionSavedAt))
    const result = await saveSession({
      backend: deps.cache ?? new ActionsCacheBackend(),
      key: settings.sessionKey,
      repository: settings.repository,
      runnerOs: settings.runnerOs,
      runId: settings.runId,
      runAttempt: settings.runAttempt,
      bundle: { files, state: bundleState },
      previousFingerprint: state.get(State.SessionFingerprint) || undefined,
      restoredAt: state.get(State.SessionCacheKey) || undefined,
      lastSavedAt: Number.isFinite(savedAt) && savedAt > 0 ? savedAt : undefined,
      now: (deps.now ?? Date.now)(),
      tmpDir: settings.cacheTmpDir,
      log,
    })
    log.info(
      result.saved
        ? `Session saved to the Actions cache (${result.key}).`
        : `Session not saved: ${result.reason}.`,
    )
  } catch (err) {
    core.warning(`Saving the session to the cache failed: ${(err as Error).message}`)
  }
}

/** The state main left, or undefined when there is none or it cannot be read (never `{}` then). */
async function readPendingState(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return undefined
  }
  try {
    const v: unknown = JSON.parse(text)
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
