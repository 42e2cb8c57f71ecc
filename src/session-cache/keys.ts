/**
 * Cache key scheme. Entries are immutable, so every run saves under its own primary key and
 * restores the newest entry by prefix. The key id in the prefix ties entries to one session key:
 * rotating the secret orphans the old entries instead of failing to decrypt them every run.
 */
export const CACHE_KEY_BASE = 'icloud-photos-session'

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

/** `icloud-photos-session-<runner-os>-<key-id>-` */
export function cacheKeyPrefix(runnerOs: string | undefined, keyId: string): string {
  if (!/^[0-9a-f]+$/.test(keyId)) throw new Error('The key id must be lower-case hex.')
  return `${CACHE_KEY_BASE}-${normalizeRunnerOs(runnerOs)}-${keyId}-`
}

/** `<prefix><run_id>-<run_attempt>`; ids are digits on GitHub, anything else is made safe. */
export function primaryCacheKey(prefix: string, runId: string | number, runAttempt: string | number): string {
  const safe = (v: string | number): string => String(v).replace(/[^A-Za-z0-9_.-]+/g, '_') || '0'
  return `${prefix}${safe(runId)}-${safe(runAttempt)}`
}

export function cacheKeys(o: {
  runnerOs: string | undefined
  keyId: string
  runId: string | number
  runAttempt: string | number
}): CacheKeys {
  const prefix = cacheKeyPrefix(o.runnerOs, o.keyId)
  return { prefix, primaryKey: primaryCacheKey(prefix, o.runId, o.runAttempt) }
}
