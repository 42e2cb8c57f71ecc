/**
 * The encrypted format for data of any size (the download state of hand-off mode: hundreds of MB
 * for millions of files), made and opened as a stream so neither side ever holds it whole. Same
 * key material, KDF and repository binding as the session blob (blob.ts); the data is cut into
 * chunks, each sealed with AES-256-GCM on its own — the STREAM construction (Hoang, Reyhanitabar,
 * Rogaway, Vizár 2015): the nonce is a random prefix, the chunk counter and a last-chunk flag, so
 * chunks cannot be reordered, dropped, or the stream cut short at a chunk boundary unnoticed.
 *
 *   offset len  field
 *   0      4    magic 'ICPT'
 *   4      1    format version (1)
 *   5      1    kdf (as blob.ts)       6  3  scrypt log2(N), r, p (zero for HKDF)
 *   9      16   salt                   25 8  repository id
 *   33     8    key check              41 7  nonce prefix (random)
 *   48     4    plaintext bytes per chunk (big-endian)
 *   52     …    chunks: ciphertext (chunk size bytes; the last one 0..chunk size) + 16-byte tag
 *
 * Chunk nonce = prefix ‖ counter (4 bytes, big-endian) ‖ 0x01 on the last chunk, else 0x00.
 * Every chunk's additional data is the header plus the repository name.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import {
  BlobError,
  normalizeRepository,
  openKeyHeader,
  parseKey,
  writeKeyHeader,
  type HeaderNames,
} from './blob.js'

const MAGIC = Buffer.from('ICPT', 'ascii')
const VERSION = 1
// Bytes 5–40 (key derivation, salt, repository id, key check) are laid out as in blob.ts.
const OFF_NONCE = 41
const NONCE_PREFIX_LEN = 7
const OFF_CHUNK = 48
export const STREAM_HEADER_LEN = 52
const TAG_LEN = 16
/** 64 KiB: small enough to keep memory flat, large enough that tags cost 0.02 %. */
export const DEFAULT_CHUNK = 64 * 1024
/** A hostile header must not make us buffer more than this per chunk. */
const MAX_CHUNK = 4 * 1024 * 1024

function nonce(prefix: Buffer, counter: number, last: boolean): Buffer {
  if (counter > 0xffffffff) throw new Error('Too many chunks for one stream.')
  const iv = Buffer.alloc(12)
  prefix.copy(iv, 0)
  iv.writeUInt32BE(counter, NONCE_PREFIX_LEN)
  iv[11] = last ? 1 : 0
  return iv
}

/** Collects incoming buffers and hands out exact-size slices without quadratic copying. */
class ByteQueue {
  private parts: Buffer[] = []
  length = 0
  push(b: Buffer): void {
    if (b.length) {
      this.parts.push(b)
      this.length += b.length
    }
  }
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const head = this.parts[0]!
      const use = Math.min(head.length, n - filled)
      head.copy(out, filled, 0, use)
      filled += use
      if (use === head.length) this.parts.shift()
      else this.parts[0] = head.subarray(use)
    }
    this.length -= n
    return out
  }
}

/** Whether data starts like this format (the first bytes suffice). */
export function isEncryptedStream(head: Buffer): boolean {
  return head.length >= MAGIC.length && head.subarray(0, MAGIC.length).equals(MAGIC)
}

