/**
 * In-memory server state of one fake iCloud: accounts, SRP handshakes, idmsa sessions (scnt,
 * session id, pending 2FA codes), session tokens, trust tokens and web sessions. Every expiry is
 * measured on the shared virtual clock.
 */
import { randomBytes, randomInt } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { accountKey, createAccount, type FakeAccount, type FakeAccountOptions } from './accounts.js'
import type { Clock } from './core.js'
import { parseCookies } from './cookies.js'

export const DAY_MS = 86_400_000
export const CODE_TTL_MS = 10 * 60_000
/** Lifetime of a web session that passed 2FA but was never trusted. */
export const UNTRUSTED_WEB_SESSION_MS = DAY_MS

export interface Handshake {
  c: string
  accountKey: string
  accountName: string
  authSessionId: string
  A: bigint
  b: bigint
  B: bigint
  used: boolean
}

export interface PendingCode {
  value: string
  issuedAt: number
}

/** One idmsa conversation: created by signin/init, carried by scnt + X-Apple-ID-Session-Id + aasp. */
export interface AuthSession {
  id: string
  scnt: string
  aasp: string
  accountKey: string
  state: 'init' | 'pending' | 'verified' | 'trusted' | 'repair'
  deviceCode?: PendingCode
  phoneCodes: Map<number, PendingCode>
  wrongCodes: number
  codeLocked: boolean
  codesSent: number
  /** The newest session token handed out in this conversation. */
  sessionToken?: string
}

export interface TrustRecord {
  token: string
  accountKey: string
  createdAt: number
  expiresAt: number
  revoked: boolean
}

export interface SessionToken {
  token: string
  accountKey: string
  /** pending: 2FA owed; verified: code entered, not trusted; trusted: trust token behind it; open: no 2FA account. */
  kind: 'pending' | 'verified' | 'trusted' | 'open' | 'repair'
  trust?: TrustRecord
  issuedAt: number
  expiresAt: number
}

export interface WebSession {
  /** The X-APPLE-WEBAUTH-TOKEN cookie value, quotes included. */
  cookie: string
  accountKey: string
  dsid: string
  trusted: boolean
  expiresAt: number
  trust?: TrustRecord
  /** Other cookie values, stable for the session so validate can re-send them. */
  values: { user: string; dsWebSession: string; hsaTrust?: string; validate: string; login: string }
  revoked: boolean
}

/**
 * `2026`: a device code exists only after `PUT verify/trusteddevice/securitycode` (docs/protocol.md §4.1).
 * `pre-2026`: the code is pushed when signin/complete answers 409, and that PUT answers 404.
 */
export type TwoFactorFlow = '2026' | 'pre-2026'

export interface FakeSettings {
  twoFactorFlow: TwoFactorFlow
  trustDays: number
  sessionTokenDays: number
  maxWrongCodes: number
  domain: 'com' | 'cn'
}

export function token(bytes = 32, encoding: BufferEncoding = 'base64url'): string {
  return randomBytes(bytes).toString(encoding)
}

export class FakeState {
  readonly accounts = new Map<string, FakeAccount>()
  readonly handshakes = new Map<string, Handshake>()
  readonly authSessions = new Map<string, AuthSession>()
  readonly sessionTokens = new Map<string, SessionToken>()
  readonly trusts = new Map<string, TrustRecord>()
  readonly webSessions = new Map<string, WebSession>()
  /** Account keys of the signin/complete calls that reached the handler, in order. */
  readonly completeCalls: string[] = []
  /** Codes the next triggers will push (tests make codes deterministic); random otherwise. */
  readonly nextCodes: string[] = []

  constructor(
    readonly clock: Clock,
    readonly settings: FakeSettings,
    readonly url: string,
  ) {}

  addAccount(o: FakeAccountOptions): FakeAccount {
    const a = createAccount(o, this.settings.domain === 'cn' ? 'CHN' : 'USA')
    this.accounts.set(accountKey(o.appleId), a)
    return a
  }

  account(appleId: string): FakeAccount | undefined {
    return this.accounts.get(accountKey(appleId))
  }

