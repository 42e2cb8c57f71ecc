/**
 * The encrypted session blob: one format for the Actions cache entry and for the CLI's
 * `session export` / `session import` text (the `session` input / `ICLOUD_SESSION` secret).
 *
 * Layout (all integers unsigned, big-endian where more than one byte):
 *
 *   offset len  field
 *   0      4    magic 'ICPS'
 *   4      1    format version (1)
 *   5      1    kdf: 1 = HKDF-SHA256 over a 32-byte random key, 2 = scrypt over a passphrase
 *   6      1    scrypt log2(N)   } zero for HKDF
 *   7      1    scrypt r         }
 *   8      1    scrypt p         }
 *   9      16   salt (random)
 *   25     8    repository id: first 8 bytes of SHA-256('repository:' + owner/repo lower-cased)
 *   33     8    key check: first 8 bytes of HMAC-SHA256(check key, 'key-check')
 *   41     12   IV (random)
 *   53     n    AES-256-GCM ciphertext of gzip(JSON payload)
 *   53+n   16   GCM tag
 *
 * The whole header plus the full repository name is the GCM additional data, so a blob from
 * another repository, or any edited header byte, fails authentication. The repository id and key
 * check only exist to turn that failure into a message the user can act on (other repository /
 * wrong key / corrupted); they reveal nothing the ciphertext's tag would not confirm anyway.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  scryptSync,
} from 'node:crypto'
import { gunzipSync, gzipSync } from 'node:zlib'

export interface SessionBundle {
  /** Cookie-directory files by base name (e.g. 'jdoeexamplecom', 'jdoeexamplecom.session'). */
  files: Record<string, Buffer>
  /** Small JSON state kept between runs (notifications sent, sync token, savedAt, seedId, …). */
  state: Record<string, unknown>
}

export type BlobErrorReason = 'wrong-key' | 'tampered' | 'format' | 'repository'

/** Why a blob could not be opened. Messages carry no key material and no plaintext. */
export class BlobError extends Error {
  readonly reason: BlobErrorReason
  constructor(reason: BlobErrorReason, message: string) {
    super(message)
    this.name = 'BlobError'
    this.reason = reason
  }
}

const MAGIC = Buffer.from('ICPS', 'ascii')
const VERSION = 1
const KDF_HKDF = 1
const KDF_SCRYPT = 2
const SALT_LEN = 16
const REPO_ID_LEN = 8
const CHECK_LEN = 8
const IV_LEN = 12
const TAG_LEN = 16
const HEADER_LEN = MAGIC.length + 1 + 1 + 3 + SALT_LEN + REPO_ID_LEN + CHECK_LEN + IV_LEN
const OFF_KDF = 5
const OFF_SALT = 9
const OFF_REPO = OFF_SALT + SALT_LEN
const OFF_CHECK = OFF_REPO + REPO_ID_LEN
const OFF_IV = OFF_CHECK + CHECK_LEN

/** scrypt cost for new blobs: N = 2^15, r = 8 (32 MiB, ~0.1 s) — OWASP's minimum for scrypt. */
const SCRYPT_LOG2N = 15
const SCRYPT_R = 8
const SCRYPT_P = 1
/** Hostile headers must not make us allocate unbounded memory: cap 128·N·r. */
const SCRYPT_MAX_MEM = 128 * 1024 * 1024

/** Caps on untrusted input: the decrypted, decompressed payload and the blob itself. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
const MAX_BLOB_BYTES = MAX_PAYLOAD_BYTES + HEADER_LEN + TAG_LEN

const HKDF_INFO = Buffer.from('icloud-photos-action session v1', 'utf8')
const KEY_ID_INFO = 'icloud-photos-action cache key id v1'
const ACCOUNT_TAG_INFO = 'icloud-photos-action cache account v1'
/** Fixed salt for the passphrase key id: it must be the same on every run to name the cache entry. */
const KEY_ID_SCRYPT_SALT = Buffer.from('icloud-photos-action key id salt v1', 'utf8')

