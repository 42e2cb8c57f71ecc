import { execFileSync, spawnSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CookieJar } from 'tough-cookie'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isAppError } from '../src/core/errors.js'
import { HttpClient } from '../src/icloud/http.js'
import { LwpCookieJar, jarToLwp, parseLwp, splitHeaderWords } from '../src/icloud/lwp-cookies.js'
import {
  PERSISTED_HEADERS,
  captureSessionHeaders,
  ensureClientId,
  expandCookieDirectory,
  formatSessionJson,
  loadSession,
  moveSessionAside,
  newClientId,
  saveSession,
  sessionBaseName,
  sessionPaths,
} from '../src/icloud/session-store.js'

// A disk that fills up half-way through writing a chosen file (see "atomic writes").
const fault = vi.hoisted(() => ({ failWritesTo: undefined as string | undefined }))
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>()
  const open = async (...args: Parameters<typeof real.open>) => {
    const fh = await real.open(...args)
    const target = fault.failWritesTo
    if (target === undefined || !path.basename(String(args[0])).startsWith(`.${target}.`)) return fh
    return new Proxy(fh, {
      get(t, prop) {
        if (prop === 'writeFile') {
          return async (data: string) => {
            await t.write(data.slice(0, data.length >> 1))
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
          }
        }
        const v = Reflect.get(t, prop) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v
      },
    })
  }
  return { ...real, open, default: { ...real, open } }
})

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/pyicloud-session/', import.meta.url))
const APPLE_ID = 'jdoe@example.com'
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0

let tmp: string
beforeEach(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'session-store-'))
  fault.failWritesTo = undefined
})
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true })
})

async function copyFixture(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  for (const f of ['jdoeexamplecom', 'jdoeexamplecom.session']) {
    await copyFile(path.join(FIXTURE_DIR, f), path.join(dir, f))
  }
}

/** What Python's cookiejar and ours both know about a cookie, from tough-cookie's side. */
interface CookieView {
  name: string
  value: string
  domain: string
  path: string
  expires: number | null
  secure: boolean
  httpOnly: boolean
}

async function viewOf(jar: CookieJar): Promise<CookieView[]> {
  const all = await jar.store.getAllCookies()
  return all.map((c) => {
    const exp = c.expiryTime()
    return {
      name: c.key,
      value: c.value,
      domain: c.hostOnly ? c.domain! : `.${c.domain!}`,
      path: c.path!,
      expires: exp === undefined || !Number.isFinite(exp) ? null : Math.floor(exp / 1000),
      secure: c.secure,
      httpOnly: c.httpOnly,
    }
  })
}

const byName = (a: { name: string; domain: string }, b: { name: string; domain: string }) =>
  `${a.domain} ${a.name}`.localeCompare(`${b.domain} ${b.name}`)

// Shaped like Apple's answers (docs/protocol.md §6); dates far ahead so that Python keeps them
// whatever today is.
const APPLE_RESPONSES: Array<{ url: string; headers: string[] }> = [
  {
    url: 'https://idmsa.apple.com/appleauth/auth/signin/complete?isRememberMeEnabled=true',
    headers: [
      'aasp=DAA5DA9D4C2E0F0B3D4BB0C8B2C3A7F5; Domain=idmsa.apple.com; Path=/; Secure; HttpOnly',
      'acn01=tP8bEXAMPLEa7kH1x2z+Qw==; Path=/; Secure',
      'dslang=US-EN; Domain=apple.com; Path=/; Secure; HttpOnly',
      'site=USA; Domain=apple.com; Path=/; Secure; HttpOnly',
      'myacinfo=DAWTKNV323952cf8084a204fb20ab2508441a07d02d3; Secure; HttpOnly',
    ],
  },
  {
    url: 'https://setup.icloud.com/setup/ws/1/accountLogin',
    headers: [
      'X-APPLE-WEBAUTH-USER="v=1:s=1:d=12345678901"; Expires=Mon, 12 Jan 2099 05:06:31 GMT; Path=/; Domain=.icloud.com; Secure; HttpOnly',
      'X-APPLE-WEBAUTH-HSA-TRUST="8a7c91e3f1b2_abc"; Expires=Tue, 02 Feb 2099 00:00:00 GMT; Path=/; Domain=.icloud.com; Secure; HttpOnly',
      'X-APPLE-WEBAUTH-LOGIN="v=1:t=Cw==BST_IAAAAAAABLw1234~~"; Path=/; Domain=.icloud.com; Secure; HttpOnly',
      'X-APPLE-WEBAUTH-VALIDATE="v=1:t=Cw==BST_IAAAAAAABLw5678~~"; Path=/; Domain=.icloud.com; Secure',
      'X-APPLE-WEBAUTH-PCS-Photos="TGlzdE9mU2VydmljZXM=\\\\x"; Expires=Fri, 02 Jan 2099 10:00:00 GMT; Path=/; Domain=.icloud.com; Secure; HttpOnly',
      'X_APPLE_WEB_KB-ZUCKQ1JVZGJHNEBOE=v1; Expires=Sat, 14 Feb 2099 10:00:00 GMT; Path=/; Domain=.icloud.com; Secure; HttpOnly; SameSite=None; Priority=High',
      'X-APPLE-UNIQUE-CLIENT-ID="Ab3/déjà+=="; Path=/; Domain=.icloud.com; Secure',
    ],
  },
]

