/**
 * POST the event to `webhook-url` in one of four shapes: `json` (our own, versioned), `ntfy`
 * (plain-text body, metadata in headers), `discord` and `slack` (their incoming-webhook payloads).
 * The URL is a credential (Discord and Slack embed the token in it), so nothing here ever logs or
 * returns it, not even its host: results say "webhook".
 */
import { request, type Dispatcher } from 'undici'
import pRetry, { AbortError } from 'p-retry'
import { accountHash, maskAppleId, type NotificationEvent, type NotificationKind } from './event.js'
import { renderMarkdown, renderText, subjectOf } from './messages.js'
import type { Channel, ChannelResult } from './dispatch.js'
import type { WebhookFormat } from '../core/config.generated.js'

export type { WebhookFormat }

/** Bumped when a field of the `json` format changes meaning or disappears. */
export const WEBHOOK_PAYLOAD_VERSION = 1

export interface WebhookSettings {
  url: string
  format?: WebhookFormat
  /** Retries after the first attempt for 5xx, 429 and network errors (default 3). */
  retries?: number
  /** First backoff delay in ms (default 1000, doubled each time, with jitter). */
  minRetryDelayMs?: number
  timeoutMs?: number
  dispatcher?: Dispatcher
}

export interface WebhookPayload {
  body: string
  headers: Record<string, string>
}

/**
 * The `json` format. The account appears masked, like in every other shared medium; `accountId`
 * is a stable hash to tell several accounts apart.
 */
export interface JsonWebhookBody {
  version: number
  kind: NotificationKind
  account: string
  accountId: string
  subject: string
  message: string
  daysRemaining?: number
  trustExpiresAt?: string
  errorCode?: string
  remediation: string[]
  runUrl?: string
  repository?: string
}

const NTFY: Record<NotificationKind, { priority: string; tags: string }> = {
  'trust-expiring': { priority: 'default', tags: 'warning' },
  'mfa-required': { priority: 'high', tags: 'closed_lock_with_key' },
  failure: { priority: 'high', tags: 'rotating_light' },
  recovered: { priority: 'low', tags: 'white_check_mark' },
  'reauth-request': { priority: 'urgent', tags: 'key' },
}

const COLORS: Record<NotificationKind, number> = {
  'trust-expiring': 0xf1c40f,
  'mfa-required': 0xe74c3c,
  failure: 0xe74c3c,
  recovered: 0x2ecc71,
  'reauth-request': 0x3498db,
}

export function webhookPayload(event: NotificationEvent, format: WebhookFormat = 'json'): WebhookPayload {
  const subject = subjectOf(event)
  const jsonHeaders = { 'content-type': 'application/json' }
  switch (format) {
    case 'json': {
      const body: JsonWebhookBody = {
        version: WEBHOOK_PAYLOAD_VERSION,
        kind: event.kind,
        account: maskAppleId(event.username),
        accountId: accountHash(event.username),
        subject,
        message: event.message,
        daysRemaining: event.daysRemaining,
        trustExpiresAt: event.trustExpiresAt,
        errorCode: event.errorCode,
        remediation: [...event.remediation],
        runUrl: event.runUrl,
        repository: event.repository,
      }
      return { body: JSON.stringify(body), headers: jsonHeaders }
    }
    case 'ntfy': {
      const headers: Record<string, string> = {
        'content-type': 'text/plain; charset=utf-8',
        Title: headerValue(subject),
        Priority: NTFY[event.kind].priority,
        Tags: NTFY[event.kind].tags,
      }
      if (event.runUrl) headers.Click = headerValue(event.runUrl)
      return { body: renderText(event), headers }
    }
    case 'discord':
      return {
        body: JSON.stringify({
          content: truncate(subject, 2000),
          embeds: [
            {
              title: truncate(subject, 256),
              description: truncate(renderMarkdown(event), 4096),
              color: COLORS[event.kind],
              ...(event.runUrl ? { url: event.runUrl } : {}),
            },
          ],
          // No @everyone/@here or role pings, whatever the text contains.
          allowed_mentions: { parse: [] },
        }),
        headers: jsonHeaders,
      }
    case 'slack':
      return {
        body: JSON.stringify({
          text: subject,
          blocks: [
            { type: 'header', text: { type: 'plain_text', text: truncate(subject, 150) } },
            {
              type: 'section',
              text: { type: 'mrkdwn', text: truncate(renderMarkdown(event, 'slack'), 3000) },
            },
          ],
        }),
        headers: jsonHeaders,
      }
  }
}

class RetryableStatus extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`)
  }
}

class HttpRefused extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`)
  }
}

export async function sendWebhook(s: WebhookSettings, event: NotificationEvent): Promise<ChannelResult> {
  const format = s.format ?? 'json'
  let url: URL
  try {
    url = new URL(s.url)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme')
  } catch {
    return { channel: 'webhook', ok: false, detail: 'Webhook not sent: webhook-url is not an http(s) URL.' }
  }
  const payload = webhookPayload(event, format)
  const timeout = s.timeoutMs ?? 15_000
  let attempts = 0
  try {
    const status = await pRetry(
      async () => {
        attempts++
        const res = await request(url, {
          method: 'POST',
          headers: { 'user-agent': 'icloud-photos-action', ...payload.headers },
          body: payload.body,
          headersTimeout: timeout,
          bodyTimeout: timeout,
          dispatcher: s.dispatcher,
        })
        await res.body.dump()
        if (res.statusCode >= 500 || res.statusCode === 429) throw new RetryableStatus(res.statusCode)
        if (res.statusCode >= 400) throw new AbortError(new HttpRefused(res.statusCode))
        return res.statusCode
      },
      {
        retries: s.retries ?? 3,
        minTimeout: s.minRetryDelayMs ?? 1000,
        maxTimeout: 10_000,
        factor: 2,
        randomize: true,
      },
    )
    return { channel: 'webhook', ok: true, detail: `Webhook (${format}) delivered (HTTP ${status}).` }
  } catch (err) {
    const tries = `${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}`
    if (err instanceof HttpRefused) {
      return {
        channel: 'webhook',
        ok: false,
        detail: `Webhook (${format}) refused the notification (HTTP ${err.status}).`,
      }
    }
    if (err instanceof RetryableStatus) {
      return {
        channel: 'webhook',
        ok: false,
        detail: `Webhook (${format}) failed with HTTP ${err.status} after ${tries}.`,
      }
    }
    // undici's messages can contain the address; only the error code is reported.
    const code = (err as { code?: string } | null)?.code ?? (err as Error | null)?.name ?? 'error'
    return {
      channel: 'webhook',
      ok: false,
      detail: `Webhook (${format}) unreachable (${code}) after ${tries}.`,
    }
  }
}

export function webhookChannel(s: WebhookSettings): Channel {
  return { name: 'webhook', send: (event) => sendWebhook(s, event) }
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…'
}

/** HTTP headers are Latin-1; ntfy decodes RFC 2047 encoded words for anything else. */
function headerValue(s: string): string {
  const line = s.replace(/[\r\n]+/g, ' ')
  if (/^[\x20-\x7e]*$/.test(line)) return line
  return `=?UTF-8?B?${Buffer.from(line, 'utf8').toString('base64')}?=`
}