export type KeyMaterial = { kind: 'random'; bytes: Buffer } | { kind: 'passphrase'; bytes: Buffer }

/**
 * A 32-byte random key written as hex (64 chars) or base64/base64url (43–44 chars) is used as
 * key material directly (HKDF); anything else is a passphrase (scrypt). Surrounding whitespace is
 * ignored, since secrets pasted into the GitHub UI often carry a trailing newline.
 */
export function parseKey(key: string): KeyMaterial {
  const text = key.trim()
  if (text.length === 0) throw new Error('The session key is empty.')
  if (/^[0-9a-fA-F]{64}$/.test(text)) return { kind: 'random', bytes: Buffer.from(text, 'hex') }
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
    if (bytes.length === 32) return { kind: 'random', bytes }
  }
  return { kind: 'passphrase', bytes: Buffer.from(text, 'utf8') }
}

export function normalizeRepository(repository: string): string {
  const repo = repository.trim().toLowerCase()
  if (!repo) throw new Error('The repository (owner/name) that the session blob is bound to is empty.')
  return repo
}

function repositoryId(repo: string): Buffer {
  return createHash('sha256').update(`repository:${repo}`, 'utf8').digest().subarray(0, REPO_ID_LEN)
}

export interface Derived {
  encKey: Buffer
  check: Buffer
}

/** 64 bytes of KDF output: the first half is the AES key, the second only feeds the key check. */
function derive(
  material: KeyMaterial,
  salt: Buffer,
  scrypt?: { log2n: number; r: number; p: number },
): Derived {
  let out: Buffer
  if (material.kind === 'random') {
    out = Buffer.from(hkdfSync('sha256', material.bytes, salt, HKDF_INFO, 64))
  } else {
    const s = scrypt ?? { log2n: SCRYPT_LOG2N, r: SCRYPT_R, p: SCRYPT_P }
    out = scryptSync(material.bytes, salt, 64, {
      N: 2 ** s.log2n,
      r: s.r,
      p: s.p,
      maxmem: SCRYPT_MAX_MEM + 1024 * 1024,
    })
  }
  const check = createHmac('sha256', out.subarray(32)).update('key-check').digest().subarray(0, CHECK_LEN)
  return { encKey: out.subarray(0, 32), check }
}

interface Payload {
  files: Record<string, string>
  state: Record<string, unknown>
}

function serialize(bundle: SessionBundle): Buffer {
  const files: Record<string, string> = {}
  for (const [name, data] of Object.entries(bundle.files)) {
    assertBaseName(name)
    files[name] = Buffer.from(data).toString('base64')
  }
  const payload: Payload = { files, state: bundle.state ?? {} }
  return gzipSync(Buffer.from(JSON.stringify(payload), 'utf8'))
}

/** File names come back from an untrusted blob and are joined to the cookie directory. */
function isBaseName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name !== '.' && name !== '..' && !/[/\\\0]/.test(name)
}

