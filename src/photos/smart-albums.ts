/**
 * icloudpd's smart folders: the album names a migrating user has in `--album`, each with the list
 * record type, count index and filter icloudpd sends (docs/protocol.md §8.4, §8.9; icloudpd
 * `src/pyicloud_ipd/services/photos.py`, `PhotoLibrary.SMART_FOLDERS`). Every library has them,
 * a shared one included; user albums come on top (libraries.ts).
 */

/** A `smartAlbum` filter value Apple knows (`CPLAssetAndMasterInSmartAlbumByAssetDate`). */
export type SmartAlbum = 'FAVORITE' | 'VIDEO' | 'LIVE' | 'PANORAMA' | 'SCREENSHOT' | 'SLOMO' | 'TIMELAPSE'

/** What a collection is listed and counted by (§8.2–8.4). */
export interface CollectionQuery {
  /** The list `recordType` of `records/query`. */
  listType: string
  /** The `indexCountID` of the count query. */
  countId: string
  /** The extra `filterBy` entry (EQUALS, STRING). */
  filter?: { fieldName: string; value: string }
}

/** The whole library without hidden and deleted assets (icloudpd `WHOLE_COLLECTION`). */
export const WHOLE_LIBRARY: CollectionQuery = {
  listType: 'CPLAssetAndMasterByAssetDateWithoutHiddenOrDeleted',
  countId: 'CPLAssetByAssetDateWithoutHiddenOrDeleted',
}

/**
 * Recently Deleted (icloudpd `RECENTLY_DELETED`): also what icloudpd's `--auto-delete` lists, so
 * the auto-delete code takes it from here.
 */
export const RECENTLY_DELETED: CollectionQuery = {
  listType: 'CPLAssetAndMasterDeletedByExpungedDate',
  countId: 'CPLAssetDeletedByExpungedDate',
}

export const HIDDEN: CollectionQuery = {
  listType: 'CPLAssetAndMasterHiddenByAssetDate',
  countId: 'CPLAssetHiddenByAssetDate',
}

export const BURSTS: CollectionQuery = {
  listType: 'CPLBurstStackAssetAndMasterByAssetDate',
  countId: 'CPLAssetBurstStackAssetByAssetDate',
}

/** A smart album of `CPLAssetAndMasterInSmartAlbumByAssetDate`; the count id's suffix is its label. */
export function smartQuery(name: SmartAlbum): CollectionQuery {
  const label = name.charAt(0) + name.slice(1).toLowerCase()
  return {
    listType: 'CPLAssetAndMasterInSmartAlbumByAssetDate',
    countId: `CPLAssetInSmartAlbumByAssetDate:${label}`,
    filter: { fieldName: 'smartAlbum', value: name },
  }
}

/** What a smart-folder name stands for, as a `Collection` of cloudkit.ts. */
export type SmartFolder =
  | { kind: 'smart'; name: SmartAlbum }
  | { kind: 'hidden' }
  | { kind: 'deleted' }
  | { kind: 'burst' }
  | { kind: 'all' }

/**
 * icloudpd's names, in icloudpd's order (`--list-albums` prints them first). "All Photos" was a
 * smart folder until icloudpd 1.19 and is still accepted (not listed), so old configs keep working.
 */
export const SMART_FOLDERS: ReadonlyArray<readonly [string, SmartFolder]> = [
  ['Time-lapse', { kind: 'smart', name: 'TIMELAPSE' }],
  ['Videos', { kind: 'smart', name: 'VIDEO' }],
  ['Slo-mo', { kind: 'smart', name: 'SLOMO' }],
  ['Bursts', { kind: 'burst' }],
  ['Favorites', { kind: 'smart', name: 'FAVORITE' }],
  ['Panoramas', { kind: 'smart', name: 'PANORAMA' }],
  ['Screenshots', { kind: 'smart', name: 'SCREENSHOT' }],
  ['Live', { kind: 'smart', name: 'LIVE' }],
  ['Recently Deleted', { kind: 'deleted' }],
  ['Hidden', { kind: 'hidden' }],
]

export const ALL_PHOTOS = 'All Photos'

/** The smart folder of an icloudpd album name (exact, as icloudpd's dictionary lookup), or undefined. */
export function smartFolder(name: string): SmartFolder | undefined {
  if (name === ALL_PHOTOS) return { kind: 'all' }
  return SMART_FOLDERS.find(([n]) => n === name)?.[1]
}
