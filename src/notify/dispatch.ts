/**
 * Fan one event out to every configured channel. A notification is a side effect of a run that
 * already has its own outcome, so a channel that fails (or throws) becomes a warning and never
 * hides the primary error. Also the pure bookkeeping for "one notification per expiry value".
 */
import type { NotificationEvent, NotificationKind } from './event.js'
import type { Log } from '../core/log.js'

export type ChannelName = 'email' | 'github-issue' | 'webhook' | 'script'

export interface ChannelResult {
  channel: ChannelName
  ok: boolean
  /** What happened, safe to log (no secrets, no webhook URL). */
  detail: string
  /** Set when the channel could not do its job for a reason the owner should fix (e.g. a read-only token). */
  warning?: string
}

export interface Channel {
  readonly name: ChannelName
  send(event: NotificationEvent): Promise<ChannelResult>
}

/** The subset of @actions/core (or a console) the dispatcher logs through. */
export type NotifyLog = Pick<Log, 'info' | 'warning'>

/** Runs every channel concurrently; results come back in the order of `channels`. */
export async function notifyAll(
  channels: readonly Channel[],
  event: NotificationEvent,
  log: NotifyLog,
): Promise<ChannelResult[]> {
  const settled = await Promise.allSettled(channels.map((c) => c.send(event)))
  return settled.map((s, i) => {
    const channel = channels[i]!.name
    const result: ChannelResult =
      s.status === 'fulfilled'
        ? s.value
        : { channel, ok: false, detail: `${channel} notification failed: ${reasonOf(s.reason)}` }
    if (!result.ok) log.warning(result.warning ?? result.detail)
    else if (result.warning) log.warning(result.warning)
    else log.info(result.detail)
    return result
  })
}

function reasonOf(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.name
  return 'unknown error'
}

// --- once per expiry value ----------------------------------------------------------------------

/** Key of the record inside the cache bundle's `state` that remembers what was sent. */
export const NOTIFIED_STATE_KEY = 'notified'

type DedupedKind = Extract<NotificationKind, 'trust-expiring' | 'mfa-required'>

interface NotifiedEntry {
  trustExpiresAt: string
  notifiedAt: string
}

/**
 * True unless a notification of `kind` was already sent for this same expiry instant. A renewed
 * session has a new expiry, so the next warning fires again. Unreadable state counts as "not sent".
 */
export function shouldNotifyExpiring(
  sentState: Record<string, unknown>,
  trustExpiresAt: string,
  kind: DedupedKind = 'trust-expiring',
): boolean {
  const entry = readEntries(sentState)[kind]
  return entry?.trustExpiresAt !== normalizeInstant(trustExpiresAt)
}

/** A new state object recording that `kind` was sent for `trustExpiresAt`; the input is not modified. */
export function markNotified(
  sentState: Record<string, unknown>,
  trustExpiresAt: string,
  kind: DedupedKind = 'trust-expiring',
  now: Date = new Date(),
): Record<string, unknown> {
  const entries = { ...readEntries(sentState) }
  entries[kind] = { trustExpiresAt: normalizeInstant(trustExpiresAt), notifiedAt: now.toISOString() }
  return { ...sentState, [NOTIFIED_STATE_KEY]: entries }
}

function readEntries(state: Record<string, unknown>): Partial<Record<DedupedKind, NotifiedEntry>> {
  const raw = state[NOTIFIED_STATE_KEY]
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return {}
  const out: Partial<Record<DedupedKind, NotifiedEntry>> = {}
  for (const kind of ['trust-expiring', 'mfa-required'] as const) {
    const e = (raw as Record<string, unknown>)[kind] as Partial<NotifiedEntry> | undefined
    if (e && typeof e.trustExpiresAt === 'string' && typeof e.notifiedAt === 'string') {
      out[kind] = { trustExpiresAt: e.trustExpiresAt, notifiedAt: e.notifiedAt }
    }
  }
  return out
}

/** `2026-05-01T00:00:00Z` and `2026-05-01T00:00:00.000Z` are the same expiry (second precision). */
function normalizeInstant(iso: string): string {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? iso.trim() : new Date(Math.floor(t / 1000) * 1000).toISOString()
}

// --- once per problem -----------------------------------------------------------------------------

/**
 * Key of the record inside the bundle's `state` that remembers the run problem last notified (files
 * missing, throttled, disk, locked). Kept apart from the expiry entries so neither overwrites the other.
 */
export const PROBLEM_STATE_KEY = 'notifiedProblem'

/** True unless this same problem (e.g. `DOWNLOAD_FAILED`) was already notified since the last clean run. */
export function shouldNotifyProblem(sentState: Record<string, unknown>, problem: string): boolean {
  const raw = sentState[PROBLEM_STATE_KEY] as { problem?: unknown } | undefined
  return !(typeof raw === 'object' && raw !== null && raw.problem === problem)
}

export function markProblemNotified(
  sentState: Record<string, unknown>,
  problem: string,
  now: Date = new Date(),
): Record<string, unknown> {
  return { ...sentState, [PROBLEM_STATE_KEY]: { problem, notifiedAt: now.toISOString() } }
}

/** A clean run: the next problem notifies again. */
export function clearProblem(sentState: Record<string, unknown>): Record<string, unknown> {
  if (!(PROBLEM_STATE_KEY in sentState)) return sentState
  const { [PROBLEM_STATE_KEY]: _gone, ...rest } = sentState
  return rest
}
