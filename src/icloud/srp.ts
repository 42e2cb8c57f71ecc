/**
 * SRP-6a client for Apple's sign-in variant (docs/protocol.md §3.2): RFC 5054 2048-bit group,
 * SHA-256, RFC 5054 padding for k and u, no username in x, PBKDF2 password key ("s2k"/"s2k_fo"),
 * and the salt handled as icloudpd's `srp` library does (leading zero bytes dropped in x and M1).
 * Pure math: no I/O, no logging. The fake server reuses the helpers exported here.
 */
import { createHash, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { AppError } from '../core/errors.js'

export type SrpProtocol = 's2k' | 's2k_fo'

/** kei's ceiling: a larger count is either a protocol change or a denial-of-service attempt. */
export const MAX_ITERATIONS = 1_000_000

/** RFC 5054 Appendix A, 2048-bit group. */
export const N = BigInt(
  '0x' +
    'AC6BDB41324A9A9BF166DE5E1389582FAF72B6651987EE07FC3192943DB56050A37329CBB4A099ED8193E0757767A13D' +
    'D52312AB4B03310DCD7F48A9DA04FD50E8083969EDB767B0CF6095179A163AB3661A05FBD5FAAAE82918A9962F0B93B8' +
    '55F97993EC975EEAA80D740ADBF4FF747359D041D5C33EA71D281E446B14773BCA97B43A23FB801676BD207A436C6481' +
    'F1D2B9078717461A5B9D32E688F87748544523B524B0D57D5EA77A2775D2ECFA032CFBDBF52FB3786160279004E57AE6' +
    'AF874E7303CE53299CCC041C7BC308D82A5698F3A8D0C38271AE35F8E9DBFBB694B5C803D89F7AE435DE236D525F5475' +
    '9B65E372FCD68EF20FA7111F9E4AFF73',
)
export const g = 2n
/** Byte length of N: the width of PAD(). */
export const N_BYTES = 256

/** Minimal big-endian bytes; 0 gives an empty buffer, like Python srp's long_to_bytes. */
export function bigintToBytes(x: bigint): Buffer {
  if (x < 0n) throw new RangeError('negative value')
  if (x === 0n) return Buffer.alloc(0)
  const hex = x.toString(16)
  return Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex')
}

export function bytesToBigint(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + b.toString('hex'))
}

/** PAD(x): big-endian, left-padded with zeros to the byte length of N. */
export function pad(x: bigint | Buffer, width = N_BYTES): Buffer {
  const b = typeof x === 'bigint' ? bigintToBytes(x) : x
  if (b.length > width) throw new RangeError('value wider than the group')
  return b.length === width ? b : Buffer.concat([Buffer.alloc(width - b.length), b])
}

export function sha256(...parts: (Buffer | string)[]): Buffer {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n
  let b = ((base % mod) + mod) % mod
  let e = exp
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod
    e >>= 1n
    b = (b * b) % mod
  }
  return result
}

/** k = H(N ‖ PAD(g)). */
export const k = bytesToBigint(sha256(bigintToBytes(N), pad(g)))

/**
 * The salt as it enters x and M1. icloudpd's library turns the salt into an integer and back,
 * which drops leading zero bytes; the project follows icloudpd (docs/protocol.md §3.2, fixture vector 3).
 */
export function saltForHash(salt: Buffer): Buffer {
  return bigintToBytes(bytesToBigint(salt))
}

/** Password key P = PBKDF2-HMAC-SHA256(pw, raw salt, iterations, 32); pw per protocol. */
export function derivePasswordKey(
  password: string,
  salt: Buffer,
  iterations: number,
  protocol: SrpProtocol,
): Buffer {
  checkIterations(iterations)
  const digest = sha256(Buffer.from(password, 'utf8'))
  const pw = protocol === 's2k_fo' ? Buffer.from(digest.toString('hex'), 'ascii') : digest
  return pbkdf2Sync(pw, salt, iterations, 32, 'sha256')
}

