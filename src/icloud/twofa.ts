/**
 * The second factor (docs/protocol.md §4): push trigger, options (phones), device or SMS code, then trust.
 * Asking the human is the MFA provider's job; this module only speaks to Apple.
 */
import { AppError } from '../core/errors.js'
import type { HttpResponse } from './http.js'
import type { ICloudSession } from './session.js'
import { MAX_CODE_ATTEMPTS, type MfaProvider, type TrustedPhone } from './ports.js'
import { throttled } from './account.js'
import { unexpected } from './signin.js'

const JSON_ACCEPT = 'application/json'

/**
 * Asks Apple to push a code to the trusted devices (§4.1, needed since 2026). Best effort: before
 * 2026 the code was pushed at sign-in and this call answers 404, so a refusal is only logged and
 * the flow goes on to the options and the prompt. Throttling (503) still stops the run: asking a
 * person for a code Apple is not sending, and calling again at once, is what it must not do.
 * Returns whether Apple accepted the trigger.
 */
export async function triggerDevicePush(
  session: ICloudSession,
  log?: { debug?(m: string): void },
): Promise<boolean> {
  const res = await session.http.request({
    method: 'PUT',
    url: `${session.endpoints.auth}/verify/trusteddevice/securitycode`,
    headers: session.authHeaders(session.endpoints.home, JSON_ACCEPT),
  })
  await res.discard()
  if (res.status >= 200 && res.status <= 299) return true
  if (res.status === 503) throw throttled(res)
  log?.debug?.(
    `verify/trusteddevice/securitycode answered HTTP ${res.status}; going on (the code may have been pushed at sign-in).`,
  )
  return false
}

export interface AuthOptions {
  phones: TrustedPhone[]
  codeLength: number
}

export async function getAuthOptions(session: ICloudSession): Promise<AuthOptions> {
  const res = await session.http.request({
    method: 'GET',
    url: session.endpoints.auth,
    headers: session.authHeaders(session.endpoints.home, JSON_ACCEPT),
  })
  if (res.status === 503) throw throttled(res)
  if (res.status < 200 || res.status > 299) throw await unexpected(res, 'auth options')
  const text = await res.text()
  return parseAuthOptions(text)
}

/** Pure: read phones and code length from the JSON form or the HTML boot_args form (§4.2). */
export function parseAuthOptions(text: string): AuthOptions {
  let root: Record<string, unknown> = {}
  const trimmed = text.trim()
  try {
    if (trimmed.startsWith('{')) root = JSON.parse(trimmed) as Record<string, unknown>
    else {
      const m = /<script[^>]*class="boot_args"[^>]*>([\s\S]*?)<\/script>/.exec(text)
      if (m) root = ((JSON.parse(m[1]!) as Record<string, unknown>).direct ?? {}) as Record<string, unknown>
    }
  } catch {
    root = {}
  }
  const twoSV = (root.twoSV ?? {}) as Record<string, unknown>
  const candidates: unknown[] = [
    root.trustedPhoneNumbers,
    (twoSV.phoneNumberVerification as Record<string, unknown> | undefined)?.trustedPhoneNumbers,
    (
      (twoSV.bridgeInitiateData as Record<string, unknown> | undefined)?.phoneNumberVerification as
        Record<string, unknown> | undefined
    )?.trustedPhoneNumbers,
  ]
  const phones: TrustedPhone[] = []
  for (const list of candidates) {
    if (!Array.isArray(list)) continue
    for (const p of list as Record<string, unknown>[]) {
      const id = Number(p?.id)
      if (Number.isInteger(id) && !phones.some((x) => x.id === id)) {
        phones.push({
          id,
          obfuscatedNumber: String(p.obfuscatedNumber ?? p.numberWithDialCode ?? `phone ${id}`),
        })
      }
    }
  }
  const sc = (root.securityCode ??
    (twoSV.phoneNumberVerification as Record<string, unknown> | undefined)?.securityCode ??
    {}) as Record<string, unknown>
  const len = Number(sc.length)
  return { phones, codeLength: Number.isInteger(len) && len > 0 ? len : 6 }
}

export async function sendSms(session: ICloudSession, phoneId: number): Promise<void> {
  const res = await session.http.request({
    method: 'PUT',
    url: `${session.endpoints.auth}/verify/phone`,
    headers: {
      ...session.authHeaders(session.endpoints.home, JSON_ACCEPT),
      'Content-Type': 'application/json; charset=utf-8',
    },
    body: JSON.stringify({ phoneNumber: { id: phoneId }, mode: 'sms' }),
  })
  await res.discard()
  if (res.status === 503) throw throttled(res)
  if (res.status < 200 || res.status > 299) {
    throw new AppError(
      'MFA_FAILED',
      `Apple did not send the SMS code (HTTP ${res.status}).`,
      'Use the code shown on a trusted device instead, or try again later.',
    )
  }
}

