import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import {
  EmailError,
  emailChannel,
  sendEmail,
  transportOptions,
  type EmailSettings,
} from '../src/notify/email.js'
import type { NotificationEvent } from '../src/notify/event.js'

const SMTP_PASSWORD = 'smtp-Pa55/word+secret='
const SESSION_TOKEN = 'X-APPLE-SESSION-TOKEN-0123456789abcdef'
const APPLE_ID = 'jane.doe@example.org'

const event: NotificationEvent = {
  kind: 'trust-expiring',
  username: APPLE_ID,
  daysRemaining: 5,
  trustExpiresAt: '2026-05-01T08:00:00Z',
  message: 'The two-factor trust of this session ends soon.',
  remediation: [
    'Run `icloud-photos-action login --username <you>` locally and update the ICLOUD_SESSION secret',
    'or run the re-auth workflow',
  ],
  runUrl: 'https://github.com/octo/photos/actions/runs/42',
  repository: 'octo/photos',
}

interface Received {
  raw: string
  mail: ParsedMail
  from: string
  to: string[]
  secure: boolean
}

interface Smtp {
  port: number
  received: Received[]
  logins: Array<{ username: string; password: string; secure: boolean }>
  close(): Promise<void>
}

async function startSmtp(options: Partial<SMTPServerOptions> & { rejectLogin?: string } = {}): Promise<Smtp> {
  const received: Received[] = []
  const logins: Smtp['logins'] = []
  const { rejectLogin, ...serverOptions } = options
  const server = new SMTPServer({
    authOptional: true,
    logger: false,
    ...serverOptions,
    onAuth(auth, session, cb) {
      logins.push({ username: auth.username ?? '', password: auth.password ?? '', secure: session.secure })
      if (rejectLogin) return cb(Object.assign(new Error(rejectLogin), { responseCode: 535 }))
      cb(null, { user: auth.username })
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        void simpleParser(raw).then((mail) => {
          received.push({
            raw,
            mail,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
          })
          cb()
        }, cb)
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  return { port, received, logins, close: () => new Promise<void>((r) => server.close(() => r())) }
}

/** A plain server (no STARTTLS), as used with smtp-no-tls. */
const plain = (o: Partial<SMTPServerOptions> & { rejectLogin?: string } = {}) =>
  startSmtp({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true, ...o })

function secretForms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)]
}

let smtp: Smtp | undefined
afterEach(async () => {
  await smtp?.close()
  smtp = undefined
})

describe('email notification', () => {
  it('sends the event to smtp-username by default, from smtp-username, with the facts and steps', async () => {
    smtp = await plain()
    const settings: EmailSettings = {
      smtpHost: '127.0.0.1',
      smtpPort: smtp.port,
      smtpNoTls: true,
      smtpUsername: 'owner@mail.example',
      smtpPassword: SMTP_PASSWORD,
    }
    // A caller that attaches more context to the event must not leak it into the mail.
    const withContext = { ...event, sessionToken: SESSION_TOKEN } as NotificationEvent
    const sent = await sendEmail(settings, withContext)

    expect(sent.to).toBe('owner@mail.example')
    expect(smtp.logins).toEqual([{ username: 'owner@mail.example', password: SMTP_PASSWORD, secure: false }])
    expect(smtp.received).toHaveLength(1)
    const { mail, raw, from, to } = smtp.received[0]!
    expect(to).toEqual(['owner@mail.example'])
    expect(from).toBe('owner@mail.example')
    expect(mail.from?.value[0]).toMatchObject({ name: 'iCloud Photos Action', address: 'owner@mail.example' })
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined).toBe(
      'owner@mail.example',
    )
    expect(mail.subject).toBe('iCloud Photos: sign-in for j***@e******.org expires in 5 days')
    expect(mail.headers.get('x-icloud-photos-event')).toBe('trust-expiring')
    const text = mail.text ?? ''
    expect(text).toContain('j***@e******.org')
    expect(text).toContain('expires in 5 days')
    expect(text).toContain('until 2026-05-01 08:00 UTC (5 days left)')
    expect(text).toContain(
      '1. Run `icloud-photos-action login --username <you>` locally and update the ICLOUD_SESSION secret',
    )
    expect(text).toContain('2. or run the re-auth workflow')
    expect(text).toContain('Run: https://github.com/octo/photos/actions/runs/42')
    for (const secret of [SMTP_PASSWORD, SESSION_TOKEN, APPLE_ID]) {
      for (const form of secretForms(secret)) expect(raw).not.toContain(form)
    }
  })

  it('uses notification-email and notification-email-from when set', async () => {
    smtp = await plain()
    await sendEmail(
      {
        smtpHost: '127.0.0.1',
        smtpPort: smtp.port,
        smtpNoTls: true,
        smtpUsername: 'relay-user@mail.example',
        smtpPassword: SMTP_PASSWORD,
        notificationEmail: 'alerts@family.example',
        notificationEmailFrom: 'Backup Bot <bot@family.example>',
      },
      { ...event, kind: 'mfa-required', errorCode: 'MFA_REQUIRED', daysRemaining: 0 },
    )
    const got = smtp.received[0]!
    expect(got.to).toEqual(['alerts@family.example'])
    expect(got.from).toBe('bot@family.example')
    expect(got.mail.from?.value[0]).toMatchObject({ name: 'Backup Bot', address: 'bot@family.example' })
    expect(got.mail.subject).toBe('iCloud Photos: two-factor sign-in needed for j***@e******.org')
    expect(got.mail.text).toContain('Error code: MFA_REQUIRED')
  })

  it('does not log in when no password is configured (open relay), as icloudpd', async () => {
    smtp = await plain()
    await sendEmail(
      { smtpHost: '127.0.0.1', smtpPort: smtp.port, smtpNoTls: true, smtpUsername: 'me@x.example' },
      event,
    )
    expect(smtp.logins).toEqual([])
    expect(smtp.received).toHaveLength(1)
  })

  it('refuses to send in clear text when the server offers no STARTTLS and smtp-no-tls is not set', async () => {
    smtp = await plain()
    const err = await sendEmail(
      {
        smtpHost: '127.0.0.1',
        smtpPort: smtp.port,
        smtpUsername: 'me@x.example',
        smtpPassword: SMTP_PASSWORD,
      },
      event,
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EmailError)
    expect((err as EmailError).code).toBe('ETLS')
    expect((err as EmailError).message).toContain('did not accept STARTTLS')
    expect(smtp.logins).toEqual([]) // the password never crossed the wire
    expect(smtp.received).toEqual([])
  })

  it('explains a 535 authentication failure with the App Password advice, without the password', async () => {
    smtp = await plain({
      rejectLogin:
        'Username and Password not accepted. For more information, go to https://support.google.com/mail/?p=BadCredentials',
    })
    const settings: EmailSettings = {
      smtpHost: '127.0.0.1',
      smtpPort: smtp.port,
      smtpNoTls: true,
      smtpUsername: 'owner@gmail.example',
      smtpPassword: SMTP_PASSWORD,
    }
    const err = await sendEmail(settings, event).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EmailError)
    expect((err as EmailError).responseCode).toBe(535)
    expect((err as EmailError).message).toMatch(/two-step verification \(2FA\) need an App Password/)
    expect((err as EmailError).message).toContain('Username and Password not accepted')
    for (const form of secretForms(SMTP_PASSWORD)) expect((err as Error).message).not.toContain(form)

    // Through the channel the same text becomes the (non-throwing) result.
    const result = await emailChannel(settings).send(event)
    expect(result).toMatchObject({ channel: 'email', ok: false })
    expect(result.detail).toContain('App Password')
    for (const form of secretForms(SMTP_PASSWORD)) expect(result.detail).not.toContain(form)
    expect(smtp.received).toEqual([])
  })

  it('reports an unreachable server as a failed channel, not a throw', async () => {
    smtp = await plain()
    const port = smtp.port
    await smtp.close()
    smtp = undefined
    const result = await emailChannel({
      smtpHost: '127.0.0.1',
      smtpPort: port,
      smtpNoTls: true,
      smtpUsername: 'me@x.example',
    }).send(event)
    expect(result.ok).toBe(false)
    expect(result.detail).toMatch(/^Cannot reach the SMTP server 127\.0\.0\.1:\d+ \((ESOCKET|ECONNECTION)/)
  })

  it('fails before connecting when there is no recipient address', async () => {
    const result = await emailChannel({ smtpHost: '127.0.0.1', smtpPort: 1, smtpUsername: 'apikey' }).send(
      event,
    )
    expect(result).toEqual({
      channel: 'email',
      ok: false,
      detail:
        'No recipient for the notification email: set notification-email (smtp-username is not an email address).',
    })
  })
})