function assertBaseName(name: string): void {
  if (!isBaseName(name))
    throw new Error(`Session file name ${JSON.stringify(name)} is not a plain base name.`)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function deserialize(compressed: Buffer): SessionBundle {
  let json: unknown
  try {
    const raw = gunzipSync(compressed, { maxOutputLength: MAX_PAYLOAD_BYTES })
    json = JSON.parse(raw.toString('utf8'))
  } catch {
    throw new BlobError(
      'format',
      'The session blob decrypted but its content is not a valid session payload.',
    )
  }
  if (!isPlainObject(json) || !isPlainObject(json.files) || !isPlainObject(json.state)) {
    throw new BlobError(
      'format',
      'The session blob decrypted but its content is not a valid session payload.',
    )
  }
  const files: Record<string, Buffer> = {}
  for (const [name, data] of Object.entries(json.files)) {
    if (!isBaseName(name) || typeof data !== 'string') {
      throw new BlobError('format', 'The session blob holds a file entry that is not a plain base name.')
    }
    files[name] = Buffer.from(data, 'base64')
  }
  return { files, state: json.state }
}

/**
 * Bytes 5–40 of both encrypted formats (this blob and stream-blob.ts): key derivation and its
 * scrypt parameters, salt, repository id, key check. Written here, then read back by
 * `openKeyHeader`, which says in the user's words why a key does not open it.
 */
export function writeKeyHeader(header: Buffer, material: KeyMaterial, repo: string): Buffer {
  const salt = randomBytes(SALT_LEN)
  const { encKey, check } = derive(material, salt)
  if (material.kind === 'random') header[OFF_KDF] = KDF_HKDF
  else {
    header[OFF_KDF] = KDF_SCRYPT
    header[OFF_KDF + 1] = SCRYPT_LOG2N
    header[OFF_KDF + 2] = SCRYPT_R
    header[OFF_KDF + 3] = SCRYPT_P
  }
  salt.copy(header, OFF_SALT)
  repositoryId(repo).copy(header, OFF_REPO)
  check.copy(header, OFF_CHECK)
  return encKey
}

/** How errors name the thing being opened: `Invalid <header>.`, `<subject> was made with …`. */
export interface HeaderNames {
  header: string
  subject: string
}

const SESSION_NAMES: HeaderNames = { header: 'session blob header', subject: 'The session blob' }

/** Check the key part of a header against the key given and derive the encryption key. */
export function openKeyHeader(header: Buffer, material: KeyMaterial, repo: string, n: HeaderNames): Buffer {
  const kdf = header[OFF_KDF]
  const [log2n, r, p] = [header[OFF_KDF + 1]!, header[OFF_KDF + 2]!, header[OFF_KDF + 3]!]
  if (kdf === KDF_HKDF) {
    if (log2n !== 0 || r !== 0 || p !== 0) throw new BlobError('format', `Invalid ${n.header}.`)
    if (material.kind !== 'random') {
      throw new BlobError(
        'wrong-key',
        `${n.subject} was made with a random key, but the key given is a passphrase.`,
      )
    }
  } else if (kdf === KDF_SCRYPT) {
    if (
      log2n < 10 ||
      log2n > 20 ||
      r < 1 ||
      r > 32 ||
      p < 1 ||
      p > 4 ||
      128 * 2 ** log2n * r > SCRYPT_MAX_MEM
    ) {
      throw new BlobError('format', `Invalid ${n.header} (key derivation parameters out of range).`)
    }
    if (material.kind !== 'passphrase') {
      throw new BlobError(
        'wrong-key',
        `${n.subject} was made with a passphrase, but the key given is a random key.`,
      )
    }
  } else {
    throw new BlobError('format', `Invalid ${n.header} (unknown key derivation).`)
  }
  if (!header.subarray(OFF_REPO, OFF_REPO + REPO_ID_LEN).equals(repositoryId(repo))) {
    throw new BlobError('repository', `${n.subject} belongs to another repository.`)
  }
  const salt = header.subarray(OFF_SALT, OFF_SALT + SALT_LEN)
  const { encKey, check } = derive(material, salt, kdf === KDF_SCRYPT ? { log2n, r, p } : undefined)
  if (!header.subarray(OFF_CHECK, OFF_CHECK + CHECK_LEN).equals(check)) {
    throw new BlobError(
      'wrong-key',
      `${n.subject} was encrypted with a different session key (or its header is damaged).`,
    )
  }
  return encKey
}

export function encryptBundle(bundle: SessionBundle, key: string, repository: string): Buffer {
  const material = parseKey(key)
  const repo = normalizeRepository(repository)
  const iv = randomBytes(IV_LEN)
  const header = Buffer.alloc(HEADER_LEN)
  MAGIC.copy(header, 0)
  header[4] = VERSION
  const encKey = writeKeyHeader(header, material, repo)
  iv.copy(header, OFF_IV)

  const plaintext = serialize(bundle)
  if (plaintext.length > MAX_PAYLOAD_BYTES) throw new Error('The session is too large to cache.')
  const cipher = createCipheriv('aes-256-gcm', encKey, iv)
  cipher.setAAD(Buffer.concat([header, Buffer.from(repo, 'utf8')]))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([header, ciphertext, cipher.getAuthTag()])
}

export function decryptBundle(blob: Buffer, key: string, repository: string): SessionBundle {
  const material = parseKey(key)
  const repo = normalizeRepository(repository)
  if (blob.length < HEADER_LEN + TAG_LEN || !blob.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new BlobError('format', 'This is not an encrypted session blob (bad magic or too short).')
  }
  if (blob.length > MAX_BLOB_BYTES) throw new BlobError('format', 'The session blob is larger than allowed.')
  if (blob[4] !== VERSION) {
    throw new BlobError('format', `Unsupported session blob version ${blob[4]}; update icloud-photos-action.`)
  }
  const header = blob.subarray(0, HEADER_LEN)
  const encKey = openKeyHeader(header, material, repo, SESSION_NAMES)

  const iv = header.subarray(OFF_IV, OFF_IV + IV_LEN)
  const ciphertext = blob.subarray(HEADER_LEN, blob.length - TAG_LEN)
  const tag = blob.subarray(blob.length - TAG_LEN)
  let plaintext: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', encKey, iv, { authTagLength: TAG_LEN })
    decipher.setAAD(Buffer.concat([header, Buffer.from(repo, 'utf8')]))
    decipher.setAuthTag(tag)
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()])
  } catch {
    throw new BlobError('tampered', 'The session blob failed its integrity check (corrupted or modified).')
  }
  return deserialize(plaintext)
}

