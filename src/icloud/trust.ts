/**
 * How long the 2FA trust lasts (docs/protocol.md §6). Apple publishes nothing, so take the earliest of the
 * trust cookie expiries and our own record of the last /2sv/trust plus the known window, and say which
 * source won.
 */
import type { Cookie } from 'tough-cookie'

/** Apple's trust window observed in 2026 (icloudpd's docs still say two months). */
export const TRUST_WINDOW_DAYS = 30
export const TRUSTED_AT_KEY = 'icloud_photos_trusted_at'
const DAY = 86_400_000

export interface TrustEstimate {
  trusted: boolean
  expiresAt?: Date
  source?: 'X-APPLE-WEBAUTH-HSA-TRUST' | 'X-APPLE-WEBAUTH-USER' | 'trusted-at'
  /** Whole days left, rounded down; negative once expired. */
  daysRemaining?: number
}

export function estimateTrust(cookies: Cookie[], data: Record<string, string>, now: number): TrustEstimate {
  const candidates: { at: number; source: NonNullable<TrustEstimate['source']> }[] = []
  let trusted = false
  for (const c of cookies) {
    if (c.key === 'X-APPLE-WEBAUTH-HSA-TRUST') trusted = true
    if (
      (c.key === 'X-APPLE-WEBAUTH-HSA-TRUST' || c.key === 'X-APPLE-WEBAUTH-USER') &&
      c.expires instanceof Date
    ) {
      candidates.push({ at: c.expires.getTime(), source: c.key })
    }
  }
  const trustedAt = Date.parse(data[TRUSTED_AT_KEY] ?? '')
  if (Number.isFinite(trustedAt))
    candidates.push({ at: trustedAt + TRUST_WINDOW_DAYS * DAY, source: 'trusted-at' })
  if (!candidates.length) return { trusted }
  const earliest = candidates.reduce((m, c) => (c.at < m.at ? c : m))
  return {
    trusted,
    expiresAt: new Date(earliest.at),
    source: earliest.source,
    daysRemaining: Math.floor((earliest.at - now) / DAY),
  }
}