describe('email transport options (icloudpd settings)', () => {
  it('defaults to smtp.gmail.com:587 with mandatory STARTTLS', () => {
    const o = transportOptions({ smtpUsername: 'me@gmail.com', smtpPassword: 'x' })
    expect(o).toMatchObject({
      host: 'smtp.gmail.com',
      port: 587,
      secure: false,
      requireTLS: true,
      ignoreTLS: false,
    })
    expect(o.auth).toEqual({ user: 'me@gmail.com', pass: 'x' })
  })

  it('uses implicit TLS on port 465 and plain SMTP only with smtp-no-tls', () => {
    expect(transportOptions({ smtpPort: 465 })).toMatchObject({
      secure: true,
      requireTLS: false,
      ignoreTLS: false,
    })
    expect(transportOptions({ smtpPort: 25, smtpNoTls: true })).toMatchObject({
      secure: false,
      requireTLS: false,
      ignoreTLS: true,
    })
  })
})

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

describe.skipIf(!hasOpenssl)('email over STARTTLS', () => {
  let dir = ''
  let key = ''
  let cert = ''
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'notify-email-tls-'))
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    )
    key = readFileSync(path.join(dir, 'key.pem'), 'utf8')
    cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8')
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('upgrades with STARTTLS, verifies the certificate against the extra CA, then logs in', async () => {
    smtp = await startSmtp({ key, cert })
    await sendEmail(
      {
        smtpHost: '127.0.0.1',
        smtpPort: smtp.port,
        smtpUsername: 'owner@mail.example',
        smtpPassword: SMTP_PASSWORD,
        ca: cert,
      },
      event,
    )
    expect(smtp.logins).toEqual([{ username: 'owner@mail.example', password: SMTP_PASSWORD, secure: true }])
    expect(smtp.received).toHaveLength(1)
    expect(smtp.received[0]!.secure).toBe(true)
  })

  it('rejects an untrusted certificate instead of sending anyway', async () => {
    smtp = await startSmtp({ key, cert })
    const result = await emailChannel({
      smtpHost: '127.0.0.1',
      smtpPort: smtp.port,
      smtpUsername: 'owner@mail.example',
      smtpPassword: SMTP_PASSWORD,
    }).send(event)
    expect(result.ok).toBe(false)
    expect(result.detail).toMatch(/TLS certificate of the SMTP server 127\.0\.0\.1:\d+ is not trusted/)
    expect(smtp.logins).toEqual([])
    expect(smtp.received).toEqual([])
  })
})
