/**
 * The fake iCloud for tests: idmsa at `<url>/appleauth/auth` and setup at `<url>/setup/ws/1` on one
 * FakeServer (CloudKit and downloads mount beside them). See README.md in this folder.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { accountKey, type FakeAccount, type FakeAccountOptions } from './accounts.js'
import { authHandler } from './auth-routes.js'
import { FakeServer, type Clock, type Fault } from './core.js'
import { setupHandler } from './setup-routes.js'
import { FakeState, type AuthSession, type TwoFactorFlow } from './state.js'

export type { FakeAccount, FakeAccountOptions } from './accounts.js'
export type { TwoFactorFlow } from './state.js'
export { WIDGET_KEY } from './auth-routes.js'

export interface FakeWebSessionInfo {
  appleId: string
  dsid: string
  trusted: boolean
  expiresAt: number
}

export interface FakeICloud {
  /** From core.ts: mount more handlers, latencyMs, log. */
  server: FakeServer
  clock: Clock
  url: string
  /** `<url>/appleauth/auth` */
  authEndpoint: string
  /** `<url>/setup/ws/1` */
  setupEndpoint: string
  /** `<url>/ckdatabasews`, as accountLogin reports it in `webservices.ckdatabasews.url`. */
  ckdatabaseUrl: string
  /**
   * `2026` (default): the code is pushed by `PUT verify/trusteddevice/securitycode`. `pre-2026`: the
   * code is pushed when signin/complete answers 409 and that PUT answers 404 (mutable).
   */
  twoFactorFlow: TwoFactorFlow
  /** Trust window in days, read when a trust is granted (default 30). */
  trustDays: number
  /** Lifetime of idmsa session tokens (default 60 days; accountLogin with an older one → 421). */
  sessionTokenDays: number
  /** Wrong codes in one pending session before its code locks (default 5). */
  maxWrongCodes: number
  /** Codes the next pushes/SMS will use, in order (6 digits each); random when empty. */
  nextCodes: string[]
  addAccount(o: FakeAccountOptions): void
  /** The live account record; flags (isWebAccessAllowed, iCDPEnabled, domainToUse, …) may be changed. */
  account(appleId: string): FakeAccount | undefined
  /** The code pushed to trusted devices (after the PUT trigger, or at sign-in pre-2026); gone once used. */
  deviceCode(appleId: string): string | undefined
  /** The SMS/voice code for a phone; exists only after PUT verify/phone, gone once used. */
  smsCode(appleId: string, phoneId: number): string | undefined
  /** Delegates to server.inject; endpoint like 'auth:signin/complete', 'setup:accountLogin', 'auth:' (GET {auth}). */
  inject(endpoint: string, fault: Fault): void
  count(endpoint: string | RegExp): number
  /** signin/complete calls (for one Apple ID: those that reached the handler, faults excluded). */
  srpAttempts(appleId?: string): number
  /** Expiry (epoch ms, virtual clock) of the newest trust granted to the account. */
  trustExpiry(appleId: string): number | undefined
  /** Apple forgets the device trust: trust tokens and the web sessions built on them stop working. */
  revokeTrust(appleId: string): void
  /** Apple drops the web sessions (validate → 421); trust and session tokens stay good. */
  revokeWebSessions(appleId?: string): void
  /** The live web session named by a request's X-APPLE-WEBAUTH-TOKEN cookie (for CloudKit handlers). */
  webSessionFor(headers: IncomingHttpHeaders): FakeWebSessionInfo | undefined
  close(): Promise<void>
}

export async function startFakeICloud(
  o: { trustDays?: number; domain?: 'com' | 'cn'; twoFactorFlow?: TwoFactorFlow } = {},
): Promise<FakeICloud> {
  const server = await new FakeServer().start()
  const state = new FakeState(
    server.clock,
    {
      twoFactorFlow: o.twoFactorFlow ?? '2026',
      trustDays: o.trustDays ?? 30,
      sessionTokenDays: 60,
      maxWrongCodes: 5,
      domain: o.domain ?? 'com',
    },
    server.url,
  )
  server.mount('auth', '/appleauth/auth', authHandler(state))
  server.mount('setup', '/setup/ws/1', setupHandler(state))

  const latestCode = (appleId: string, pick: (s: AuthSession) => string | undefined): string | undefined => {
    const key = accountKey(appleId)
    const sessions = [...state.authSessions.values()].reverse()
    for (const s of sessions) {
      if (s.accountKey !== key) continue
      const code = pick(s)
      if (code !== undefined) return code
    }
    return undefined
  }

  return {
    server,
    clock: server.clock,
    url: server.url,
    authEndpoint: `${server.url}/appleauth/auth`,
    setupEndpoint: `${server.url}/setup/ws/1`,
    ckdatabaseUrl: `${server.url}/ckdatabasews`,
    get twoFactorFlow() {
      return state.settings.twoFactorFlow
    },
    set twoFactorFlow(v: TwoFactorFlow) {
      state.settings.twoFactorFlow = v
    },
    get trustDays() {
      return state.settings.trustDays
    },
    set trustDays(v: number) {
      state.settings.trustDays = v
    },
    get sessionTokenDays() {
      return state.settings.sessionTokenDays
    },
    set sessionTokenDays(v: number) {
      state.settings.sessionTokenDays = v
    },
    get maxWrongCodes() {
      return state.settings.maxWrongCodes
    },
    set maxWrongCodes(v: number) {
      state.settings.maxWrongCodes = v
    },
    nextCodes: state.nextCodes,
    addAccount(a) {
      state.addAccount(a)
    },
    account: (appleId) => state.account(appleId),
    deviceCode: (appleId) => latestCode(appleId, (s) => s.deviceCode?.value),
    smsCode: (appleId, phoneId) => latestCode(appleId, (s) => s.phoneCodes.get(phoneId)?.value),
    inject: (endpoint, fault) => server.inject(endpoint, fault),
    count: (endpoint) => server.count(endpoint),
    srpAttempts(appleId) {
      if (appleId === undefined) return server.count('auth:signin/complete')
      const key = accountKey(appleId)
      return state.completeCalls.filter((k) => k === key).length
    },
    trustExpiry(appleId) {
      const key = accountKey(appleId)
      const mine = [...state.trusts.values()].filter((t) => t.accountKey === key)
      return mine.at(-1)?.expiresAt
    },
    revokeTrust(appleId) {
      const key = accountKey(appleId)
      for (const t of state.trusts.values()) if (t.accountKey === key) t.revoked = true
    },
    revokeWebSessions(appleId) {
      const key = appleId === undefined ? undefined : accountKey(appleId)
      for (const w of state.webSessions.values())
        if (key === undefined || w.accountKey === key) w.revoked = true
    },
    webSessionFor(headers) {
      const w = state.webSessionFor(headers)
      if (!w) return undefined
      const account = state.accounts.get(w.accountKey)
      return {
        appleId: account?.appleId ?? w.accountKey,
        dsid: w.dsid,
        trusted: w.trusted,
        expiresAt: w.expiresAt,
      }
    },
    close: () => server.close(),
  }
}