/** Base64 text for a secret; long enough that line breaks would not help, so none are added. */
export function encodeExport(blob: Buffer): string {
  return blob.toString('base64')
}

/** Accepts base64 or base64url with any whitespace or line breaks a copy and paste adds. */
export function decodeExport(text: string): Buffer {
  const compact = text.replace(/\s+/g, '')
  if (!compact || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) {
    throw new BlobError('format', 'The exported session is not base64 text.')
  }
  return Buffer.from(compact.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
}

/** The secret behind the public ids: the random key itself, or scrypt of the passphrase. */
function idSecret(key: string): Buffer {
  const material = parseKey(key)
  return material.kind === 'random'
    ? material.bytes
    : scryptSync(material.bytes, KEY_ID_SCRYPT_SALT, 32, {
        N: 2 ** SCRYPT_LOG2N,
        r: SCRYPT_R,
        p: SCRYPT_P,
        maxmem: SCRYPT_MAX_MEM,
      })
}

/**
 * A short, stable name for the key, used in cache key names so rotating the key orphans the old
 * entries. Cache key names are public to anyone who can read the logs, so a passphrase goes
 * through scrypt first: the id must not be a faster brute-force oracle than the blob itself.
 */
export function keyId(key: string): string {
  return createHmac('sha256', idSecret(key)).update(KEY_ID_INFO).digest('hex').slice(0, 12)
}

/** Apple IDs are case-insensitive; pasted values carry stray whitespace. */
export function normalizeAppleId(appleId: string): string {
  return appleId.trim().toLowerCase()
}

/**
 * The ids cache key names carry: the key id, and a short tag for the Apple ID so two accounts of
 * one repository never share an entry even with the same session key. The tag is keyed with the
 * session key's secret, not a public label: without the key, a reader of the logs cannot test a
 * guessed email address against it. One key derivation for both (scrypt costs ~0.1 s).
 */
export function cacheIds(key: string, appleId: string): { keyId: string; account: string } {
  const id = normalizeAppleId(appleId)
  if (!id) throw new Error('The Apple ID that names the cache entries is empty.')
  const secret = idSecret(key)
  const hmac = (text: string): string =>
    createHmac('sha256', secret).update(text, 'utf8').digest('hex').slice(0, 12)
  return { keyId: hmac(KEY_ID_INFO), account: hmac(`${ACCOUNT_TAG_INFO}\0${id}`) }
}

/** A fresh random session key: 32 bytes, base64url (43 characters). */
export function generateSessionKey(): string {
  return randomBytes(32).toString('base64url')
}
