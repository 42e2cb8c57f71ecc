/**
 * The `webui` password and MFA provider: a one-page site on 127.0.0.1 (random port) where the
 * person types the password and/or the 2FA code. For people who'd rather not type into a terminal,
 * or whose terminal can't hide input.
 *
 * Safety: the URL carries a random token (every request needs it, so another local user or a web
 * page can't drive the server); each form carries a one-time CSRF value that changes after every
 * accepted post (a replayed or stale post is refused); the Host header must be 127.0.0.1:<port>
 * (no DNS rebinding) and a cross-origin Origin is refused. Pages are never cached, never framed and
 * never send a Referer. Nothing typed is ever echoed back.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { AppError } from '../core/errors.js'
import type { MfaAnswer, MfaChallenge, MfaProvider, PasswordProvider } from '../icloud/ports.js'

export interface WebUiOptions {
  username: string
  /** Told the URL once the page is reachable (the CLI prints it). */
  onUrl: (url: string) => void
  /** How long to wait for the person to answer (default 15 minutes). */
  timeoutMs?: number
  /** How long the final page stays reachable when nobody fetches it (default 10 s). */
  lingerMs?: number
}

type View =
  | { kind: 'working'; text: string }
  | { kind: 'password' }
  | { kind: 'code'; challenge: MfaChallenge; note?: string }
  | { kind: 'done'; ok: boolean; message: string }

interface Pending {
  expects: 'password' | 'code'
  resolve(value: string | MfaAnswer): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

const MAX_BODY = 4096

export class WebUi {
  private server?: http.Server
  private origin = ''
  private readonly token = randomBytes(24).toString('base64url')
  private csrf = randomBytes(16).toString('hex')
  private view: View = { kind: 'working', text: 'Connecting to Apple…' }
  private pending?: Pending
  private smsPhone?: number
  private finalServed?: () => void
  private closed?: Promise<void>

  constructor(private readonly o: WebUiOptions) {}

  /** The page's URL (with its token); undefined until the page was first needed. */
  get url(): string | undefined {
    return this.server ? `${this.origin}/?token=${this.token}` : undefined
  }

  passwordProvider(): PasswordProvider {
    return {
      name: 'webui',
      get: async () => {
        await this.start()
        const password = (await this.wait('password', { kind: 'password' })) as string
        return password || undefined
      },
    }
  }

  mfaProvider(): MfaProvider {
    return {
      name: 'webui',
      interactive: true,
      ask: async (challenge) => {
        await this.start()
        const note =
          this.smsPhone !== undefined
            ? `Apple sent a code by SMS to ${challenge.phones.find((p) => p.id === this.smsPhone)?.obfuscatedNumber ?? 'your phone'}.`
            : undefined
        const answer = (await this.wait('code', { kind: 'code', challenge, note })) as MfaAnswer
        if (answer.kind === 'sms') this.smsPhone = answer.phoneId
        return answer
      },
      done: async (ok) => {
        if (ok) this.view = { kind: 'working', text: 'Code accepted; finishing the sign-in…' }
      },
    }
  }

  /**
   * Shows the outcome, then closes the server once the page has shown it (or after `lingerMs`).
   * A no-op when the page was never needed.
   */
  async finish(ok: boolean, message: string): Promise<void> {
    if (!this.server) return
    this.view = { kind: 'done', ok, message }
    const shown = new Promise<void>((resolve) => (this.finalServed = resolve))
    const linger = new Promise<void>((resolve) => setTimeout(resolve, this.o.lingerMs ?? 10_000).unref())
    await Promise.race([shown, linger])
    await this.close()
  }

  async close(): Promise<void> {
    if (this.pending) {
      clearTimeout(this.pending.timer)
      this.pending.reject(new AppError('INTERNAL', 'The web page was closed before it was answered.'))
      this.pending = undefined
    }
    const server = this.server
    if (!server) return
    this.closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await this.closed
  }

  private async start(): Promise<void> {
    if (this.server) return
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    this.server = server
    this.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    this.o.onUrl(this.url!)
  }