async function jarFromApple(now?: Date): Promise<LwpCookieJar> {
  const jar = new LwpCookieJar()
  for (const r of APPLE_RESPONSES) {
    for (const h of r.headers) await jar.setCookie(h, r.url, { ignoreError: true, now })
  }
  return jar
}

function python(script: string, args: string[] = [], input?: string): string {
  return execFileSync('python3', ['-c', script, ...args], { input, encoding: 'utf8' })
}

const PY_VIEW = `
import http.cookiejar, json, sys
def view(jar):
    return [dict(name=c.name, value=c.value, domain=c.domain, path=c.path, expires=c.expires,
                 secure=bool(c.secure), httpOnly=c.has_nonstandard_attr('HttpOnly')) for c in jar]
`

describe('the icloudpd fixture', () => {
  it('loads: both files, with Apple quotes kept as part of cookie values', async () => {
    const s = await loadSession(FIXTURE_DIR, APPLE_ID)
    expect(s.status).toBe('ok')
    expect(s.problem).toBeUndefined()
    expect(s.data).toEqual({
      client_id: 'auth-6c1f0f9e-8a51-11f0-9d7e-0242ac120002',
      session_token: 'token-1234567890',
      trust_token: '2svtoken-1234567890',
      scnt: 'scnt-1234567890',
      session_id: 'sess-1234567890',
      account_country: 'USA',
      trust_eligible: 'true',
    })
    expect(Object.keys(s.data)[0]).toBe('client_id')
    const trustExpiry = Date.UTC(2027, 1, 2) / 1000
    expect(await viewOf(s.jar)).toEqual([
      {
        name: 'X-APPLE-WEBAUTH-USER',
        value: '"v=1:s=1:d=12345678901"',
        domain: '.icloud.com',
        path: '/',
        expires: trustExpiry,
        secure: true,
        httpOnly: true,
      },
      {
        name: 'X-APPLE-WEBAUTH-HSA-TRUST',
        value: '"abc123"',
        domain: '.icloud.com',
        path: '/',
        expires: trustExpiry,
        secure: true,
        httpOnly: true,
      },
      {
        name: 'X-APPLE-WEBAUTH-VALIDATE',
        value: '"v=1:t=Cw==BST_IAAAAAAABLw5678~~"',
        domain: '.icloud.com',
        path: '/',
        expires: null,
        secure: true,
        httpOnly: false,
      },
    ])
    // …and the cookies go back to Apple exactly as they came (`expire: false`: the fixture's
    // expiry date must not make this test depend on today's date).
    const header = await s.jar.getCookieString('https://p61-ckdatabasews.icloud.com/database/1', {
      expire: false,
    })
    expect(header).toContain('X-APPLE-WEBAUTH-USER="v=1:s=1:d=12345678901"')
    expect(header).toContain('X-APPLE-WEBAUTH-VALIDATE="v=1:t=Cw==BST_IAAAAAAABLw5678~~"')
    expect(await s.jar.getCookieString('https://cvws.icloud-content.com/x', { expire: false })).toBe('')
  })

  it('round-trips: load → save writes the same bytes', async () => {
    const s = await loadSession(FIXTURE_DIR, APPLE_ID)
    await saveSession(tmp, APPLE_ID, s.data, s.jar)
    const jarBytes = await readFile(path.join(tmp, 'jdoeexamplecom'))
    expect(jarBytes.equals(await readFile(path.join(FIXTURE_DIR, 'jdoeexamplecom')))).toBe(true)
    // The fixture .session carries a trailing newline that Python's json.dump never writes (§7,
    // and the Python test below shows json.dumps of the fixture is exactly our bytes).
    const fixtureSession = await readFile(path.join(FIXTURE_DIR, 'jdoeexamplecom.session'), 'utf8')
    expect(await readFile(path.join(tmp, 'jdoeexamplecom.session'), 'utf8')).toBe(
      fixtureSession.replace(/\n$/, ''),
    )
  })

  it('round-trips a file with expired cookies and keeps them on disk, not in requests', async () => {
    const text =
      '#LWP-Cookies-2.0\n' +
      'Set-Cookie3: old=gone; path="/"; domain=".icloud.com"; path_spec; domain_dot; secure; expires="2001-01-01 00:00:00Z"; version=0\n' +
      'Set-Cookie3: live="\\"x\\""; path="/"; domain=".icloud.com"; path_spec; domain_dot; secure; discard; HttpOnly=None; version=0\n'
    await writeFile(path.join(tmp, 'jdoeexamplecom'), text, { mode: 0o600 })
    const s = await loadSession(tmp, APPLE_ID)
    expect(s.status).toBe('ok')
    await saveSession(tmp, APPLE_ID, s.data, s.jar)
    expect(await readFile(path.join(tmp, 'jdoeexamplecom'), 'utf8')).toBe(text)
    expect(await s.jar.getCookieString('https://setup.icloud.com/')).toBe('live="x"')
  })
})

