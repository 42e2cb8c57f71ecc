/**
 * The fake library of the metadata parity check (photos-metadata-sync.test.ts): real JPEGs with
 * and without a camera DateTimeOriginal, HEIC live photos, and assets carrying every field an
 * icloudpd sidecar reads. __tests__/fixtures/icloudpd-metadata/sync-expected.json is what
 * icloudpd's logic makes of exactly this library (see that folder's README).
 */
import { FakeLibrary, type LibraryOptions } from '../../sim/icloud/library.js'

export const METADATA_LIBRARY: LibraryOptions = {
  seed: 19,
  count: 8,
  kinds: ['jpeg', 'heic', 'live'],
  realJpegs: true,
  minBytes: 400,
  maxBytes: 3000,
  hiddenRate: 0,
  deletedRate: 0,
  editedRate: 0,
  albumRate: 0,
}

/** Titles, keywords, places… on some assets of the library (by position in the private zone). */
export function addMetadata(lib: FakeLibrary): void {
  const ids = lib.visibleAssets().map((a) => a.id)
  lib.setMetadata(ids[0]!, {
    title: 'Sunset <over> the "bay" & more',
    description: 'First line\nsecond line with &amp; and ]]>',
    keywords: ['beach', 'Côte d’Azur', 'a&b'],
    location: {
      lat: 43.7102,
      lon: 7.262,
      alt: 12.5,
      speed: 0.75,
      timestamp: new Date(Date.UTC(2015, 0, 1, 8, 30, 5)),
    },
    orientation: 6,
  })
  lib.setFavorite(ids[0]!, true)
  lib.setMetadata(ids[1]!, { keywords: ['screenshot'], screenshot: true })
  lib.setMetadata(ids[2]!, { title: '😀 emoji title', location: { lat: -33.8568, lon: 151.2153 } })
  lib.setFavorite(ids[3]!, true)
}
