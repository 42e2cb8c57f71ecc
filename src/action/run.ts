/**
 * The action's main step: inputs → config → session (cache or seed) → sign-in → trust expiry →
 * photos → outputs, summary and report. One setFailed at most; notifications never hide the error.
 */
import { isS3 } from '../destinations/open.js'
import { rm } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { Inputs, State } from './constants.js'
import { readSettings, type GetInput, type Settings } from './inputs.js'
import { actionsLog, redactingLog, type ActionLog } from './log.js'
import { actionsState, type StateProvider } from './state.js'
import { buildChannels } from './channels.js'
import { writeSessionFiles } from '../icloud/session-files.js'
import { writeReport, type RunReport } from './report.js'
import { PHOTOS_STATE_KEY, runPhotos } from './photos-step.js'
import { HANDOFF_KEY } from './handoff.js'
import { hostedRunnerWarning, restoreState, stateInCache } from './state-step.js'
import type { SyncState } from '../photos/state.js'
import { runVerify } from './verify-step.js'
import { runList } from './list-step.js'
import { PendingState } from './checkpoint.js'
import { cancelledRun, throwIfCancelled } from './cancel.js'
import type { Cancellation } from '../util/signals.js'
import { applyInputOverrides, loadConfig, type Config } from '../config/index.js'
import type { AuthResult } from '../icloud/auth.js'
import { AppError } from '../core/errors.js'
import type { CacheBackend } from '../session-cache/backend.js'
import { clearProblem, type Channel } from '../notify/dispatch.js'
import { validateOnly } from './validate-step.js'
import { checkReauthSetup, mfaProvider, reauthenticate, restore, signIn } from './session-step.js'
import type { RunContext } from './context.js'
import { handleExpiry } from './expiry.js'
import { fail, photosResult, recovered } from './failure.js'

/** What main and post take from outside; tests pass their own (actions/cache's StateProvider idea). */
export interface StepDeps {
  getInput?: GetInput
  env?: NodeJS.ProcessEnv
  state?: StateProvider
  log?: ActionLog
  cache?: CacheBackend
  now?: () => number
  /** SIGINT/SIGTERM, forwarded by the launcher (main.ts). */
  cancel?: Cancellation
}

/**
 * Hand-off: the state entry is the truth about the previous runs (the session bundle of an earlier
 * release may still carry a state and a pending record: used only when there is no state entry).
 */
async function restoreHandOffState(
  settings: Settings,
  config: Config,
  cache: CacheBackend | undefined,
  log: ActionLog,
  state: StateProvider,
  bundleState: Record<string, unknown>,
): Promise<{ bundleState: Record<string, unknown>; state?: SyncState }> {
  state.set(State.StateDirectory, config.photos.directory!)
  let restored
  try {
    restored = await restoreState(settings, config, cache, log)
  } catch (err) {
    log.warning(`Could not read the cached download state: ${(err as Error).message}`)
    return { bundleState }
  }
  const r = restored.entry
  if (!r.found) return { bundleState }
  state.set(State.StateCacheKey, r.cacheKey)
  state.set(State.StateFingerprint, r.fingerprint)
  if (r.savedAt) state.set(State.StateSavedAt, String(r.savedAt))
  const { [PHOTOS_STATE_KEY]: _legacy, [HANDOFF_KEY]: _pending, ...rest } = bundleState
  const pending = r.extras[HANDOFF_KEY]
  return {
    bundleState: pending === undefined ? rest : { ...rest, [HANDOFF_KEY]: pending },
    state: restored.state,
  }
}

/** Written by main, read by post: the non-file half of the encrypted bundle. */
export const PENDING_STATE_FILE = 'pending-state.json'

