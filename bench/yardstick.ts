/**
 * The icloudpd yardstick the targets are stated against: real icloudpd measured against an
 * independent fake at 20 ms per request needs ~28–32 ms per file on its one download stream (we
 * use 30 ms; an earlier figure of 68 ms was a measuring artefact), and it lists the whole library
 * on every run — about N/100 + 3 requests even when nothing changed.
 */
export const ICLOUDPD_MS_PER_FILE = 30
/** icloudpd's page size: 100 assets per `records/query`. */
export const ICLOUDPD_PAGE = 100
/** Requests besides the pages: indexing check, count, and the first call (zones or albums). */
export const ICLOUDPD_FIXED_REQUESTS = 3

/** Sequential download time of `files` files. */
export function icloudpdSyncMs(files: number): number {
  return files * ICLOUDPD_MS_PER_FILE
}

/** Requests of a run that finds nothing new in a library of `assets` assets. */
export function icloudpdNoChangeRequests(assets: number): number {
  return Math.ceil(assets / ICLOUDPD_PAGE) + ICLOUDPD_FIXED_REQUESTS
}

/** Lower bound for that run's wall time: one request after the other, each costing `latencyMs`. */
export function icloudpdNoChangeMs(assets: number, latencyMs: number): number {
  return icloudpdNoChangeRequests(assets) * latencyMs
}
