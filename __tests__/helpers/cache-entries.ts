/**
 * Reading what @actions/cache uploaded to the fake cache service: the archive is a tar (zstd or
 * gzip) holding one file — the encrypted session blob or the encrypted state stream.
 */
import { gunzipSync, zstdDecompressSync } from 'node:zlib'
import type { FakeCacheEntry } from '../../sim/actions-cache.js'

/** Decompress an uploaded archive (zstd or gzip, whichever the library chose) into the raw tar. */
export function untarBytes(archive: Buffer): Buffer {
  if (archive.readUInt32LE(0) === 0xfd2fb528) return zstdDecompressSync(archive)
  if (archive[0] === 0x1f && archive[1] === 0x8b) return gunzipSync(archive)
  throw new Error('unknown archive compression')
}

/** The bytes of the first regular file in the entry's tar (ustar: 512-byte headers, octal sizes). */
export function entryFile(entry: FakeCacheEntry): Buffer {
  const tar = untarBytes(entry.data)
  for (let off = 0; off + 512 <= tar.length;) {
    const header = tar.subarray(off, off + 512)
    if (header.every((b) => b === 0)) break
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim() || '0', 8)
    const type = String.fromCharCode(header[156] || 0x30)
    if (type === '0' || type === '\0') return tar.subarray(off + 512, off + 512 + size)
    off += 512 + Math.ceil(size / 512) * 512
  }
  throw new Error(`no file in the cache entry ${entry.key}`)
}