/** x = H(s ‖ H(":" ‖ P)): the username is left out, the colon stays. */
export function computeX(salt: Buffer, passwordKey: Buffer): bigint {
  return bytesToBigint(sha256(saltForHash(salt), sha256(Buffer.from(':'), passwordKey)))
}

/** u = H(PAD(A) ‖ PAD(B)). */
export function computeU(A: bigint, B: bigint): bigint {
  return bytesToBigint(sha256(pad(A), pad(B)))
}

/** M1 = H((H(N) xor H(PAD(g))) ‖ H(accountName) ‖ s ‖ A ‖ B ‖ K); here the username is used. */
export function computeM1(input: {
  accountName: string
  salt: Buffer
  A: bigint
  B: bigint
  K: Buffer
}): Buffer {
  const hN = sha256(bigintToBytes(N))
  const hg = sha256(pad(g))
  const xor = Buffer.alloc(hN.length)
  for (let i = 0; i < xor.length; i++) xor[i] = hN[i]! ^ hg[i]!
  return sha256(
    xor,
    sha256(Buffer.from(input.accountName, 'utf8')),
    saltForHash(input.salt),
    bigintToBytes(input.A),
    bigintToBytes(input.B),
    input.K,
  )
}

/** M2 = H(A ‖ M1 ‖ K). */
export function computeM2(A: bigint, m1: Buffer, K: Buffer): Buffer {
  return sha256(bigintToBytes(A), m1, K)
}

/** Constant-time comparison of a server proof (or any two proofs). */
export function verifyServerProof(expectedM2: Buffer, receivedM2: Buffer): boolean {
  return expectedM2.length === receivedM2.length && timingSafeEqual(expectedM2, receivedM2)
}

export interface SrpGroup {
  N: bigint
  g: bigint
  k: bigint
}

/** S = (B − k·g^x)^(a + u·x) mod N. The group is a parameter only so RFC 5054's 1024-bit vectors can check it. */
export function computeClientS(
  B: bigint,
  x: bigint,
  a: bigint,
  u: bigint,
  group: SrpGroup = { N, g, k },
): bigint {
  const base = (((B - ((group.k * modPow(group.g, x, group.N)) % group.N)) % group.N) + group.N) % group.N
  return modPow(base, a + u * x, group.N)
}

export function createClientEphemeral(aPrivate?: Buffer): { a: bigint; A: bigint; Abase64: string } {
  const a = bytesToBigint(aPrivate ?? randomBytes(32))
  if (a === 0n) throw new RangeError('the private value must not be zero')
  const A = modPow(g, a, N)
  return { a, A, Abase64: bigintToBytes(A).toString('base64') }
}

export function computeClientProof(input: {
  accountName: string
  password: string
  salt: Buffer
  iterations: number
  protocol: SrpProtocol
  a: bigint
  A: bigint
  B: Buffer
}): { m1: Buffer; m2: Buffer; K: Buffer } {
  checkIterations(input.iterations)
  const B = bytesToBigint(input.B)
  // A malicious or broken server could force S to a known value with B ≡ 0 or u = 0.
  if (B % N === 0n) throw protocolError('the server value B is invalid (B mod N = 0)')
  const u = computeU(input.A, B)
  if (u === 0n) throw protocolError('the scrambling value u is zero')
  const x = computeX(
    input.salt,
    derivePasswordKey(input.password, input.salt, input.iterations, input.protocol),
  )
  const S = computeClientS(B, x, input.a, u)
  const K = sha256(bigintToBytes(S))
  const m1 = computeM1({ accountName: input.accountName, salt: input.salt, A: input.A, B, K })
  return { m1, m2: computeM2(input.A, m1, K), K }
}

function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw protocolError(`the iteration count ${iterations} is out of range (1..${MAX_ITERATIONS})`)
  }
}

function protocolError(detail: string): AppError {
  return new AppError(
    'PROTOCOL_ERROR',
    `Apple's sign-in answer cannot be used: ${detail}.`,
    'This is a protocol change or a broken response, not a wrong password; try again later and report it if it persists.',
  )
}
