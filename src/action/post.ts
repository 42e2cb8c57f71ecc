/**
 * The post step: pack the (possibly refreshed) session files with the run's small state into the
 * encrypted bundle and save it to the Actions cache; in hand-off mode first save the download
 * state (the directory's state file) to its own entry. It never fails the job — only warnings.
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
import { HANDOFF_KEY } from './handoff.js'
import { PHOTOS_STATE_KEY } from './photos-step.js'
import { saveState } from './state-step.js'

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
    const now = (deps.now ?? Date.now)()
    // The state first: a session saved without the pending record while the state entry failed
    // would lose that record; the other way round, the record is only read from the state entry.
    let sessionState = bundleState
    const directory = state.get(State.StateDirectory)
    if (directory) {
      const { [HANDOFF_KEY]: pending, [PHOTOS_STATE_KEY]: _legacy, ...rest } = bundleState
      const r = await saveState({
        settings,
        account: username,
        directory,
        extras: pending === undefined ? {} : { [HANDOFF_KEY]: pending },
        cache: deps.cache,
        log,
        previousFingerprint: state.get(State.StateFingerprint) || undefined,
        restoredAt: state.get(State.StateCacheKey) || undefined,
        lastSavedAt: epoch(state.get(State.StateSavedAt)),
        now,
      })
      log.info(
        r.saved
          ? `Download state saved to the Actions cache (${r.key}).`
          : `Download state not saved: ${r.reason}.`,
      )
      // The state entry holds the record (and the state) now; the session need not.
      if (r.saved || r.reason === 'unchanged') sessionState = rest
    }
    const result = await saveSession({
      backend: deps.cache ?? new ActionsCacheBackend(),
      key: settings.sessionKey,
      repository: settings.repository,
      account: username,
      runnerOs: settings.runnerOs,
      runId: settings.runId,
      runAttempt: settings.runAttempt,
      bundle: { files, state: sessionState },
      previousFingerprint: state.get(State.SessionFingerprint) || undefined,
      restoredAt: state.get(State.SessionCacheKey) || undefined,
      lastSavedAt: epoch(state.get(State.SessionSavedAt)),
      now,
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

function epoch(text: string): number | undefined {
  const v = Number(text)
  return Number.isFinite(v) && v > 0 ? v : undefined
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
