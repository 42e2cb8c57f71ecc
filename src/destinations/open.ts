/**
 * The destination a configuration names: `photos.destination` (type `s3`: a bucket), else the
 * photos directory. The action and the CLI build it and hand it to the photos engine.
 */
import type { PhotosConfig } from '../core/config.generated.js'
import type { Log } from '../core/log.js'
import type { Destination } from '../photos/destination.js'
import { DirectoryDestination } from '../photos/directory-destination.js'

export function isS3(photos: Pick<PhotosConfig, 'destination'>): boolean {
  return photos.destination?.type === 's3'
}

/**
 * Async because the S3 client is loaded only for a bucket: the AWS SDK is most of the bundle, and
 * parsing it would double the start-up time of every run that backs up to a directory.
 */
export async function openDestination(
  photos: Pick<PhotosConfig, 'destination' | 'directory' | 'handOff'>,
  o: { log: Log; sessionKey?: string },
): Promise<Destination> {
  const d = photos.destination
  if (d?.type === 's3') {
    const { S3Destination } = await import('./s3-destination.js')
    return new S3Destination({
      bucket: d.bucket!,
      prefix: d.prefix,
      region: d.region!,
      endpoint: d.endpoint,
      forcePathStyle: d.forcePathStyle,
      storageClass: d.storageClass,
      serverSideEncryption: d.serverSideEncryption,
      kmsKeyId: d.kmsKeyId,
      checksums: d.checksums,
      sessionKey: o.sessionKey,
      log: o.log,
    })
  }
  if (!photos.directory) throw new Error('openDestination: no photos directory')
  // Hand-off: a later step of the user's moves the files, so the runner's disk is not the backup.
  return new DirectoryDestination(photos.directory, { durable: !photos.handOff, log: o.log })
}
