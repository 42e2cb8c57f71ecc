/**
 * Apple's base URLs per domain (docs/protocol.md §1). ICLOUD_AUTH_ENDPOINT and
 * ICLOUD_SETUP_ENDPOINT override them — documented for tests, demos and advanced setups only.
 */
export type Domain = 'com' | 'cn'

export interface Endpoints {
  domain: Domain
  /** `{auth}`: …/appleauth/auth */
  auth: string
  /** Origin used on signin/init and signin/complete. */
  authRoot: string
  /** `{home}`: Origin/Referer of everything else. */
  home: string
  /** `{setup}`: …/setup/ws/1 */
  setup: string
}

const DOMAINS: Record<Domain, { authRoot: string; home: string; setup: string }> = {
  com: {
    authRoot: 'https://idmsa.apple.com',
    home: 'https://www.icloud.com',
    setup: 'https://setup.icloud.com/setup/ws/1',
  },
  cn: {
    authRoot: 'https://idmsa.apple.com.cn',
    home: 'https://www.icloud.com.cn',
    setup: 'https://setup.icloud.com.cn/setup/ws/1',
  },
}

export function endpointsFor(domain: Domain, env: NodeJS.ProcessEnv = process.env): Endpoints {
  const d = DOMAINS[domain]
  const auth = trimSlash(env.ICLOUD_AUTH_ENDPOINT || `${d.authRoot}/appleauth/auth`)
  return {
    domain,
    auth,
    authRoot: env.ICLOUD_AUTH_ENDPOINT ? new URL(auth).origin : d.authRoot,
    home: d.home,
    setup: trimSlash(env.ICLOUD_SETUP_ENDPOINT || d.setup),
  }
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, '')
}

/** Apple's web client id for idmsa (public; every peer sends it). */
export const WIDGET_KEY = 'd39ba9916b7251055b22c7f910e2ea796ee65e98b2ddecea8f5dde8d9d1a815d'