  now(): number {
    return this.clock.now()
  }

  newAuthSession(key: string): AuthSession {
    const s: AuthSession = {
      id: token(16, 'hex').toUpperCase(),
      scnt: token(24),
      aasp: token(16, 'hex').toUpperCase(),
      accountKey: key,
      state: 'init',
      phoneCodes: new Map(),
      wrongCodes: 0,
      codeLocked: false,
      codesSent: 0,
    }
    this.authSessions.set(s.id, s)
    return s
  }

  /** Apple hands out a fresh scnt on responses that move the conversation forward. */
  rotateScnt(s: AuthSession): void {
    s.scnt = token(24)
  }

  newCode(): string {
    const queued = this.nextCodes.shift()
    if (queued !== undefined) return queued
    return String(randomInt(0, 1_000_000)).padStart(6, '0')
  }

  codeLive(c: PendingCode | undefined): c is PendingCode {
    return c !== undefined && this.now() - c.issuedAt < CODE_TTL_MS
  }

  issueSessionToken(key: string, kind: SessionToken['kind'], trust?: TrustRecord): SessionToken {
    const t: SessionToken = {
      token: token(48, 'base64'),
      accountKey: key,
      kind,
      trust,
      issuedAt: this.now(),
      expiresAt: this.now() + this.settings.sessionTokenDays * DAY_MS,
    }
    this.sessionTokens.set(t.token, t)
    return t
  }

  liveSessionToken(value: unknown): SessionToken | undefined {
    if (typeof value !== 'string') return undefined
    const t = this.sessionTokens.get(value)
    return t && t.expiresAt > this.now() ? t : undefined
  }

  issueTrust(key: string): TrustRecord {
    const now = this.now()
    const t: TrustRecord = {
      token: 'HSARMTKNSRVXWFla' + token(64, 'base64'),
      accountKey: key,
      createdAt: now,
      expiresAt: now + this.settings.trustDays * DAY_MS,
      revoked: false,
    }
    this.trusts.set(t.token, t)
    return t
  }

  trustLive(t: TrustRecord | undefined, key: string): t is TrustRecord {
    return t !== undefined && !t.revoked && t.accountKey === key && t.expiresAt > this.now()
  }

  /** The first live trust among tokens a client presented (signin/complete trustTokens, accountLogin trustToken). */
  findTrust(tokens: unknown[], key: string): TrustRecord | undefined {
    for (const v of tokens) {
      if (typeof v !== 'string') continue
      const t = this.trusts.get(v)
      if (this.trustLive(t, key)) return t
    }
    return undefined
  }

  newWebSession(account: FakeAccount, trust: TrustRecord | undefined, expiresAt: number): WebSession {
    const w: WebSession = {
      cookie: `"v=2:t=${token(40)}"`,
      accountKey: accountKey(account.appleId),
      dsid: account.dsid,
      trusted: trust !== undefined,
      expiresAt,
      trust,
      values: {
        user: `"v=1:s=1:d=${account.dsid}"`,
        dsWebSession: `"${token(48, 'base64')}"`,
        hsaTrust: trust ? `"${token(32, 'hex')}_HSARMTKNSRVXWFla"` : undefined,
        validate: `"v=1:t=${token(24)}~~"`,
        login: `"v=1:t=${token(24)}~~"`,
      },
      revoked: false,
    }
    this.webSessions.set(w.cookie, w)
    return w
  }

  webSessionLive(w: WebSession | undefined): w is WebSession {
    if (!w || w.revoked || w.expiresAt <= this.now()) return false
    // A trusted web session dies with its trust (revoked or expired).
    return !w.trust || this.trustLive(w.trust, w.accountKey)
  }

  /** The live web session named by the request's X-APPLE-WEBAUTH-TOKEN cookie (for CloudKit mounts too). */
  webSessionFor(headers: IncomingHttpHeaders): WebSession | undefined {
    const cookie = parseCookies(headers).get('X-APPLE-WEBAUTH-TOKEN')
    const w = cookie === undefined ? undefined : this.webSessions.get(cookie)
    return this.webSessionLive(w) ? w : undefined
  }
}
