/**
 * Hand-off mode (`photos.hand-off`): on an ephemeral runner the photos only survive if a later step
 * of the job uploads them, so a file counts as backed up only once the job that downloaded it
 * succeeded. A run records what it downloaded as *pending* in the bundle, with the sync tokens it
 * started from; the next run asks GitHub how that run ended (`GET /actions/runs/{id}/attempts/{n}`)
 * and commits the files on `success`, or puts the tokens back so that they are listed and
 * downloaded again on anything else — failure, cancellation, a run still going, or no answer.
 *
 * The tokens are what makes a hosted run incremental (its disk starts empty), so putting them back
 * is what brings the files back; the manifest entries of the listed files are removed too, so the
 * state never claims a file that was not backed up.
 */
import type { Settings } from './inputs.js'
import type { Log } from './log.js'
import { GitHubApiError, GitHubClient } from '../github/client.js'
import { stamp, type SyncState } from '../photos/state.js'

/** Key of the pending record inside the bundle's `state`. */
export const HANDOFF_KEY = 'handoff'

interface Tokens {
  library?: SyncState['library']
  zoneSyncToken?: string
  dbSyncToken?: string
  optionsKey?: string
}

export interface PendingCommit {
  runId: string
  runAttempt: string
  /** The tokens the run started from: where the next run resumes if this one is not confirmed. */
  base: Tokens
  /** Relative paths the run downloaded; null while unknown (a checkpoint mid-run). */
  files: string[] | null
}

export interface Verdict {
  committed: boolean
  /** Why, for the log. */
  why: string
  /** No answer from GitHub (as opposed to a run that did not succeed). */
  unknown?: boolean
}

export type AskConclusion = (runId: string, runAttempt: string) => Promise<Verdict>

export function tokensOf(s: SyncState): Tokens {
  return {
    library: s.library,
    zoneSyncToken: s.zoneSyncToken,
    dbSyncToken: s.dbSyncToken,
    optionsKey: s.optionsKey,
  }
}

export function pendingCommit(
  settings: Pick<Settings, 'runId' | 'runAttempt'>,
  base: Tokens,
  files: string[] | null,
): PendingCommit {
  return { runId: settings.runId, runAttempt: settings.runAttempt, base, files }
}

function parsePending(v: unknown): PendingCommit | undefined {
  const p = v as Partial<PendingCommit> | null | undefined
  if (!p || typeof p !== 'object' || typeof p.runId !== 'string' || typeof p.runAttempt !== 'string')
    return undefined
  const files = Array.isArray(p.files) ? p.files.filter((f): f is string => typeof f === 'string') : null
  return { runId: p.runId, runAttempt: p.runAttempt, base: (p.base ?? {}) as Tokens, files }
}

/** How the run attempt ended, from the GitHub API; anything but a clear `success` is not committed. */
export function githubConclusion(settings: Settings): AskConclusion {
  return async (runId, runAttempt) => {
    const run = `run ${runId} (attempt ${runAttempt})`
    if (!settings.githubToken)
      return { committed: false, unknown: true, why: `no \`github-token\` to ask GitHub how ${run} ended` }
    const client = new GitHubClient({
      token: settings.githubToken,
      repository: settings.repository,
      apiUrl: settings.apiUrl,
      retries: 1,
      minRetryDelayMs: 500,
      timeoutMs: 15_000,
    })
    try {
      const res = await client.request<{ status?: string; conclusion?: string | null }>(
        'GET',
        `${client.repoPath}/actions/runs/${encodeURIComponent(runId)}/attempts/${encodeURIComponent(runAttempt)}`,
      )
      const { status, conclusion } = res.data ?? {}
      if (status !== 'completed')
        return { committed: false, why: `${run} has not finished (${status ?? 'no status'})` }
      if (conclusion === 'success') return { committed: true, why: `${run} succeeded` }
      return { committed: false, why: `${run} ended \`${conclusion ?? 'without a conclusion'}\`` }
    } catch (err) {
      const status = err instanceof GitHubApiError ? err.status : 0
      const hint = status === 403 || status === 404 ? ' (give the workflow `permissions: actions: read`)' : ''
      return {
        committed: false,
        unknown: true,
        why: `GitHub could not tell how ${run} ended: ${(err as Error).message}${hint}`,
      }
    }
  }
}

/**
 * Settle the previous run's pending files before this run starts: commit them, or put the tokens
 * back (and drop their manifest entries) so that this run downloads them again. Returns the bundle
 * state without the pending record; `state` is changed in place (and stamped, so it wins over an
 * older state file).
 */
export async function settlePending(o: {
  bundleState: Record<string, unknown>
  state: SyncState
  ask: AskConclusion
  log: Log
}): Promise<Record<string, unknown>> {
  const { [HANDOFF_KEY]: raw, ...rest } = o.bundleState
  const p = parsePending(raw)
  if (!p) return rest
  const v = await o.ask(p.runId, p.runAttempt)
  const count = p.files ? `${p.files.length} file(s)` : 'the files'
  if (v.committed) {
    o.log.info(`Hand-off: ${v.why}; ${count} it downloaded count as backed up.`)
    return rest
  }
  const text = `Hand-off: ${v.why}; ${count} it downloaded are downloaded again (they may not have been uploaded).`
  if (v.unknown) o.log.warning(text)
  else o.log.info(text)
  revert(o.state, p)
  return rest
}

function revert(s: SyncState, p: PendingCommit): void {
  s.library = p.base.library
  s.zoneSyncToken = p.base.zoneSyncToken
  s.dbSyncToken = p.base.dbSyncToken
  s.optionsKey = p.base.optionsKey
  if (p.files?.length) {
    const drop = new Set(p.files)
    const touched = [...s.manifest.entries()].filter(([, files]) => files.some((f) => drop.has(f.relPath)))
    for (const [id, files] of touched)
      s.manifest.set(
        id,
        files.filter((f) => !drop.has(f.relPath)),
      )
  }
  stamp(s)
}