  private wait(expects: Pending['expects'], view: View): Promise<string | MfaAnswer> {
    this.view = view
    const timeoutMs = this.o.timeoutMs ?? 15 * 60_000
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined
        reject(
          expects === 'password'
            ? new AppError(
                'NO_PASSWORD',
                `No password was entered on the web page within ${minutes(timeoutMs)}.`,
                'Run the command again and open the printed URL.',
              )
            : new AppError(
                'MFA_FAILED',
                `No code was entered on the web page within ${minutes(timeoutMs)}.`,
                'Run the command again; Apple sends a new code.',
              ),
        )
      }, timeoutMs)
      timer.unref()
      this.pending = { expects, resolve, reject, timer }
    })
  }

  private answer(value: string | MfaAnswer, working: string): void {
    const p = this.pending!
    this.pending = undefined
    clearTimeout(p.timer)
    this.view = { kind: 'working', text: working }
    p.resolve(value)
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.headers.host !== this.origin.slice('http://'.length))
      return send(res, 403, page('Not allowed', '<p>Wrong host.</p>'))
    const url = new URL(req.url ?? '/', this.origin)
    if (req.method === 'GET' && url.pathname === '/') {
      if (!this.validToken(url.searchParams.get('token'))) return send(res, 403, badLink())
      const html = this.render()
      if (this.view.kind === 'done') queueMicrotask(() => this.finalServed?.())
      return send(res, 200, html)
    }
    if (req.method !== 'POST' || !['/password', '/code', '/sms'].includes(url.pathname)) {
      return send(res, 404, page('Not found', '<p>Nothing here.</p>'))
    }
    const origin = req.headers.origin
    if (origin !== undefined && origin !== this.origin)
      return send(res, 403, page('Not allowed', '<p>Cross-site form.</p>'))
    const form = await readForm(req)
    if (!form || !this.validToken(form.get('token'))) return send(res, 403, badLink())
    if (!same(form.get('csrf') ?? '', this.csrf)) {
      return send(
        res,
        403,
        page('Form expired', `<p>This form was already sent or is out of date.</p>${this.backLink()}`),
      )
    }
    const expects = url.pathname === '/password' ? 'password' : 'code'
    if (this.pending?.expects !== expects) {
      return send(
        res,
        409,
        page('Not now', `<p>The sign-in is not waiting for this right now.</p>${this.backLink()}`),
      )
    }
    this.csrf = randomBytes(16).toString('hex')
    if (url.pathname === '/password') this.answer(form.get('password') ?? '', 'Signing in to Apple…')
    else if (url.pathname === '/sms')
      this.answer({ kind: 'sms', phoneId: Number(form.get('phone')) }, 'Asking Apple to send an SMS…')
    else this.answer({ kind: 'code', code: form.get('code') ?? '' }, 'Checking the code with Apple…')
    res.writeHead(303, { Location: `/?token=${this.token}`, 'Cache-Control': 'no-store' })
    res.end()
  }

  private validToken(t: string | null): boolean {
    return t !== null && same(t, this.token)
  }

  private backLink(): string {
    return `<p><a href="/?token=${this.token}">Back to the sign-in page</a></p>`
  }

  private hidden(): string {
    return `<input type="hidden" name="token" value="${this.token}"><input type="hidden" name="csrf" value="${this.csrf}">`
  }

  private render(): string {
    const v = this.view
    const who = esc(this.o.username)
    switch (v.kind) {
      case 'working':
        return page(
          'Working…',
          `<p class="status" role="status">${esc(v.text)}</p><p>This page refreshes by itself.</p>`,
          1,
        )
      case 'password':
        return page(
          'iCloud password',
          `<form method="post" action="/password">${this.hidden()}
<label>Apple ID<input type="text" name="username" value="${who}" autocomplete="username" readonly></label>
<label>Password<input type="password" name="password" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button></form>`,
        )
      case 'code': {
        const c = v.challenge
        const error = c.previousError ? `<p class="error" role="alert">${esc(c.previousError)}</p>` : ''
        const note = v.note ? `<p class="note" role="status">${esc(v.note)}</p>` : ''
        const sms = c.phones
          .map(
            (p) =>
              `<form method="post" action="/sms" class="sms">${this.hidden()}<input type="hidden" name="phone" value="${p.id}"><button type="submit">Text a code to ${esc(p.obfuscatedNumber)}</button></form>`,
          )
          .join('\n')
        return page(
          'Two-factor code',
          `${error}${note}<p>Apple sent a ${c.codeLength}-digit code to your trusted devices for ${who}.</p>
<form method="post" action="/code">${this.hidden()}
<label>Code<input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 \\-]*" maxlength="16" required autofocus></label>
<button type="submit">Verify</button></form>
${sms ? `<p>No device nearby?</p>${sms}` : ''}`,
        )
      }
      case 'done':
        return v.ok
          ? page(
              'Signed in',
              `<p class="ok" role="status">${esc(v.message)}</p><p>You can close this page.</p>`,
            )
          : page(
              'Sign-in failed',
              `<p class="error" role="alert">${esc(v.message)}</p><p>You can close this page; the terminal says what to do next.</p>`,
            )
    }
  }
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000)
  return m >= 1 ? `${m} minute${m === 1 ? '' : 's'}` : `${Math.round(ms / 1000)} seconds`
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') return undefined
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) return undefined
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function badLink(): string {
  return page('Link not valid', '<p>This link is not valid. Use the URL printed in the terminal.</p>')
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0}input{display:block;width:100%;box-sizing:border-box;font-size:1.1rem;padding:.4rem}
button{font-size:1rem;padding:.4rem 1rem;margin-top:.5rem}.error{color:#b00020;font-weight:600}.ok{color:#137333;font-weight:600}
.note{color:#555}.sms{display:inline}`

function page(title: string, body: string, refreshSeconds?: number): string {
  const refresh = refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ''
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">${refresh}
<title>${esc(title)} · icloud-photos-action</title><style>${STYLE}</style></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>`
}

function send(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    // same-origin, not no-referrer: under no-referrer browsers send `Origin: null` on the page's own
    // form posts, which the cross-site check must refuse; the URL (with its token) still never
    // leaves 127.0.0.1.
    'Referrer-Policy': 'same-origin',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy':
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  })
  res.end(html)
}