/** A Transform that encrypts what is written to it into the 'ICPT' format. */
export function encryptStream(key: string, repository: string, chunkSize = DEFAULT_CHUNK): Transform {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK)
    throw new Error('Invalid chunk size.')
  const material = parseKey(key)
  const repo = normalizeRepository(repository)
  const header = Buffer.alloc(STREAM_HEADER_LEN)
  MAGIC.copy(header, 0)
  header[4] = VERSION
  const encKey = writeKeyHeader(header, material, repo)
  const prefix = randomBytes(NONCE_PREFIX_LEN)
  prefix.copy(header, OFF_NONCE)
  header.writeUInt32BE(chunkSize, OFF_CHUNK)
  const aad = Buffer.concat([header, Buffer.from(repo, 'utf8')])
  const queue = new ByteQueue()
  let counter = 0
  const seal = (plain: Buffer, last: boolean): Buffer => {
    const cipher = createCipheriv('aes-256-gcm', encKey, nonce(prefix, counter++, last))
    cipher.setAAD(aad)
    return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()])
  }
  let started = false
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        if (!started) {
          started = true
          this.push(header)
        }
        queue.push(chunk)
        // Keep at least one byte back: the last chunk must be sealed as last.
        while (queue.length > chunkSize) this.push(seal(queue.take(chunkSize), false))
        done()
      } catch (e) {
        done(e as Error)
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!started) this.push(header)
        this.push(seal(queue.take(queue.length), true))
        done()
      } catch (e) {
        done(e as Error)
      }
    },
  })
}

const STREAM_NAMES: HeaderNames = { header: 'state stream header', subject: 'The encrypted state' }

/** Checks the header and derives the key; throws BlobError with a message the user can act on. */
function openHeader(header: Buffer, key: string, repo: string): { encKey: Buffer; chunkSize: number } {
  if (!header.subarray(0, 4).equals(MAGIC))
    throw new BlobError('format', 'This is not an encrypted state stream (bad magic).')
  if (header[4] !== VERSION)
    throw new BlobError(
      'format',
      `Unsupported state stream version ${header[4]}; update icloud-photos-action.`,
    )
  const encKey = openKeyHeader(header, parseKey(key), repo, STREAM_NAMES)
  const chunkSize = header.readUInt32BE(OFF_CHUNK)
  if (chunkSize < 1 || chunkSize > MAX_CHUNK)
    throw new BlobError('format', 'Invalid state stream header (chunk size).')
  return { encKey, chunkSize }
}

/** A Transform that opens the 'ICPT' format; any damage is a BlobError, never wrong plaintext. */
export function decryptStream(key: string, repository: string): Transform {
  const repo = normalizeRepository(repository)
  const queue = new ByteQueue()
  let opened: { encKey: Buffer; chunkSize: number; prefix: Buffer; aad: Buffer } | undefined
  let counter = 0
  const open = (sealed: Buffer, last: boolean): Buffer => {
    const o = opened!
    try {
      const d = createDecipheriv('aes-256-gcm', o.encKey, nonce(o.prefix, counter++, last), {
        authTagLength: TAG_LEN,
      })
      d.setAAD(o.aad)
      d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN))
      return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG_LEN)), d.final()])
    } catch {
      throw new BlobError(
        'tampered',
        'The encrypted state failed its integrity check (corrupted, cut short or modified).',
      )
    }
  }
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        queue.push(chunk)
        if (!opened) {
          if (queue.length < STREAM_HEADER_LEN) return done()
          const header = queue.take(STREAM_HEADER_LEN)
          const { encKey, chunkSize } = openHeader(header, key, repo)
          opened = {
            encKey,
            chunkSize,
            prefix: Buffer.from(header.subarray(OFF_NONCE, OFF_NONCE + NONCE_PREFIX_LEN)),
            aad: Buffer.concat([header, Buffer.from(repo, 'utf8')]),
          }
        }
        const sealedLen = opened.chunkSize + TAG_LEN
        // A full chunk with more after it is not the last one.
        while (queue.length > sealedLen) this.push(open(queue.take(sealedLen), false))
        done()
      } catch (e) {
        done(e as Error)
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!opened) throw new BlobError('format', 'This is not an encrypted state stream (too short).')
        if (queue.length < TAG_LEN) throw new BlobError('tampered', 'The encrypted state is cut short.')
        this.push(open(queue.take(queue.length), true))
        done()
      } catch (e) {
        done(e as Error)
      }
    },
  })
}