/** Submits a code; returns false for a wrong code (ask again), throws on anything else. */
export async function submitCode(session: ICloudSession, code: string, phoneId?: number): Promise<boolean> {
  const clean = normaliseCode(code)
  const sms = phoneId !== undefined
  const res = await session.http.request({
    method: 'POST',
    url: `${session.endpoints.auth}/${sms ? 'verify/phone/securitycode' : 'verify/trusteddevice/securitycode'}`,
    headers: session.authHeaders(session.endpoints.home, JSON_ACCEPT),
    body: JSON.stringify(
      sms
        ? { phoneNumber: { id: phoneId }, securityCode: { code: clean }, mode: 'sms' }
        : { securityCode: { code: clean } },
    ),
  })
  return readCodeAnswer(res)
}

async function readCodeAnswer(res: HttpResponse): Promise<boolean> {
  if (res.status === 503) throw throttled(res)
  const text = await res.text()
  let body: Record<string, unknown>
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {}
  } catch {
    body = {}
  }
  const errors = (body.service_errors ?? body.serviceErrors) as { code?: string }[] | undefined
  const wrong = res.header('x-apple-i-ercd') === '-21669' || errors?.some((e) => e.code === '-21669')
  if (res.status >= 200 && res.status < 300 && !body.hasError && !errors?.length) return true
  // A locked code still carries -21669: check the lock first, or we would keep asking.
  const locked = (body.securityCode as Record<string, unknown> | undefined)?.securityCodeLocked === true
  if (wrong && !locked) return false
  throw new AppError(
    'MFA_FAILED',
    locked
      ? 'Apple locked the verification code after too many wrong attempts.'
      : `Apple refused the verification code (HTTP ${res.status}).`,
    'Wait a few minutes, then sign in again to get a new code.',
  )
}

export async function trustSession(session: ICloudSession): Promise<void> {
  const res = await session.http.request({
    method: 'GET',
    url: `${session.endpoints.auth}/2sv/trust`,
    headers: session.authHeaders(session.endpoints.home, JSON_ACCEPT),
  })
  await res.discard()
  if (res.status === 503) throw throttled(res)
  if (res.status < 200 || res.status > 299) throw await unexpected(res, '2sv/trust')
}

/** Codes are digits; people paste them with spaces or dashes (kei strips those too). */
export function normaliseCode(code: string): string {
  return code.replace(/[\s-]/g, '')
}

export function isWellFormedCode(code: string, length = 6): boolean {
  return new RegExp(`^\\d{${length}}$`).test(normaliseCode(code))
}

/**
 * Runs the whole exchange with an MFA provider: trigger the push, ask, (send an SMS when asked),
 * submit, re-ask on a wrong code up to MAX_CODE_ATTEMPTS, then trust.
 */
export async function completeSecondFactor(
  session: ICloudSession,
  provider: MfaProvider,
  log: { info(m: string): void; debug?(m: string): void },
): Promise<void> {
  await triggerDevicePush(session, log)
  const options = await getAuthOptions(session)
  let previousError: string | undefined
  let smsPhone: number | undefined
  let attempt = 1
  // SMS requests don't consume an attempt, but are bounded too so a confused provider can't loop.
  for (let round = 0; attempt <= MAX_CODE_ATTEMPTS && round < MAX_CODE_ATTEMPTS * 2; round++) {
    const answer = await provider.ask({
      username: session.username,
      codeLength: options.codeLength,
      phones: options.phones,
      attempt,
      previousError,
    })
    if (answer.kind === 'sms') {
      if (!options.phones.some((p) => p.id === answer.phoneId)) {
        previousError = 'That phone is not one of the trusted numbers.'
        continue
      }
      await sendSms(session, answer.phoneId)
      smsPhone = answer.phoneId
      log.info('Apple sent a code by SMS.')
      previousError = undefined
      continue
    }
    if (!isWellFormedCode(answer.code, options.codeLength)) {
      previousError = `The code must be ${options.codeLength} digits.`
      attempt++
      continue
    }
    const ok = await submitCode(session, answer.code, answer.phoneId ?? smsPhone)
    if (ok) {
      await trustSession(session)
      await provider.done?.(true)
      return
    }
    previousError = 'Incorrect verification code.'
    attempt++
  }
  await provider.done?.(false)
  throw new AppError(
    'MFA_FAILED',
    `No valid verification code after ${MAX_CODE_ATTEMPTS} attempts.`,
    'Sign in again and enter the newest code shown on a trusted device.',
  )
}
