/**
 * The storage behind the session cache. The real backend is `@actions/cache` (cache service v2 on
 * github.com); tests drive the same library against a fake service, or pass their own backend.
 */
import * as cache from '@actions/cache'

export interface CacheBackend {
  /** Restores `paths` from the first matching entry; resolves to the matched key, or undefined on a miss. */
  restore(paths: string[], primaryKey: string, restoreKeys: string[]): Promise<string | undefined>
  /**
   * Saves `paths` under `key`. Resolves true when a new entry was stored, false when none was
   * (the key already exists — entries are immutable — or the service refused; not an error).
   */
  save(paths: string[], key: string): Promise<boolean>
  isAvailable(): boolean
}

/**
 * `@actions/cache` 6. The library reads its configuration (ACTIONS_CACHE_SERVICE_V2,
 * ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_MODE, RUNNER_TEMP, GITHUB_WORKSPACE)
 * from process.env on every call, so nothing here is captured at import time. It logs through
 * @actions/core itself and turns service failures into warnings and a miss / `-1`.
 */
export class ActionsCacheBackend implements CacheBackend {
  isAvailable(): boolean {
    return cache.isFeatureAvailable()
  }

  async restore(paths: string[], primaryKey: string, restoreKeys: string[]): Promise<string | undefined> {
    return cache.restoreCache(paths, primaryKey, restoreKeys)
  }

  async save(paths: string[], key: string): Promise<boolean> {
    try {
      return (await cache.saveCache(paths, key)) !== -1
    } catch (e) {
      // The library already reports a duplicate key (ReserveCacheError) as info and returns -1;
      // this catches it should a version throw it instead. ValidationError is a bug here: rethrow.
      if (e instanceof cache.ReserveCacheError) return false
      throw e
    }
  }
}
