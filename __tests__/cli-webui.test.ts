/**
 * `login` with the webui password and MFA provider, driven over HTTP the way a browser does:
 * read the printed URL, fetch the page, post the forms (token + one-time CSRF value), follow the
 * states (password → code → wrong code → success), against the fake iCloud.
 */
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../src/cli/program.js'
import { loadSession } from '../src/icloud/session-store.js'
import { KEYRING_SERVICE } from '../src/providers/keyring.js'
import { startFakeICloud, type FakeICloud } from '../sim/icloud/index.js'
import { expectNoSecrets, testIo, type TestIo } from './helpers/cli-io.js'

const U = 'jdoe@example.com'
const PW = 'correct horse battery staple'

let fake: FakeICloud
let tmp: string
let cookies: string

beforeEach(async () => {
  fake = await startFakeICloud()
  fake.addAccount({ appleId: U, password: PW, phones: [{ id: 1, number: '+1 (555) 010-0199' }] })
  tmp = await mkdtemp(join(tmpdir(), 'cli-webui-'))
  cookies = join(tmp, 'pyicloud')
})

afterEach(async () => {
  await fake.close()
  await rm(tmp, { recursive: true, force: true })
})

function io(o: Parameters<typeof testIo>[0] = {}): TestIo {
  const env = { ICLOUD_AUTH_ENDPOINT: fake.authEndpoint, ICLOUD_SETUP_ENDPOINT: fake.setupEndpoint }
  return testIo({ env, now: () => fake.clock.now(), webui: { lingerMs: 2000 }, ...o })
}

function startLogin(t: TestIo, providers = ['webui']): Promise<number> {
  const flags = providers.flatMap((p) => ['--password-provider', p])
  return main(['login', '-u', U, '--cookie-directory', cookies, ...flags, '--mfa-provider', 'webui'], t.io)
}

async function pageUrl(t: TestIo): Promise<URL> {
  const m = await t.stderr.waitFor(/Open (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+) in your browser/)
  return new URL(m[1]!)
}

const get = async (url: URL | string) => {
  const res = await fetch(url)
  return { status: res.status, text: await res.text(), headers: res.headers }
}

/** Fetches the page until it satisfies `ok` (the page refreshes itself while Apple is asked). */
async function waitForPage(url: URL, ok: (html: string) => boolean): Promise<string> {
  let last = ''
  for (let i = 0; i < 300; i++) {
    last = (await get(url)).text
    if (ok(last)) return last
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`page never reached the expected state; last page:\n${last}`)
}

function fields(html: string): { token: string; csrf: string } {
  const token = /name="token" value="([^"]+)"/.exec(html)?.[1]
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1]
  expect(token && csrf, 'the form carries the token and the CSRF value').toBeTruthy()
  return { token: token!, csrf: csrf! }
}

function post(url: URL, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(new URL(path, url.origin), {
    method: 'POST',
    body: new URLSearchParams(form),
    redirect: 'manual',
    headers,
  })
}

