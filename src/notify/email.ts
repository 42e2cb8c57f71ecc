/**
 * Email with icloudpd's settings and defaults: smtp.gmail.com:587, STARTTLS unless `smtp-no-tls`,
 * recipient = `notification-email` or else `smtp-username`, sender = `notification-email-from` or
 * else `smtp-username`. Port 465 means implicit TLS (icloudpd cannot do that; here it just works).
 * TLS certificates are always verified; a self-hosted server with a private CA passes `ca`.
 */
import tls from 'node:tls'
import { createTransport, type SMTPTransportOptions } from 'nodemailer'
import { maskAppleId, type NotificationEvent } from './event.js'
import { renderText, subjectOf } from './messages.js'
import type { Channel, ChannelResult } from './dispatch.js'

export interface EmailSettings {
  smtpHost?: string
  smtpPort?: number
  smtpNoTls?: boolean
  smtpUsername?: string
  smtpPassword?: string
  notificationEmail?: string
  notificationEmailFrom?: string
  /** Extra CA certificate (PEM) for a self-hosted SMTP server; added to, not replacing, the system roots. */
  ca?: string
  /** Connection, greeting and socket timeout; default 30 s (nodemailer's defaults are minutes). */
  timeoutMs?: number
}

export const DEFAULT_SMTP_HOST = 'smtp.gmail.com'
export const DEFAULT_SMTP_PORT = 587
const SENDER_NAME = 'iCloud Photos Action'

/** An SMTP failure described for the owner; never carries the password. */
export class EmailError extends Error {
  readonly code: string
  readonly responseCode?: number
  constructor(message: string, code: string, responseCode?: number) {
    super(message)
    this.name = 'EmailError'
    this.code = code
    this.responseCode = responseCode
  }
}

export interface EmailAddresses {
  to: string
  from: string
}

/** icloudpd's defaults: both addresses fall back to the SMTP username. */
export function resolveAddresses(s: EmailSettings): EmailAddresses {
  const to = nonEmpty(s.notificationEmail) ?? nonEmpty(s.smtpUsername)
  if (!to || !to.includes('@')) {
    throw new EmailError(
      'No recipient for the notification email: set notification-email (smtp-username is not an email address).',
      'ECONFIG',
    )
  }
  const explicitFrom = nonEmpty(s.notificationEmailFrom)
  const username = nonEmpty(s.smtpUsername)
  const from = explicitFrom ?? (username?.includes('@') ? `"${SENDER_NAME}" <${username}>` : to)
  return { to, from }
}

export function transportOptions(s: EmailSettings): SMTPTransportOptions {
  const host = nonEmpty(s.smtpHost) ?? DEFAULT_SMTP_HOST
  const port = s.smtpPort ?? DEFAULT_SMTP_PORT
  const timeout = s.timeoutMs ?? 30_000
  const implicitTls = !s.smtpNoTls && port === 465
  const options: SMTPTransportOptions = {
    host,
    port,
    secure: implicitTls,
    // STARTTLS is mandatory unless the owner opted out: never send credentials in clear by accident.
    requireTLS: !s.smtpNoTls && !implicitTls,
    ignoreTLS: s.smtpNoTls === true,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    logger: false,
    debug: false,
    tls: s.ca ? { ca: [...tls.rootCertificates, s.ca] } : undefined,
  }
  // icloudpd logs in only when both are set (an open relay needs neither).
  const user = nonEmpty(s.smtpUsername)
  if (user && s.smtpPassword) options.auth = { user, pass: s.smtpPassword }
  return options
}

export interface SentEmail extends EmailAddresses {
  messageId: string
}

export async function sendEmail(s: EmailSettings, event: NotificationEvent): Promise<SentEmail> {
  const { to, from } = resolveAddresses(s)
  const options = transportOptions(s)
  const transport = createTransport(options)
  try {
    const info = await transport.sendMail({
      from,
      to,
      subject: subjectOf(event),
      text: renderText(event),
      headers: { 'X-ICloud-Photos-Event': event.kind },
    })
    return { to, from, messageId: info.messageId }
  } catch (err) {
    throw describeSmtpError(err, options, s.smtpPassword)
  } finally {
    transport.close()
  }
}

