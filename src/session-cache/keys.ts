/**
 * Cache key scheme. Entries are immutable, so every run saves under its own primary key and
 * restores the newest entry by prefix. The key id in the prefix ties entries to one session key
 * (rotating the secret orphans the old entries instead of failing to decrypt them every run); the
 * account tag ties them to one Apple ID, so accounts of one repository never restore each other's
 * entries; the kind keeps the session and the download state (hand-off mode) apart.
 *
 *   icloud-photos-<os>-<key-id>-<account>-<kind>-<run_id>-<run_attempt>
 *
 * Before the account tag (releases up to 1.x) the session was `icloud-photos-session-<os>-<key-id>-…`;
 * `legacyCacheKeyPrefix` names it for a one-time migration. Neither scheme's prefix matches a key
 * of the other (`icloud-photos-session-` vs `icloud-photos-<os>-`), and every id has a fixed length,
 * so no prefix lookup can reach another account, key or kind.
 */
export const CACHE_KEY_BASE = 'icloud-photos'
const LEGACY_KEY_BASE = 'icloud-photos-session'

export type EntryKind = 'session' | 'state'

export interface CacheKeys {
  prefix: string
  primaryKey: string
}

/** `RUNNER_OS` ('Linux', 'macOS', 'Windows') lower-cased; anything odd reduced to [a-z0-9-]. */
export function normalizeRunnerOs(runnerOs: string | undefined): string {
  const os = (runnerOs ?? '')
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
  return os || 'unknown'
}

function hexId(name: string, v: string): string {
  if (!/^[0-9a-f]+$/.test(v)) throw new Error(`The ${name} must be lower-case hex.`)
  return v
}

/** `icloud-photos-<runner-os>-<key-id>-<account>-<kind>-` */
export function cacheKeyPrefix(o: {
  runnerOs: string | undefined
  keyId: string
  account: string
  kind: EntryKind
}): string {
  return `${CACHE_KEY_BASE}-${normalizeRunnerOs(o.runnerOs)}-${hexId('key id', o.keyId)}-${hexId('account tag', o.account)}-${o.kind}-`
}

/** `icloud-photos-session-<runner-os>-<key-id>-`: session entries written before the account tag. */
export function legacyCacheKeyPrefix(runnerOs: string | undefined, keyId: string): string {
  return `${LEGACY_KEY_BASE}-${normalizeRunnerOs(runnerOs)}-${hexId('key id', keyId)}-`
}

/** `<prefix><run_id>-<run_attempt>`; ids are digits on GitHub, anything else is made safe. */
export function primaryCacheKey(prefix: string, runId: string | number, runAttempt: string | number): string {
  const safe = (v: string | number): string => String(v).replace(/[^A-Za-z0-9_.-]+/g, '_') || '0'
  return `${prefix}${safe(runId)}-${safe(runAttempt)}`
}

export function cacheKeys(o: {
  runnerOs: string | undefined
  keyId: string
  account: string
  kind: EntryKind
  runId: string | number
  runAttempt: string | number
}): CacheKeys {
  const prefix = cacheKeyPrefix(o)
  return { prefix, primaryKey: primaryCacheKey(prefix, o.runId, o.runAttempt) }
}