describe('cookies from Apple-shaped Set-Cookie headers', () => {
  const NOW = new Date(Date.UTC(2026, 0, 1))

  it('serialize exactly as LWPCookieJar writes them (§7 example lines)', async () => {
    const jar = new LwpCookieJar()
    const setup = 'https://setup.icloud.com/setup/ws/1/accountLogin'
    const idmsa = 'https://idmsa.apple.com/appleauth/auth/signin/complete'
    await jar.setCookie(
      'X-APPLE-WEBAUTH-USER="v=1:s=1:d=12345678901"; Domain=.icloud.com; Path=/; Secure; HttpOnly; Expires=Tue, 12 Jan 2027 05:06:31 GMT',
      setup,
      { now: NOW },
    )
    await jar.setCookie(
      'X-APPLE-WEBAUTH-VALIDATE="v=1:t=Cw==BST_IAAAAAAABLw5678~~"; Domain=.icloud.com; Path=/; Secure',
      setup,
      {
        now: NOW,
      },
    )
    await jar.setCookie('dslang=US-EN; Domain=apple.com; Path=/; Secure; HttpOnly', idmsa, { now: NOW })
    await jar.setCookie('aasp=abc123; Path=/; Secure; HttpOnly', idmsa, { now: NOW })
    await jar.setCookie('acn01=tok; Secure; Max-Age=3600', idmsa, { now: NOW })
    expect(await jarToLwp(jar, NOW)).toBe(
      [
        '#LWP-Cookies-2.0',
        'Set-Cookie3: X-APPLE-WEBAUTH-USER="\\"v=1:s=1:d=12345678901\\""; path="/"; domain=".icloud.com"; path_spec; domain_dot; secure; expires="2027-01-12 05:06:31Z"; HttpOnly=None; version=0',
        'Set-Cookie3: X-APPLE-WEBAUTH-VALIDATE="\\"v=1:t=Cw==BST_IAAAAAAABLw5678~~\\""; path="/"; domain=".icloud.com"; path_spec; domain_dot; secure; discard; version=0',
        'Set-Cookie3: dslang="US-EN"; path="/"; domain=".apple.com"; path_spec; secure; discard; HttpOnly=None; version=0',
        // host-only: the bare host; no Path attribute: the default path, no path_spec
        'Set-Cookie3: aasp=abc123; path="/"; domain="idmsa.apple.com"; path_spec; secure; discard; HttpOnly=None; version=0',
        'Set-Cookie3: acn01=tok; path="/appleauth/auth/signin"; domain="idmsa.apple.com"; secure; expires="2026-01-01 01:00:00Z"; version=0',
        '',
      ].join('\n'),
    )
  })

  it('groups cookies per domain in first-seen order and replaces in place, as the Python dict does', async () => {
    const jar = new LwpCookieJar()
    await jar.setCookie('a=1; Domain=.icloud.com; Path=/', 'https://setup.icloud.com/', { now: NOW })
    await jar.setCookie('b=1; Domain=apple.com; Path=/', 'https://idmsa.apple.com/', { now: NOW })
    await jar.setCookie('c=1; Domain=.icloud.com; Path=/', 'https://setup.icloud.com/', { now: NOW })
    await jar.setCookie('a=2; Domain=.icloud.com; Path=/', 'https://setup.icloud.com/', { now: NOW })
    const names = parseLwp(await jarToLwp(jar, NOW)).map((c) => `${c.name}=${c.value}`)
    expect(names).toEqual(['a=2', 'c=1', 'b=1'])
  })

  it('leaves out a cookie that arrives already expired (Python deletes it)', async () => {
    const jar = new LwpCookieJar()
    await jar.setCookie(
      'gone=1; Domain=.icloud.com; Path=/; Expires=Thu, 01 Jan 2015 00:00:00 GMT',
      'https://setup.icloud.com/',
    )
    await jar.setCookie('kept=1; Domain=.icloud.com; Path=/', 'https://setup.icloud.com/')
    expect(parseLwp(await jarToLwp(jar)).map((c) => c.name)).toEqual(['kept'])
  })

  it('a plain tough-cookie jar (no Domain hint) still writes a file Python-shaped', async () => {
    const jar = new CookieJar()
    await jar.setCookie('X=1; Domain=.icloud.com; Path=/; Secure', 'https://setup.icloud.com/', { now: NOW })
    expect(await jarToLwp(jar, NOW)).toBe(
      '#LWP-Cookies-2.0\nSet-Cookie3: X=1; path="/"; domain=".icloud.com"; path_spec; domain_dot; secure; discard; version=0\n',
    )
  })

  it('go through HttpClient into the saved session, with the §2 headers', async () => {
    const server = http.createServer((_req, res) => {
      res.setHeader('set-cookie', ['aasp="q\\"uoted"; Path=/; HttpOnly', 'plain=v; Path=/'])
      res.setHeader('X-Apple-Session-Token', 'tok-1')
      res.setHeader('scnt', 'scnt-1')
      res.setHeader('X-Apple-ID-Account-Country', '')
      res.end('{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const session = await loadSession(tmp, APPLE_ID)
    expect(session.status).toBe('missing')
    const client = new HttpClient({ jar: session.jar })
    try {
      ensureClientId(session.data)
      const res = await client.request({ url: `http://127.0.0.1:${port}/appleauth/auth/signin/init` })
      await res.text()
      expect(captureSessionHeaders(session.data, res.headers)).toBe(true)
      await saveSession(tmp, APPLE_ID, session.data, session.jar)
    } finally {
      await client.close()
      await new Promise((resolve) => server.close(resolve))
    }
    const again = await loadSession(tmp, APPLE_ID)
    expect(Object.keys(again.data)).toEqual(['client_id', 'session_token', 'scnt'])
    expect(again.data.session_token).toBe('tok-1')
    expect(await readFile(path.join(tmp, 'jdoeexamplecom'), 'utf8')).toBe(
      '#LWP-Cookies-2.0\n' +
        'Set-Cookie3: aasp="\\"q\\\\\\"uoted\\""; path="/"; domain="127.0.0.1"; path_spec; discard; HttpOnly=None; version=0\n' +
        'Set-Cookie3: plain=v; path="/"; domain="127.0.0.1"; path_spec; discard; version=0\n',
    )
  })
})

describe('the LWP reader', () => {
  it('accepts bare and quoted values, unescapes, and keeps unknown attributes', () => {
    const [c] = parseLwp(
      '#LWP-Cookies-2.0\r\n' +
        'not a cookie line\r\n' +
        'Set-Cookie3: K="a\\\\b\\"c d"; Path=/x; DOMAIN=host.example; Secure; port_spec; Weird; Other="1 2"; version=0\r\n',
    )
    expect(c).toMatchObject({
      name: 'K',
      value: 'a\\b"c d',
      path: '/x',
      domain: 'host.example',
      secure: true,
      portSpec: true,
      pathSpec: false,
      expires: null,
      discard: true,
      version: 0,
    })
    expect([...c!.rest]).toEqual([
      ['Weird', null],
      ['Other', '1 2'],
    ])
  })

  it('splits like Python split_header_words', () => {
    expect(splitHeaderWords('a=1; b="x, y"; c, d=2; e')).toEqual([
      [
        ['a', '1'],
        ['b', 'x, y'],
        ['c', null],
      ],
      [
        ['d', '2'],
        ['e', null],
      ],
    ])
  })
})

describe.skipIf(!HAS_PYTHON)('Python interop (python3 http.cookiejar / json)', () => {
  it('Python loads our jar and sees the same cookies', async () => {
    const jar = await jarFromApple()
    await saveSession(tmp, APPLE_ID, { client_id: 'auth-x' }, jar)
    const out = python(
      `${PY_VIEW}
j = http.cookiejar.LWPCookieJar(sys.argv[1])
j.load(ignore_discard=True, ignore_expires=True)
print(json.dumps(view(j)))`,
      [path.join(tmp, 'jdoeexamplecom')],
    )
    const ours = await viewOf(jar)
    expect(ours).toHaveLength(12)
    expect((JSON.parse(out) as CookieView[]).sort(byName)).toEqual(ours.sort(byName))
  })

  it('a jar Python writes from the same Set-Cookie headers loads here identically and is byte-identical to ours', async () => {
    const pyJar = path.join(tmp, 'jdoeexamplecom')
    const out = python(
      `${PY_VIEW}
import email.message, urllib.request
class Response:  # what requests hands to CookieJar.extract_cookies
    def __init__(self, headers):
        self.m = email.message.Message()
        for h in headers: self.m.add_header('Set-Cookie', h)
    def info(self): return self.m
jar = http.cookiejar.LWPCookieJar(sys.argv[1])
for r in json.load(sys.stdin):
    jar.extract_cookies(Response(r['headers']), urllib.request.Request(r['url']))
jar.save(ignore_discard=True, ignore_expires=True)
print(json.dumps(view(jar)))`,
      [pyJar],
      JSON.stringify(APPLE_RESPONSES),
    )
    const pythonView = JSON.parse(out) as CookieView[]
    const pythonBytes = await readFile(pyJar)

    const loaded = await loadSession(tmp, APPLE_ID)
    expect(loaded.status).toBe('ok')
    expect(await viewOf(loaded.jar)).toEqual(pythonView)
    await saveSession(tmp, APPLE_ID, loaded.data, loaded.jar)
    expect((await readFile(pyJar)).equals(pythonBytes)).toBe(true)

    // The same headers through tough-cookie give the file Python wrote.
    expect(await jarToLwp(await jarFromApple())).toBe(pythonBytes.toString('utf8'))
  })

  it('Python json reads our .session, and json.dumps gives our exact bytes', async () => {
    const data = {
      client_id: 'auth-6c1f0f9e-8a51-11f0-9d7e-0242ac120002',
      session_token: 'tok/+="quoted"\\back',
      account_country: 'DEU',
      extra_unicode: 'Zoë 😀 \u2028 \u007f \u0001\ttab',
    }
    await saveSession(tmp, APPLE_ID, data, new LwpCookieJar())
    const ours = await readFile(path.join(tmp, 'jdoeexamplecom.session'), 'utf8')
    const out = python(
      `import json, sys
with open(sys.argv[1], encoding='utf-8') as f: obj = json.load(f)
sys.stdout.write(json.dumps([obj, json.dumps(obj)]))`,
      [path.join(tmp, 'jdoeexamplecom.session')],
    )
    const [obj, dumped] = JSON.parse(out) as [Record<string, string>, string]
    expect(obj).toEqual(data)
    expect(dumped).toBe(ours)
    expect(/^[\x20-\x7e]*$/.test(ours)).toBe(true)
  })

  it('json.dumps of the fixture .session is what we write for it', async () => {
    const out = python(
      `import json, sys
with open(sys.argv[1], encoding='utf-8') as f: sys.stdout.write(json.dumps(json.load(f)))`,
      [path.join(FIXTURE_DIR, 'jdoeexamplecom.session')],
    )
    const s = await loadSession(FIXTURE_DIR, APPLE_ID)
    expect(formatSessionJson(s.data)).toBe(out)
  })

  it('file names match pyicloud, and Python takes our client id as a UUIDv1', () => {
    const ids = ['jdoe@example.com', 'j.doe+x@example.com', 'x²Ⅳ٠é\u0301_ü-ß@例え.jp', 'Ａｂ①\u200d😀1']
    const out = python(
      `import json, re, sys, uuid
ids = json.load(sys.stdin)
names = ["".join(c for c in i if re.match(r"\\w", c)) for i in ids[:-1]]
u = uuid.UUID(ids[-1][len("auth-"):])
print(json.dumps([names, u.version, str(u) == ids[-1][len("auth-"):]]))`,
      [],
      JSON.stringify([...ids, newClientId()]),
    )
    const [names, version, canonical] = JSON.parse(out) as [string[], number, boolean]
    expect(ids.map(sessionBaseName)).toEqual(names)
    expect(version).toBe(1)
    expect(canonical).toBe(true)
  })
})

describe('writing the session files', () => {
  it('creates the directory 0700 and the files 0600, leaving no temp files', async () => {
    const dir = path.join(tmp, 'nested', '.pyicloud')
    await saveSession(dir, APPLE_ID, { client_id: 'auth-1' }, await jarFromApple())
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    expect((await stat(path.join(dir, 'jdoeexamplecom'))).mode & 0o777).toBe(0o600)
    expect((await stat(path.join(dir, 'jdoeexamplecom.session'))).mode & 0o777).toBe(0o600)
    expect((await readdir(dir)).sort()).toEqual(['jdoeexamplecom', 'jdoeexamplecom.session'])
  })

  it('a write that fails half-way leaves the old file intact and no temp file', async () => {
    await saveSession(tmp, APPLE_ID, { client_id: 'auth-1', session_token: 'old-token' }, new LwpCookieJar())
    const before = await readFile(path.join(tmp, 'jdoeexamplecom.session'), 'utf8')
    fault.failWritesTo = 'jdoeexamplecom.session'
    const err = await saveSession(
      tmp,
      APPLE_ID,
      { client_id: 'auth-1', session_token: 'new-secret-token' },
      new LwpCookieJar(),
    ).catch((e: unknown) => e)
    expect(isAppError(err, 'DISK')).toBe(true)
    expect((err as Error).message).toContain('ENOSPC')
    expect((err as Error).message).not.toContain('new-secret-token')
    expect(await readFile(path.join(tmp, 'jdoeexamplecom.session'), 'utf8')).toBe(before)
    expect((await readdir(tmp)).sort()).toEqual(['jdoeexamplecom', 'jdoeexamplecom.session'])
  })

  it('a rename onto a directory fails cleanly', async () => {
    await mkdir(path.join(tmp, 'jdoeexamplecom'))
    const err = await saveSession(tmp, APPLE_ID, { client_id: 'auth-1' }, new LwpCookieJar()).catch(
      (e: unknown) => e,
    )
    expect(isAppError(err, 'DISK')).toBe(true)
    expect((await readdir(tmp)).sort()).toEqual(['jdoeexamplecom'])
  })

  it('keeps unknown keys and their order', async () => {
    const text = '{"zzz": "1", "client_id": "auth-1", "new_field": "caf\\u00e9"}'
    await writeFile(path.join(tmp, 'jdoeexamplecom.session'), text)
    const s = await loadSession(tmp, APPLE_ID)
    expect(s.data.new_field).toBe('café')
    await saveSession(tmp, APPLE_ID, s.data, s.jar)
    expect(await readFile(path.join(tmp, 'jdoeexamplecom.session'), 'utf8')).toBe(text)
  })
})

describe('loading', () => {
  it('a missing session is empty', async () => {
    const s = await loadSession(path.join(tmp, 'none'), APPLE_ID)
    expect(s).toMatchObject({ status: 'missing', data: {} })
    expect(await s.jar.store.getAllCookies()).toEqual([])
  })

  it('a broken jar or .session is reported without its content; the intact file still loads', async () => {
    await copyFixture(tmp)
    await writeFile(path.join(tmp, 'jdoeexamplecom'), 'garbage-secret-cookie-value\n')
    let s = await loadSession(tmp, APPLE_ID)
    expect(s.status).toBe('broken')
    expect(s.problem).toContain(path.join(tmp, 'jdoeexamplecom'))
    expect(s.problem).not.toContain('garbage-secret')
    expect(await s.jar.store.getAllCookies()).toEqual([])
    expect(s.data.session_token).toBe('token-1234567890')

    await copyFixture(tmp)
    await writeFile(path.join(tmp, 'jdoeexamplecom.session'), '{"session_token": "secret-tok-99"')
    s = await loadSession(tmp, APPLE_ID)
    expect(s.status).toBe('broken')
    expect(s.problem).toContain('jdoeexamplecom.session')
    expect(s.problem).not.toContain('secret-tok-99')
    expect(s.data).toEqual({})
    expect(await s.jar.store.getAllCookies()).toHaveLength(3)

    for (const bad of ['[1, 2]', '"str"', 'null', '\ufeff{}']) {
      await writeFile(path.join(tmp, 'jdoeexamplecom.session'), bad)
      expect((await loadSession(tmp, APPLE_ID)).status).toBe('broken')
    }
    await writeFile(path.join(tmp, 'jdoeexamplecom.session'), Buffer.from([0x7b, 0xff, 0x7d]))
    expect((await loadSession(tmp, APPLE_ID)).status).toBe('broken')
  })

  it('a jar line without a domain is broken (Python cannot load it either)', async () => {
    await writeFile(
      path.join(tmp, 'jdoeexamplecom'),
      '#LWP-Cookies-2.0\nSet-Cookie3: a=b; path="/"; version=0\n',
    )
    expect((await loadSession(tmp, APPLE_ID)).status).toBe('broken')
  })

  it('an empty jar file (icloudpd killed mid-write) is broken', async () => {
    await writeFile(path.join(tmp, 'jdoeexamplecom'), '')
    expect((await loadSession(tmp, APPLE_ID)).status).toBe('broken')
  })
})

describe('moveSessionAside', () => {
  it('renames both files with a UTC timestamp and never overwrites an earlier one', async () => {
    const now = new Date('2026-11-25T12:38:37.123Z')
    await copyFixture(tmp)
    const moved = await moveSessionAside(tmp, APPLE_ID, now)
    expect(moved).toEqual([
      path.join(tmp, 'jdoeexamplecom.broken-20261125T123837Z'),
      path.join(tmp, 'jdoeexamplecom.session.broken-20261125T123837Z'),
    ])
    expect((await loadSession(tmp, APPLE_ID)).status).toBe('missing')
    expect(await readFile(moved[1]!, 'utf8')).toContain('token-1234567890')

    await writeFile(path.join(tmp, 'jdoeexamplecom.session'), '{}')
    expect(await moveSessionAside(tmp, APPLE_ID, now)).toEqual([
      path.join(tmp, 'jdoeexamplecom.session.broken-20261125T123837Z-2'),
    ])
    expect(await moveSessionAside(tmp, APPLE_ID, now)).toEqual([])
  })
})

describe('names and ids', () => {
  it('sessionBaseName keeps what Python \\w keeps (§7 examples)', () => {
    expect(sessionBaseName('jdoe@example.com')).toBe('jdoeexamplecom')
    expect(sessionBaseName('j.doe+x@example.com')).toBe('jdoexexamplecom')
    expect(sessionBaseName('a²Ⅳ٠_e\u0301')).toBe('a²Ⅳ٠_e')
    expect(sessionPaths('/x/', 'jdoe@example.com')).toEqual({
      dir: '/x',
      jarPath: '/x/jdoeexamplecom',
      sessionPath: '/x/jdoeexamplecom.session',
    })
    expect(() => sessionPaths('/x', '@.+')).toThrow(/no letters or digits/)
  })

  it('expandCookieDirectory expands ~ and normalises', () => {
    expect(expandCookieDirectory('~/.pyicloud')).toBe(path.join(homedir(), '.pyicloud'))
    expect(expandCookieDirectory('~')).toBe(homedir())
    expect(expandCookieDirectory('a//b/../c/')).toBe('a/c')
    expect(expandCookieDirectory('/')).toBe('/')
  })

  it('newClientId is auth- + a lower-case UUIDv1 with the current time, increasing', () => {
    const ids = Array.from({ length: 50 }, newClientId)
    const re = /^auth-([0-9a-f]{8})-([0-9a-f]{4})-1([0-9a-f]{3})-[89ab][0-9a-f]{3}-([0-9a-f]{12})$/
    const times = ids.map((id) => {
      const m = re.exec(id)
      expect(m, id).not.toBeNull()
      return BigInt(`0x${m![3]}${m![2]}${m![1]}`)
    })
    expect(new Set(ids).size).toBe(50)
    for (let i = 1; i < times.length; i++) expect(times[i]! > times[i - 1]!).toBe(true)
    // 100 ns ticks since 1582-10-15 → Unix ms; the id is from today, not from a fixed value.
    const ms = Number((times[0]! - 0x01b21dd213814000n) / 10_000n)
    expect(Math.abs(ms - Date.now())).toBeLessThan(24 * 3600 * 1000)
    // one random node id per process, with the multicast bit that marks it as random
    expect(new Set(ids.map((id) => id.slice(-12))).size).toBe(1)
    expect(Number.parseInt(ids[0]!.slice(-12, -10), 16) & 1).toBe(1)
  })

  it('ensureClientId keeps an existing id and makes a new one the first key', () => {
    const existing = { client_id: 'auth-keep', scnt: 'x' }
    expect(ensureClientId(existing)).toBe('auth-keep')
    const fresh: Record<string, string> = {}
    const id = ensureClientId(fresh)
    expect(id).toMatch(/^auth-/)
    expect(fresh).toEqual({ client_id: id })
  })
})

describe('captureSessionHeaders', () => {
  it('copies the non-empty §2 headers and says whether anything changed', () => {
    expect(Object.values(PERSISTED_HEADERS).sort()).toEqual(
      [
        'account_country',
        'apple_ercd',
        'apple_rscd',
        'scnt',
        'session_id',
        'session_token',
        'trust_eligible',
        'trust_token',
      ].sort(),
    )
    const data: Record<string, string> = { client_id: 'auth-1', scnt: 'old' }
    const headers = {
      'x-apple-id-account-country': 'USA',
      'x-apple-id-session-id': 'sess',
      'X-Apple-Session-Token': 'tok',
      'x-apple-twosv-trust-token': 'trust',
      'x-apple-twosv-trust-eligible': 'true',
      'x-apple-i-rscd': '401',
      'x-apple-i-ercd': '',
      scnt: ['a', 'b'],
      'x-apple-auth-attributes': 'not kept',
      'content-type': 'application/json',
    }
    expect(captureSessionHeaders(data, headers)).toBe(true)
    expect(data).toEqual({
      client_id: 'auth-1',
      scnt: 'a, b',
      account_country: 'USA',
      session_id: 'sess',
      session_token: 'tok',
      trust_token: 'trust',
      trust_eligible: 'true',
      apple_rscd: '401',
    })
    expect(captureSessionHeaders(data, headers)).toBe(false)
    expect(captureSessionHeaders(data, { scnt: '', 'x-apple-i-ercd': undefined })).toBe(false)
  })
})
