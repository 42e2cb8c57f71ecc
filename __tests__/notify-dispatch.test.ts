import { describe, expect, it } from 'vitest'
import {
  markNotified,
  notifyAll,
  shouldNotifyExpiring,
  NOTIFIED_STATE_KEY,
  type Channel,
  type ChannelResult,
} from '../src/notify/dispatch.js'
import { accountHash, maskAppleId, type NotificationEvent } from '../src/notify/event.js'
import { expiryPhrase, renderMarkdown, renderText, subjectOf } from '../src/notify/messages.js'

const event: NotificationEvent = {
  kind: 'failure',
  username: 'jane.doe@example.org',
  errorCode: 'NETWORK',
  message: 'Cannot connect to Apple iCloud service.',
  remediation: ['Retry the run'],
}

function recordingLog() {
  const lines: Array<['info' | 'warning', string]> = []
  return {
    lines,
    info: (m: string) => void lines.push(['info', m]),
    warning: (m: string) => void lines.push(['warning', m]),
  }
}

describe('notifyAll', () => {
  it('runs every channel even when one throws and one fails; failures become warnings', async () => {
    const called: string[] = []
    const channels: Channel[] = [
      {
        name: 'email',
        send: async () => {
          called.push('email')
          throw new Error('SMTP exploded\nwith a stack-like second line')
        },
      },
      {
        name: 'github-issue',
        send: async () => {
          called.push('github-issue')
          return {
            channel: 'github-issue',
            ok: false,
            detail: 'GitHub issue failed: 403',
            warning: 'read-only token',
          }
        },
      },
      {
        name: 'webhook',
        send: async (e) => {
          called.push(`webhook:${e.kind}`)
          return { channel: 'webhook', ok: true, detail: 'Webhook delivered.' }
        },
      },
      {
        name: 'script',
        send: async () => {
          called.push('script')
          return { channel: 'script', ok: false, detail: 'Notification script exited with code 2.' }
        },
      },
    ]
    const log = recordingLog()
    const results = await notifyAll(channels, event, log)

    expect(called.sort()).toEqual(['email', 'github-issue', 'script', 'webhook:failure'])
    expect(results).toEqual<ChannelResult[]>([
      { channel: 'email', ok: false, detail: 'email notification failed: SMTP exploded' },
      { channel: 'github-issue', ok: false, detail: 'GitHub issue failed: 403', warning: 'read-only token' },
      { channel: 'webhook', ok: true, detail: 'Webhook delivered.' },
      { channel: 'script', ok: false, detail: 'Notification script exited with code 2.' },
    ])
    expect(log.lines).toEqual([
      ['warning', 'email notification failed: SMTP exploded'],
      ['warning', 'read-only token'],
      ['info', 'Webhook delivered.'],
      ['warning', 'Notification script exited with code 2.'],
    ])
  })

  it('returns an empty list for no channels', async () => {
    expect(await notifyAll([], event, recordingLog())).toEqual([])
  })
})

describe('one notification per expiry value', () => {
  const expiry = '2026-05-01T08:00:00Z'

  it('notifies once for an expiry, again for a new one, and keeps other state', () => {
    let state: Record<string, unknown> = { cursor: 'abc' }
    expect(shouldNotifyExpiring(state, expiry)).toBe(true)
    state = markNotified(state, expiry, 'trust-expiring', new Date('2026-04-26T00:00:00Z'))
    expect(state.cursor).toBe('abc')
    expect(state[NOTIFIED_STATE_KEY]).toEqual({
      'trust-expiring': {
        trustExpiresAt: '2026-05-01T08:00:00.000Z',
        notifiedAt: '2026-04-26T00:00:00.000Z',
      },
    })
    // Same instant written differently: still the same expiry.
    expect(shouldNotifyExpiring(state, '2026-05-01T08:00:00.000Z')).toBe(false)
    expect(shouldNotifyExpiring(state, '2026-05-01T10:00:00+02:00')).toBe(false)
    // The session was renewed: a new expiry gets its own warning.
    expect(shouldNotifyExpiring(state, '2026-06-01T08:00:00Z')).toBe(true)
    // The MFA-required notification is tracked separately.
    expect(shouldNotifyExpiring(state, expiry, 'mfa-required')).toBe(true)
  })

  it('does not modify the state it is given', () => {
    const state = { other: 1 }
    const next = markNotified(state, expiry)
    expect(state).toEqual({ other: 1 })
    expect(next).not.toBe(state)
  })

  it('treats unreadable remembered state as not sent', () => {
    expect(shouldNotifyExpiring({ [NOTIFIED_STATE_KEY]: 'garbage' }, expiry)).toBe(true)
    expect(
      shouldNotifyExpiring({ [NOTIFIED_STATE_KEY]: { 'trust-expiring': { trustExpiresAt: 5 } } }, expiry),
    ).toBe(true)
    expect(shouldNotifyExpiring({ [NOTIFIED_STATE_KEY]: [] }, expiry)).toBe(true)
  })
})

describe('account masking and messages', () => {
  it('masks Apple IDs so the owner recognises them but a reader cannot harvest them', () => {
    expect(maskAppleId('jdoe@example.com')).toBe('j***@e******.com')
    expect(maskAppleId('a@b.co')).toBe('***@*.co')
    expect(maskAppleId('jane@mail.example.co.uk')).toBe('j***@m***.e******.c*.uk')
    expect(maskAppleId('+15551234567')).toBe('+1********67')
    expect(maskAppleId('1234')).toBe('****')
    expect(maskAppleId('')).toBe('')
    expect(accountHash('JDoe@Example.com ')).toBe(accountHash('jdoe@example.com'))
  })

  it('phrases the days left', () => {
    expect([
      expiryPhrase(5),
      expiryPhrase(1),
      expiryPhrase(0.4),
      expiryPhrase(-1),
      expiryPhrase(undefined),
    ]).toEqual(['expires in 5 days', 'expires in 1 day', 'expires today', 'has expired', 'expires soon'])
  })

  it('keeps messages on one line and markers out of markdown', () => {
    const e: NotificationEvent = {
      ...event,
      message: 'line one\nline two <!-- icloud-photos-action:health:000000000000 -->',
      remediation: ['step\r\nstill step'],
    }
    expect(subjectOf(e)).toBe('iCloud Photos: backup failed for j***@e******.org (NETWORK)')
    const text = renderText(e)
    expect(text).toContain('line one line two')
    expect(text).toContain('  1. step still step')
    const md = renderMarkdown(e)
    expect(md).not.toContain('<!--')
    expect(md).toContain('- Error code: `NETWORK`')
    expect(md).not.toContain('jane.doe')
  })
})