export function emailChannel(s: EmailSettings): Channel {
  return {
    name: 'email',
    async send(event): Promise<ChannelResult> {
      try {
        const sent = await sendEmail(s, event)
        // Run logs of public repositories are public: the address is masked like the Apple ID.
        return { channel: 'email', ok: true, detail: `Notification email sent to ${maskAppleId(sent.to)}.` }
      } catch (err) {
        const message = err instanceof EmailError ? err.message : 'Sending the notification email failed.'
        return { channel: 'email', ok: false, detail: message }
      }
    },
  }
}

interface SmtpErrorShape {
  code?: string
  responseCode?: number
  response?: string
  message?: string
  cause?: { code?: string }
}

/** Turn a nodemailer error into one actionable sentence. */
export function describeSmtpError(err: unknown, o: SMTPTransportOptions, password?: string): EmailError {
  const e = (err ?? {}) as SmtpErrorShape
  const code = e.code ?? 'UNKNOWN'
  const server = `${o.host}:${o.port}`
  const response = e.response ? ` Server said: ${scrub(firstLine(e.response), password)}` : ''
  // Gmail: 535 5.7.8 "Username and Password not accepted"; 534 5.7.9 "Application-specific password required".
  if (code === 'EAUTH' && (e.responseCode === 535 || e.responseCode === 534)) {
    return new EmailError(
      `The SMTP server ${server} rejected the login for smtp-username (${e.responseCode}). Accounts with ` +
        'two-step verification (2FA) need an App Password: create one in the mail account settings ' +
        '(for Gmail: https://myaccount.google.com/apppasswords) and use it as smtp-password.' +
        response,
      code,
      e.responseCode,
    )
  }
  if (code === 'EAUTH' || code === 'ENOAUTH') {
    return new EmailError(
      `The SMTP server ${server} refused authentication.${response} Check smtp-username and smtp-password.`,
      code,
      e.responseCode,
    )
  }
  const tlsCode = certificateErrorCode(e)
  if (tlsCode) {
    return new EmailError(
      `The TLS certificate of the SMTP server ${server} is not trusted (${tlsCode}). Check smtp-host; a ` +
        'self-hosted server with a private CA needs that CA configured.',
      'ETLS',
    )
  }
  if (code === 'ETLS') {
    return new EmailError(
      `The SMTP server ${server} did not accept STARTTLS, and mail is not sent unencrypted unless ` +
        'smtp-no-tls is set. For implicit TLS use smtp-port 465.' +
        response,
      code,
      e.responseCode,
    )
  }
  if (code === 'EENVELOPE') {
    return new EmailError(
      `The SMTP server ${server} refused the sender or recipient.${response}`,
      code,
      e.responseCode,
    )
  }
  if (code === 'ECONNECTION' || code === 'ESOCKET' || code === 'ETIMEDOUT' || code === 'EDNS') {
    const sys = e.cause?.code ? `, ${e.cause.code}` : ''
    return new EmailError(
      `Cannot reach the SMTP server ${server} (${code}${sys}). Check smtp-host and smtp-port.`,
      code,
      e.responseCode,
    )
  }
  return new EmailError(`Sending the notification email via ${server} failed (${code}).${response}`, code)
}

const CERT_CODES =
  /(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID|self[- ]signed certificate|unable to verify the first certificate|Hostname\/IP does not match)/i

function certificateErrorCode(e: SmtpErrorShape): string | undefined {
  const candidates = [e.cause?.code, e.message]
  for (const c of candidates) {
    const m = c ? CERT_CODES.exec(c) : null
    if (m) return m[1]
  }
  return undefined
}

function firstLine(s: string): string {
  return (s.split(/\r?\n/)[0] ?? '').slice(0, 200)
}

/** Servers do not echo passwords, but a misbehaving one must not be able to put it in our logs. */
function scrub(s: string, secret?: string): string {
  if (!secret) return s
  let out = s
  for (const form of [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)]) {
    if (form) out = out.split(form).join('***')
  }
  return out
}

function nonEmpty(s: string | undefined): string | undefined {
  const t = s?.trim()
  return t ? t : undefined
}