export async function run(deps: StepDeps = {}): Promise<RunReport> {
  const env = deps.env ?? process.env
  const state = deps.state ?? actionsState
  // The Apple ID is shown masked everywhere; once it is known, no log line carries it in full.
  let appleId: string | undefined
  const log = redactingLog(deps.log ?? actionsLog, () => appleId)
  const now = deps.now ?? Date.now
  state.set(State.IsPost, 'true')
  const report: RunReport = {
    version: 1,
    status: 'ok',
    mode: 'sync',
    startedAt: new Date(now()).toISOString(),
  }
  let settings: Settings | undefined
  let config: Config | undefined
  let channels: Channel[] = []
  let bundleState: Record<string, unknown> = {}
  let pending: PendingState | undefined
  let unregister = (): void => undefined
  try {
    settings = readSettings(deps.getInput, env)
    // Until the session is restored there is nothing for post to save: no file, post keeps the cache.
    pending = new PendingState(join(settings.cacheTmpDir, PENDING_STATE_FILE), log)
    await rm(pending.file, { force: true })
    const p = pending
    const c = deps.cancel
    const s = settings
    // A forced exit (second signal, grace period over) leaves the last checkpoint and the outputs.
    unregister =
      c?.onForcedExit(async () => {
        await p.flush()
        cancelledRun(c, report, log)
        report.finishedAt = new Date(now()).toISOString()
        await writeReport(report, s)
      }) ?? unregister
    report.mode = settings.mode
    if (settings.mode === 'validate-config') return await validateOnly(settings, report, log)
    config = applyInputOverrides(await loadConfig(settings.configPath), {
      directory: settings.directory,
      dryRun: settings.dryRun,
      handOff: settings.handOff,
      maxDuration: settings.maxDuration,
    })
    report.account = config.account.username
    appleId = config.account.username
    channels = buildChannels(config, settings, log)
    const ctx: RunContext = { config, settings, channels, report, log }
    if (settings.mode === 'reauth') checkReauthSetup(settings)
    const downloads = settings.mode === 'sync' || settings.mode === 'verify'
    const hosted = downloads ? hostedRunnerWarning(config, settings) : undefined
    if (hosted) log.warning(hosted, { title: 'Not a backup' })
    if (settings.mode === 'verify' && isS3(config.photos)) {
      // Re-hashing means reading every object back: a bucket's own checksums already did that job.
      throw new AppError(
        'CONFIG_INVALID',
        '`mode: verify` re-hashes the files of a photos directory; an S3 destination is verified as each object is written (its checksum or a HEAD).',
        "Run verify on a directory backup, or use your store's own integrity tools for the bucket.",
      )
    }
    const needsDirectory = settings.mode === 'verify' || (settings.mode === 'sync' && !isS3(config.photos))
    if (needsDirectory && !config.photos.directory) {
      throw new AppError(
        'CONFIG_INVALID',
        `No download directory: set \`photos.directory\` in ${relative(settings.workspace, config.file) || config.file} or the \`${Inputs.Directory}\` input.`,
        '',
      )
    }

    if (settings.mode === 'verify') {
      await runVerify(config, settings.repair, log, report)
      if (!settings.repair) return report // no sign-in: the check is local
    }

    // Session: cache → seed → whatever is already in the cookie directory (self-hosted runners).
    const cookieDirectory = config.auth.cookieDirectory
    state.set(State.CookieDirectory, cookieDirectory)
    state.set(State.Username, config.account.username)
    state.set(State.SessionCache, String(config.session.cache))
    const restored = await restore(settings, config, deps.cache, log)
    if (restored.bundle) {
      bundleState = restored.bundle.state
      const n = await writeSessionFiles(cookieDirectory, config.account.username, restored.bundle.files)
      log.info(
        `Session restored from the ${restored.source === 'cache' ? 'Actions cache' : '`session` input'} (${n} files).`,
      )
    }
    report.session = { source: restored.source, method: undefined, srpAttempts: 0 }
    if (restored.cacheKey) state.set(State.SessionCacheKey, restored.cacheKey)
    if (restored.fingerprint) state.set(State.SessionFingerprint, restored.fingerprint)
    if (restored.savedAt) state.set(State.SessionSavedAt, String(restored.savedAt))
    let cachedState: SyncState | undefined
    if (downloads && stateInCache(config, settings))
      ({ bundleState, state: cachedState } = await restoreHandOffState(
        settings,
        config,
        deps.cache,
        log,
        state,
        bundleState,
      ))
    // From here on, post saves at least what was restored, whenever this step ends.
    await pending.write(bundleState)
    throwIfCancelled(deps.cancel)

    const mfa = mfaProvider(config, settings, log)
    let auth: AuthResult
    try {
      auth =
        settings.mode === 'reauth'
          ? await reauthenticate(settings, config, log, now, mfa)
          : await signIn(settings, config, log, now, config.auth.cookieDirectory, mfa)
    } finally {
      await mfa?.cleanup()
    }
    try {
      report.session = { source: restored.source, method: auth.method, srpAttempts: auth.srpAttempts }
      report.trust = {
        expiresAt: auth.trust.expiresAt?.toISOString(),
        daysRemaining: auth.trust.daysRemaining,
        source: auth.trust.source,
      }
      bundleState = await handleExpiry(auth, ctx, bundleState)
      await pending.write(bundleState)
      throwIfCancelled(deps.cancel)
      if (settings.mode === 'list') await runList(auth, config, report, log)
      if (settings.mode === 'sync' || settings.mode === 'verify') {
        const p = pending
        const photos = await runPhotos({
          auth,
          config,
          settings,
          bundleState,
          cachedState,
          log,
          now,
          signal: deps.cancel?.signal,
          onCheckpoint: (b) => {
            bundleState = b
            return p.write(b)
          },
        })
        bundleState = photos.bundleState
        report.photos = photos.summary
        await pending.write(bundleState)
        throwIfCancelled(deps.cancel)
        bundleState = await photosResult(
          { ...photos.summary, stopReason: photos.stopReason, diskError: photos.diskError },
          ctx,
          bundleState,
        )
      }
      await recovered(ctx)
      if (report.status === 'ok') bundleState = clearProblem(bundleState)
    } finally {
      await auth.session.close()
    }
  } catch (err) {
    if (deps.cancel?.requested) cancelledRun(deps.cancel, report, log)
    else bundleState = await fail(err, report, config, settings, channels, log, bundleState)
  } finally {
    if (pending?.current) {
      await pending.write(bundleState)
      await pending.flush()
    }
    unregister()
    report.finishedAt = new Date(now()).toISOString()
    await writeReport(report, settings)
  }
  return report
}
