/**
 * Server side of Apple's SRP-6a variant for the fake idmsa (docs/protocol.md §3.2 "Fake server"):
 * verifier v = g^x, B = k·v + g^b, S = (A·v^u)^b, then M1 check and M2.
 * Reuses the client's group constants and hashing so both sides agree by construction only where
 * the protocol says they must (x, M1, M2); the server-side formulas are independent.
 */
import { randomBytes } from 'node:crypto'
import {
  N,
  bigintToBytes,
  bytesToBigint,
  computeM1,
  computeM2,
  computeU,
  computeX,
  derivePasswordKey,
  g,
  k,
  modPow,
  sha256,
  verifyServerProof,
  type SrpProtocol,
} from '../../src/icloud/srp.js'

export function createVerifier(
  password: string,
  salt: Buffer,
  iterations: number,
  protocol: SrpProtocol,
): bigint {
  return modPow(g, computeX(salt, derivePasswordKey(password, salt, iterations, protocol)), N)
}

export interface ServerEphemeral {
  b: bigint
  B: bigint
  Bbase64: string
}

export function createServerEphemeral(v: bigint, bPrivate?: Buffer): ServerEphemeral {
  for (;;) {
    const b = bytesToBigint(bPrivate ?? randomBytes(32))
    const B = (k * v + modPow(g, b, N)) % N
    // B ≡ 0 would be rejected by any client; draw again (only reachable with random b).
    if (B !== 0n || bPrivate) return { b, B, Bbase64: bigintToBytes(B).toString('base64') }
  }
}

/** S = (A·v^u)^b mod N (the modulus is a parameter for RFC 5054's 1024-bit vectors). */
export function computeServerS(A: bigint, v: bigint, u: bigint, b: bigint, n: bigint = N): bigint {
  return modPow((A * modPow(v, u, n)) % n, b, n)
}

export interface ProofCheck {
  ok: boolean
  /** The server's M2 (only when ok). */
  m2?: Buffer
  K?: Buffer
}

/** Checks the client's M1 (and its own expected M2 when the client sent one). */
export function verifyClientProof(input: {
  accountName: string
  salt: Buffer
  v: bigint
  A: bigint
  b: bigint
  B: bigint
  m1: Buffer
  m2?: Buffer
}): ProofCheck {
  const { A, B, v, b } = input
  if (A % N === 0n) return { ok: false }
  const u = computeU(A, B)
  if (u === 0n) return { ok: false }
  const S = computeServerS(A, v, u, b)
  const K = sha256(bigintToBytes(S))
  const expectedM1 = computeM1({ accountName: input.accountName, salt: input.salt, A, B, K })
  if (!verifyServerProof(expectedM1, input.m1)) return { ok: false }
  const m2 = computeM2(A, expectedM1, K)
  if (input.m2 && !verifyServerProof(m2, input.m2)) return { ok: false }
  return { ok: true, m2, K }
}
