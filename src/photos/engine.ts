/**
 * The photos engine as the action and the CLI both build it: CloudKit on the signed-in session,
 * and a separate download client (no cookies) with one connection per download thread.
 */
import type { PhotosConfig } from '../core/config.generated.js'
import { HttpClient } from '../icloud/http.js'
import { cloudKitFor, type SignedIn } from './connect.js'
import { deprecationWarnings } from './options.js'
import { syncPhotos, type SyncOptions, type SyncResult } from './sync.js'

export interface PhotosEngine {
  /** One backup run with the engine's options. */
  sync(o: Omit<SyncOptions, 'client' | 'http' | 'options'>): Promise<SyncResult>
  /** Closes the download client's connections. */
  close(): Promise<void>
}

export function createPhotosEngine(auth: SignedIn, options: PhotosConfig): PhotosEngine {
  const client = cloudKitFor(auth)
  const http = new HttpClient({ connections: options.threads })
  return {
    sync: (o) => {
      for (const w of deprecationWarnings(options)) o.log.warning(w)
      return syncPhotos({ ...o, client, http, options })
    },
    close: () => http.close(),
  }
}