describe('webui login', () => {
  it('password, then a wrong code, then the right code; the token and CSRF value are required', async () => {
    const t = io()
    const run = startLogin(t, ['keyring', 'webui'])
    const url = await pageUrl(t)

    // Without the URL's token, nothing.
    expect((await get(url.origin + '/')).status).toBe(403)
    expect((await get(`${url.origin}/?token=nope`)).status).toBe(403)

    let page = await waitForPage(url, (p) => p.includes('type="password"'))
    const first = await get(url)
    expect(first.headers.get('cache-control')).toBe('no-store')
    expect(first.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(first.headers.get('referrer-policy')).toBe('same-origin')
    const { token, csrf } = fields(page)

    // A post without the CSRF value, with a wrong one, or from another origin is refused.
    expect((await post(url, '/password', { token, password: PW })).status).toBe(403)
    expect((await post(url, '/password', { token, csrf: 'f'.repeat(32), password: PW })).status).toBe(403)
    expect(
      (await post(url, '/password', { token, csrf, password: PW }, { Origin: 'https://evil.example' }))
        .status,
    ).toBe(403)
    expect((await post(url, '/password', { token: 'nope', csrf, password: PW })).status).toBe(403)
    // A code before the password is asked for is out of turn.
    expect((await post(url, '/code', { token, csrf, code: '123456' })).status).toBe(409)
    expect(fake.count('auth:signin/init')).toBe(0)

    const sent = await post(url, '/password', { token, csrf, password: PW })
    expect(sent.status).toBe(303)
    expect(sent.headers.get('location')).toBe(`/?token=${token}`)
    // The CSRF value was single-use.
    expect((await post(url, '/password', { token, csrf, password: PW })).status).toBe(403)

    page = await waitForPage(url, (p) => p.includes('name="code"'))
    expect(page).toContain('6-digit code')
    expect(page).not.toContain('Incorrect')
    const code = fake.deviceCode(U)!
    const wrong = code === '000000' ? '111111' : '000000'
    expect((await post(url, '/code', { ...fields(page), code: wrong })).status).toBe(303)

    page = await waitForPage(url, (p) => p.includes('Incorrect verification code.'))
    expect(page).toContain('role="alert"')
    expect(page).toContain('name="code"')
    expect((await post(url, '/code', { ...fields(page), code })).status).toBe(303)

    page = await waitForPage(url, (p) => p.includes('Signed in'))
    expect(page).toContain(`Signed in as ${U}.`)
    expect(page).toMatch(/29 days left/)
    expect(await run).toBe(0)

    // Done: the page is gone.
    await expect(fetch(url)).rejects.toThrow()
    expect((await loadSession(cookies, U)).status).toBe('ok')
    expect(fake.srpAttempts(U)).toBe(1)
    // The password typed on the page goes back to the keyring.
    expect(t.keyring.entries.get(`${KEYRING_SERVICE}\0${U}`)).toBe(PW)
    expectNoSecrets(t.output() + page, [PW, code])
  })

  it('offers an SMS and accepts the code sent to the phone', async () => {
    const t = io()
    const run = startLogin(t)
    const url = await pageUrl(t)
    const pw = await waitForPage(url, (p) => p.includes('type="password"'))
    await post(url, '/password', { ...fields(pw), password: PW })
    let page = await waitForPage(url, (p) => p.includes('action="/sms"'))
    expect(page).toContain('Text a code to')
    expect((await post(url, '/sms', { ...fields(page), phone: '1' })).status).toBe(303)
    page = await waitForPage(url, (p) => p.includes('Apple sent a code by SMS'))
    const sms = fake.smsCode(U, 1)!
    expect(sms).toMatch(/^\d{6}$/)
    await post(url, '/code', { ...fields(page), code: sms })
    await waitForPage(url, (p) => p.includes('Signed in'))
    expect(await run).toBe(0)
    expect(fake.count('auth:verify/phone/securitycode')).toBe(1)
  })

  it('shows the failure on the page when Apple refuses the password', async () => {
    const t = io()
    const run = startLogin(t)
    const url = await pageUrl(t)
    const pw = await waitForPage(url, (p) => p.includes('type="password"'))
    await post(url, '/password', { ...fields(pw), password: 'wrong password' })
    const page = await waitForPage(url, (p) => p.includes('Sign-in failed'))
    expect(page).toContain('role="alert"')
    expect(await run).toBe(1)
    expect(t.stderr.text).toMatch(/^error \[BAD_PASSWORD\]/m)
    expectNoSecrets(t.output() + page, ['wrong password'])
  })

  it('refuses a request whose Host is not 127.0.0.1:<port> (DNS rebinding)', async () => {
    const t = io()
    const run = startLogin(t)
    const url = await pageUrl(t)
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: url.port, path: `/${url.search}`, headers: { Host: 'evil.example' } },
        (res) => {
          res.resume()
          resolve(res.statusCode!)
        },
      )
      req.on('error', reject)
    })
    expect(status).toBe(403)
    const pw = await waitForPage(url, (p) => p.includes('type="password"'))
    await post(url, '/password', { ...fields(pw), password: 'x' })
    await waitForPage(url, (p) => p.includes('Sign-in failed'))
    expect(await run).toBe(1)
  })

  it('gives up with a clear error when nobody answers', async () => {
    const t = io({ webui: { timeoutMs: 300, lingerMs: 50 } })
    expect(await startLogin(t)).toBe(1)
    expect(t.stderr.text).toMatch(/^error \[NO_PASSWORD\]: No password was entered on the web page/m)
  })

  it('is not offered in CI', async () => {
    const t = io({
      env: {
        ICLOUD_AUTH_ENDPOINT: fake.authEndpoint,
        ICLOUD_SETUP_ENDPOINT: fake.setupEndpoint,
        GITHUB_ACTIONS: 'true',
      },
    })
    expect(await startLogin(t)).toBe(1)
    expect(t.stderr.text).not.toContain('Open http')
    expect(t.stderr.text).toMatch(/^error \[NO_PASSWORD\]/m)
  })
})
