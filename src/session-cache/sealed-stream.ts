/**
 * Large data sealed with the session key as a stream (the download state kept in a bucket, which
 * can hold millions of files): the same key handling and AES-256-GCM as the session blob
 * (blob.ts: random key → HKDF, passphrase → scrypt), without its size cap, gzip in between.
 *
 *   offset len  field
 *   0      4    magic 'ICSS'
 *   4      1    format version (1)
 *   5      1    kdf: 1 = HKDF-SHA256, 2 = scrypt   } as in blob.ts
 *   6      3    scrypt log2(N), r, p (zero for HKDF) }
 *   9      16   salt (random)
 *   25     8    key check
 *   33     12   IV (random)
 *   45     n    AES-256-GCM ciphertext of gzip(data)
 *   45+n   16   GCM tag
 *
 * The header is the GCM additional data. Opening buffers the plaintext and returns it only after
 * the tag verified, so a damaged or forged object never reaches the parser.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { createGunzip, createGzip } from 'node:zlib'
import { pipeline } from 'node:stream/promises'
import { Readable, Writable } from 'node:stream'
import { BlobError, derive, parseKey } from './blob.js'

const MAGIC = Buffer.from('ICSS', 'ascii')
const VERSION = 1
const HEADER_LEN = 45
const OFF_KDF = 5
const OFF_SALT = 9
const OFF_CHECK = 25
const OFF_IV = 33
const TAG_LEN = 16
const SCRYPT = { log2n: 15, r: 8, p: 1 }

/** Whether data starts like a sealed stream (the first bytes suffice). */
export function isSealed(head: Buffer): boolean {
  return head.length >= MAGIC.length && head.subarray(0, MAGIC.length).equals(MAGIC)
}

/** Seal text or bytes, piece by piece: yields the header, the ciphertext as it comes, the tag. */
export async function* seal(
  pieces: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
  key: string,
): AsyncGenerator<Buffer> {
  const material = parseKey(key)
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const { encKey, check } = derive(material, salt)
  const header = Buffer.alloc(HEADER_LEN)
  MAGIC.copy(header, 0)
  header[4] = VERSION
  if (material.kind === 'random') header[OFF_KDF] = 1
  else {
    header[OFF_KDF] = 2
    header[OFF_KDF + 1] = SCRYPT.log2n
    header[OFF_KDF + 2] = SCRYPT.r
    header[OFF_KDF + 3] = SCRYPT.p
  }
  salt.copy(header, OFF_SALT)
  check.copy(header, OFF_CHECK)
  iv.copy(header, OFF_IV)
  yield header
  const cipher = createCipheriv('aes-256-gcm', encKey, iv)
  cipher.setAAD(header)
  const gzip = createGzip()
  const source = Readable.from(pieces, { objectMode: false })
  source.pipe(gzip)
  for await (const chunk of gzip) {
    const out = cipher.update(chunk as Buffer)
    if (out.length) yield out
  }
  const last = cipher.final()
  if (last.length) yield last
  yield cipher.getAuthTag()
}

/** Open a sealed stream; BlobError ('wrong-key', 'tampered', 'format') when it cannot be. */
export async function open(chunks: AsyncIterable<Uint8Array>, key: string): Promise<Buffer> {
  const material = parseKey(key)
  const it = chunks[Symbol.asyncIterator]()
  let head = Buffer.alloc(0)
  let rest = Buffer.alloc(0)
  while (head.length < HEADER_LEN) {
    const r = await it.next()
    if (r.done) throw new BlobError('format', 'The sealed data is too short.')
    const buf = Buffer.concat([head, Buffer.from(r.value)])
    head = buf.subarray(0, HEADER_LEN)
    rest = buf.subarray(HEADER_LEN)
  }
  if (!isSealed(head) || head[4] !== VERSION)
    throw new BlobError('format', 'This is not sealed data of a known version.')
  const kdf = head[OFF_KDF]
  const params = { log2n: head[OFF_KDF + 1]!, r: head[OFF_KDF + 2]!, p: head[OFF_KDF + 3]! }
  if (kdf === 1 ? material.kind !== 'random' : kdf === 2 ? material.kind !== 'passphrase' : true) {
    throw new BlobError('wrong-key', 'The data was sealed with a different kind of session key.')
  }
  if (kdf === 2 && (params.log2n !== SCRYPT.log2n || params.r !== SCRYPT.r || params.p !== SCRYPT.p)) {
    throw new BlobError('format', 'Unsupported key derivation parameters.')
  }
  const { encKey, check } = derive(
    material,
    head.subarray(OFF_SALT, OFF_SALT + 16),
    kdf === 2 ? params : undefined,
  )
  if (!head.subarray(OFF_CHECK, OFF_CHECK + 8).equals(check)) {
    throw new BlobError('wrong-key', 'The data was sealed with a different session key.')
  }
  const decipher = createDecipheriv('aes-256-gcm', encKey, head.subarray(OFF_IV, OFF_IV + 12), {
    authTagLength: TAG_LEN,
  })
  decipher.setAAD(head)
  // The last 16 bytes are the tag: hold them back from the decipher until the end.
  const plainParts: Buffer[] = []
  const gunzip = createGunzip()
  const collected = pipeline(
    gunzip,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        plainParts.push(chunk)
        cb()
      },
    }),
  )
  // A damaged stream may fail gunzip before the tag is checked: that failure is read below.
  collected.catch(() => undefined)
  let tail = rest
  const feed = (buf: Buffer): void => {
    const all = Buffer.concat([tail, buf])
    const cut = Math.max(0, all.length - TAG_LEN)
    const body = all.subarray(0, cut)
    tail = all.subarray(cut)
    if (body.length) gunzip.write(decipher.update(body))
  }
  feed(Buffer.alloc(0))
  for (let r = await it.next(); !r.done; r = await it.next()) feed(Buffer.from(r.value))
  if (tail.length !== TAG_LEN) throw new BlobError('format', 'The sealed data is truncated.')
  decipher.setAuthTag(tail)
  let final: Buffer
  try {
    final = decipher.final()
  } catch {
    gunzip.destroy()
    throw new BlobError('tampered', 'The sealed data failed its integrity check (corrupted or modified).')
  }
  gunzip.end(final)
  try {
    await collected
  } catch {
    throw new BlobError('format', 'The sealed data decrypted but is not valid compressed data.')
  }
  return Buffer.concat(plainParts)
}
