import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startWebhookSink, type WebhookSink } from '../sim/webhook-sink.js'
import {
  sendWebhook,
  webhookChannel,
  WEBHOOK_PAYLOAD_VERSION,
  type WebhookFormat,
} from '../src/notify/webhook.js'
import type { NotificationEvent } from '../src/notify/event.js'

const APPLE_ID = 'jane.doe@example.org'
const HOOK_SECRET = 'T000/B000/hooksecretXYZ'
const SESSION_TOKEN = 'X-APPLE-SESSION-TOKEN-0123456789abcdef'

const event: NotificationEvent = {
  kind: 'trust-expiring',
  username: APPLE_ID,
  daysRemaining: 5,
  trustExpiresAt: '2026-05-01T08:00:00Z',
  message: 'The two-factor trust of this session ends soon.',
  remediation: [
    'Run `icloud-photos-action login` locally and update the ICLOUD_SESSION secret',
    'or run the re-auth workflow',
  ],
  runUrl: 'https://github.com/octo/photos/actions/runs/42',
  repository: 'octo/photos',
}

let sink: WebhookSink
beforeEach(async () => {
  sink = await startWebhookSink()
})
afterEach(async () => {
  await sink.close()
})

const hookUrl = () => `${sink.url}/hooks/${HOOK_SECRET}`
const send = (format: WebhookFormat, e: NotificationEvent = event) =>
  sendWebhook({ url: hookUrl(), format, retries: 2, minRetryDelayMs: 1 }, e)

describe('webhook payloads', () => {
  it('json: the event fields with a version, the account masked, nothing extra', async () => {
    const withContext = { ...event, sessionToken: SESSION_TOKEN } as NotificationEvent
    const res = await send('json', withContext)
    expect(res).toEqual({ channel: 'webhook', ok: true, detail: 'Webhook (json) delivered (HTTP 204).' })
    const req = sink.requests[0]!
    expect(req.method).toBe('POST')
    expect(req.path).toBe(`/hooks/${HOOK_SECRET}`)
    expect(req.headers['content-type']).toBe('application/json')
    const body = req.json() as Record<string, unknown>
    expect(body).toEqual({
      version: WEBHOOK_PAYLOAD_VERSION,
      kind: 'trust-expiring',
      account: 'j***@e******.org',
      accountId: expect.stringMatching(/^[0-9a-f]{12}$/),
      subject: 'iCloud Photos: sign-in for j***@e******.org expires in 5 days',
      message: event.message,
      daysRemaining: 5,
      trustExpiresAt: '2026-05-01T08:00:00Z',
      remediation: event.remediation,
      runUrl: event.runUrl,
      repository: 'octo/photos',
    })
    expect(req.body).not.toContain(APPLE_ID)
    expect(req.body).not.toContain(SESSION_TOKEN)
  })

  it('ntfy: plain-text body with Title, Priority, Tags and Click headers', async () => {
    await send('ntfy', { ...event, kind: 'mfa-required', errorCode: 'MFA_REQUIRED' })
    const req = sink.requests[0]!
    expect(req.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(req.headers.title).toBe('iCloud Photos: two-factor sign-in needed for j***@e******.org')
    expect(req.headers.priority).toBe('high')
    expect(req.headers.tags).toBe('closed_lock_with_key')
    expect(req.headers.click).toBe(event.runUrl)
    expect(req.body).toContain('Error code: MFA_REQUIRED')
    expect(req.body).toContain('1. Run `icloud-photos-action login`')
    expect(() => JSON.parse(req.body)).toThrow()
  })

  it('discord: content plus one embed with title, markdown description, colour and link; no pings', async () => {
    await send('discord', { ...event, kind: 'failure', errorCode: 'NETWORK' })
    const body = sink.requests[0]!.json() as {
      content: string
      embeds: Array<{ title: string; description: string; color: number; url: string }>
      allowed_mentions: { parse: string[] }
    }
    expect(body.content).toBe('iCloud Photos: backup failed for j***@e******.org (NETWORK)')
    expect(body.embeds).toHaveLength(1)
    expect(body.embeds[0]).toMatchObject({ title: body.content, color: 0xe74c3c, url: event.runUrl })
    expect(body.embeds[0]!.description).toContain(
      '**The iCloud Photos backup for `j***@e******.org` failed.**',
    )
    expect(body.embeds[0]!.description).toContain('- Error code: `NETWORK`')
    expect(body.embeds[0]!.description).toContain(
      '[view the workflow run](https://github.com/octo/photos/actions/runs/42)',
    )
    expect(body.allowed_mentions).toEqual({ parse: [] })
  })

  it("slack: fallback text and blocks in Slack's mrkdwn", async () => {
    await send('slack', { ...event, kind: 'recovered', remediation: [] })
    const body = sink.requests[0]!.json() as {
      text: string
      blocks: Array<{ type: string; text: { type: string; text: string } }>
    }
    expect(body.text).toBe('iCloud Photos: backup for j***@e******.org is working again')
    expect(body.blocks.map((b) => [b.type, b.text.type])).toEqual([
      ['header', 'plain_text'],
      ['section', 'mrkdwn'],
    ])
    expect(body.blocks[0]!.text.text).toBe(body.text)
    const section = body.blocks[1]!.text.text
    expect(section).toContain('*The iCloud Photos backup for `j***@e******.org` is working again.*')
    expect(section).toContain('<https://github.com/octo/photos/actions/runs/42|view the workflow run>')
    expect(section).not.toMatch(/^\*\*/m) // GitHub-style bold is not Slack's
  })
})

describe('webhook delivery', () => {
  it('retries a 500 and then succeeds', async () => {
    sink.respondWith(500)
    const res = await send('json')
    expect(res.ok).toBe(true)
    expect(sink.requests).toHaveLength(2)
    expect(sink.requests[1]!.body).toBe(sink.requests[0]!.body)
  })

  it('gives up after the retries on a persistent 5xx', async () => {
    sink.defaultStatus = 503
    const res = await send('json')
    expect(res).toEqual({
      channel: 'webhook',
      ok: false,
      detail: 'Webhook (json) failed with HTTP 503 after 3 attempts.',
    })
    expect(sink.requests).toHaveLength(3)
  })

  it('treats a 400 as a failure without retrying, and never reports the URL', async () => {
    sink.respondWith(400)
    const res = await webhookChannel({
      url: hookUrl(),
      format: 'discord',
      retries: 2,
      minRetryDelayMs: 1,
    }).send(event)
    expect(res).toEqual({
      channel: 'webhook',
      ok: false,
      detail: 'Webhook (discord) refused the notification (HTTP 400).',
    })
    expect(sink.requests).toHaveLength(1)
  })

  it('reports an unreachable endpoint by error code only', async () => {
    const url = hookUrl()
    const port = new URL(url).port
    await sink.close()
    sink = await startWebhookSink() // afterEach closes something real
    const res = await sendWebhook({ url, retries: 1, minRetryDelayMs: 1 }, event)
    expect(res.ok).toBe(false)
    expect(res.detail).toMatch(/^Webhook \(json\) unreachable \(\w+\) after 2 attempts\.$/)
    for (const part of [HOOK_SECRET, '127.0.0.1', port]) expect(res.detail).not.toContain(part)
  })

  it('rejects a non-http URL without echoing it', async () => {
    const res = await sendWebhook({ url: `ftp://host/${HOOK_SECRET}` }, event)
    expect(res).toEqual({
      channel: 'webhook',
      ok: false,
      detail: 'Webhook not sent: webhook-url is not an http(s) URL.',
    })
  })
})
