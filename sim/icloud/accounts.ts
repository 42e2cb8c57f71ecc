/**
 * Accounts of the fake iCloud: SRP parameters and verifier (the password itself is not kept), the
 * dsInfo fields accountLogin reports, and the per-account fault flags tests can flip at any time.
 */
import { randomBytes } from 'node:crypto'
import type { SrpProtocol } from '../../src/icloud/srp.js'
import { createVerifier } from './srp-server.js'

export interface FakeAccountOptions {
  appleId: string
  password: string
  protocol?: SrpProtocol
  iterations?: number
  salt?: Buffer
  dsid?: string
  fullName?: string
  countryCode?: string
  /** Trusted phone numbers; default one phone, id 1. */
  phones?: { id: number; number: string }[]
  /** 2 = HSA2 (default), 1 = legacy 2SA, 0 = no second factor. */
  hsaVersion?: number
  hasICloudQualifyingDevice?: boolean
  isWebAccessAllowed?: boolean
  /** Advanced Data Protection. */
  iCDPEnabled?: boolean
  /** Security-key names; the 409 then carries `fsaChallenge` and `keyNames`. */
  securityKeys?: string[]
  /** accountLogin answers 302 `{"domainToUse": …}` ('iCloud.com.cn' or 'iCloud.com'). */
  domainToUse?: string
  /** Bad proofs before signin/complete answers 403 (default 5). */
  lockAfterFailures?: number
  /** signin/complete answers 412 until `repair/complete` succeeds ('succeeds') or never ('fails'). */
  repair?: 'succeeds' | 'fails'
}

export interface TrustedPhone {
  id: number
  numberWithDialCode: string
  pushMode: 'sms'
  obfuscatedNumber: string
  lastTwoDigits: string
}

/** The live account record; tests may change the flags between requests. */
export interface FakeAccount {
  readonly appleId: string
  readonly protocol: SrpProtocol
  readonly iterations: number
  readonly salt: Buffer
  readonly verifier: bigint
  dsid: string
  fullName: string
  countryCode: string
  phones: { id: number; number: string }[]
  hsaVersion: number
  hasICloudQualifyingDevice: boolean
  isWebAccessAllowed: boolean
  iCDPEnabled: boolean
  securityKeys: string[]
  domainToUse?: string
  lockAfterFailures: number
  repair?: 'succeeds' | 'fails'
  /** Consecutive bad proofs; reset by a good one. */
  failures: number
  locked: boolean
  /** True while a 412 repair is owed (set from `repair`, cleared by a successful repair). */
  repairPending: boolean
}

let dsidCounter = 0

export function createAccount(o: FakeAccountOptions, defaultCountry: string): FakeAccount {
  const protocol = o.protocol ?? 's2k'
  const iterations = o.iterations ?? 20_000
  const salt = o.salt ?? randomBytes(16)
  return {
    appleId: o.appleId,
    protocol,
    iterations,
    salt,
    verifier: createVerifier(o.password, salt, iterations, protocol),
    dsid: o.dsid ?? String(12_345_678_900 + ++dsidCounter),
    fullName: o.fullName ?? 'J Doe',
    countryCode: o.countryCode ?? defaultCountry,
    phones: o.phones ?? [{ id: 1, number: '+1 (555) 010-0181' }],
    hsaVersion: o.hsaVersion ?? 2,
    hasICloudQualifyingDevice: o.hasICloudQualifyingDevice ?? true,
    isWebAccessAllowed: o.isWebAccessAllowed ?? true,
    iCDPEnabled: o.iCDPEnabled ?? false,
    securityKeys: o.securityKeys ?? [],
    domainToUse: o.domainToUse,
    lockAfterFailures: o.lockAfterFailures ?? 5,
    repair: o.repair,
    failures: 0,
    locked: false,
    repairPending: o.repair !== undefined,
  }
}

/** Apple shows only the last two digits of a trusted number. */
export function trustedPhone(p: { id: number; number: string }): TrustedPhone {
  const digits = p.number.replace(/\D/g, '')
  const lastTwoDigits = digits.slice(-2)
  const dial = /^\+\d{1,3}/.exec(p.number.trim())?.[0] ?? '+1'
  const obfuscatedNumber = `(•••) •••-••${lastTwoDigits}`
  return {
    id: p.id,
    numberWithDialCode: `${dial} ${obfuscatedNumber}`,
    pushMode: 'sms',
    obfuscatedNumber,
    lastTwoDigits,
  }
}

export function accountKey(appleId: string): string {
  return appleId.trim().toLowerCase()
}
