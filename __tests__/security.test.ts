// Security: secrets never leave through anything a run produces; hostile server data stays inside
// the download directory and cannot exhaust memory or the stack; hostile config files are refused
// with a clear error.
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startFakeCloudKit } from '../sim/icloud/cloudkit.js'
import type { Fault, FakeServer } from '../sim/icloud/core.js'
import { FakeLibrary, type LibraryOptions } from '../sim/icloud/library.js'
import { startFakeGitHub, type FakeGitHub } from '../sim/github-api.js'
import { startWebhookSink, type WebhookSink } from '../sim/webhook-sink.js'
import { createRunner, type Runner, type StepResult } from '../sim/runner-env.js'
import { laptopLoginAndExport, PASSWORD, startWorld, USER, type World } from '../sim/world.js'
import { authenticate } from '../src/icloud/auth.js'
import { AppError } from '../src/core/errors.js'
import { HttpClient, MAX_RESPONSE_BYTES } from '../src/icloud/http.js'
import { loadSession } from '../src/icloud/session-store.js'
import { CloudKitClient } from '../src/photos/cloudkit.js'
import { STATE_FILE, parseState } from '../src/photos/state.js'
import { LOCK_FILE } from '../src/photos/lock.js'
import { maskAppleId } from '../src/notify/event.js'
import { syncPhotos, type PhotosOptions } from '../src/photos/sync.js'
import { loadConfig, MAX_CONFIG_BYTES, type ConfigIssue } from '../src/config/index.js'

const DAY = 86_400_000
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function tmp(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix))
  cleanups.push(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** A value as it could leak: verbatim, base64, URL-encoded. */
function forms(secret: string): string[] {
  return [...new Set([secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)])]
}

// ---- secrets in everything a bundled run produces ------------------------------------------------

describe('secrets scan over whole runs of the bundled action', () => {
  const SESSION_KEY = 'passphrase for the session cache, kept in a secret'
  const SMTP_PASSWORD = 'smtp-app-password-7731'
  const GH_TOKEN = 'ghs_securityScanToken0123456789'
  const HOOK_TOKEN = 'T0K3N-hook-secret-abcdef0123'
  let world: World
  let runner: Runner
  let github: FakeGitHub
  let sink: WebhookSink
  let smtp: SMTPServer
  let smtpAccepts = true
  const mails: ParsedMail[] = []
  let seed = ''
  let webhookUrl = ''
  const steps: StepResult[] = []
  /** Files a run leaves for later steps: the report, the new-files list. */
  const files: string[] = []
  /** Values Apple handed out during the runs (session token, trust token, cookies). */
  const appleSecrets = new Set<string>()

  beforeAll(async () => {
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      onAuth(auth, _s, cb) {
        if (smtpAccepts && auth.password === SMTP_PASSWORD) cb(null, { user: auth.username })
        else cb(Object.assign(new Error('5.7.8 Username and Password not accepted'), { responseCode: 535 }))
      },
      onData(stream, _s, cb) {
        simpleParser(stream).then((m) => {
          mails.push(m)
          cb()
        }, cb)
      },
    })
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r))
    github = await startFakeGitHub({ token: GH_TOKEN, owner: 'octo', repo: 'photos-backup' })
    sink = await startWebhookSink()
    webhookUrl = `${sink.url}/hooks/${HOOK_TOKEN}?format=json`
    runner = await createRunner()
    world = await startWorld({
      library: { count: 12, kinds: ['jpeg', 'live'] },
      runnerTemp: runner.runnerTemp,
    })
    await mkdir(path.join(runner.workspace, '.github'), { recursive: true })
    await writeFile(
      path.join(runner.workspace, '.github/icloud-photos.yml'),
      `account:
  username: ${USER}
auth:
  password-providers: [parameter]
  mfa-provider: none
notifications:
  warn-days: 7
  email:
    smtp-host: 127.0.0.1
    smtp-port: ${(smtp.server.address() as AddressInfo).port}
    smtp-no-tls: true
    smtp-username: owner@example.com
  github-issue:
    enabled: true
photos:
  folder-structure: none
`,
    )
    // Signed in on the laptop 25 days ago: 5 days of trust left, so run 1 warns and notifies.
    world.icloud.clock.advance(-25 * DAY)
    seed = await laptopLoginAndExport(world.icloud, { key: SESSION_KEY })
    world.icloud.clock.advance(25 * DAY)
  }, 60_000)

  afterAll(async () => {
    await world?.close()
    await github?.close()
    await sink?.close()
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()))
    await runner?.cleanup()
  })

  const inputs = () => ({
    config: '.github/icloud-photos.yml',
    password: PASSWORD,
    session: seed,
    'session-key': SESSION_KEY,
    'smtp-password': SMTP_PASSWORD,
    'webhook-url': webhookUrl,
    'github-token': GH_TOKEN,
    mode: 'sync',
    directory: path.join(runner.root, 'photos'),
  })
  const env = () => ({ ...world.env, GITHUB_API_URL: github.url, RUNNER_TEMP: runner.runnerTemp })

  async function keep(r: { main: StepResult; post: StepResult }): Promise<void> {
    steps.push(r.main, r.post)
    for (const f of [r.main.outputs.report, r.main.outputs['new-files']])
      if (f && existsSync(f)) files.push(await readFile(f, 'utf8'))
    // What Apple issued: the runner's cookie directory (HOME/.pyicloud) before the next run wipes HOME.
    const s = await loadSession(path.join(runner.home, '.pyicloud'), USER)
    for (const k of ['session_token', 'trust_token', 'session_id', 'scnt'])
      if (s.data[k] && s.data[k]!.length >= 8) appleSecrets.add(s.data[k]!)
    for (const c of await s.jar.store.getAllCookies())
      // The bare value, without Apple's quotes: masking it covers the quoted form too, not the reverse.
      if (/WEBAUTH-TOKEN|DS-WEB-SESSION|HSA-TRUST/.test(c.key) && c.value.length >= 8)
        appleSecrets.add(c.value.replace(/^"(.*)"$/, '$1'))
  }

  it('run 1 (expiry warning: email, issue and webhook all sent) and run 2 (MFA needed, SMTP refuses the login, webhook 404)', async () => {
    await keep(await runner.job(inputs(), env()))
    expect(steps[0]!.code, steps[0]!.stdout).toBe(0)
    expect(steps[0]!.outputs.status).toBe('warning')
    expect(Number(steps[0]!.outputs.downloaded)).toBeGreaterThan(0)
    expect(mails).toHaveLength(1)
    expect(github.issues).toHaveLength(1)
    expect(sink.requests).toHaveLength(1)
    expect(world.cache.entries()).toHaveLength(1)

    await runner.nextRun()
    world.icloud.clock.advance(6 * DAY) // the trust has expired: SRP with the password, then MFA needed
    smtpAccepts = false
    sink.respondWith(404)
    await keep(await runner.job(inputs(), env()))
    expect(steps[2]!.code).toBe(1)
    expect(steps[2]!.outputs['error-code']).toBe('MFA_REQUIRED')
    expect(steps[2]!.stdout).toMatch(/::warning::.*535/) // the SMTP refusal is reported…
    expect(steps[2]!.stdout).toMatch(/::warning::Webhook.*404/) // …and the webhook's
    expect(appleSecrets.size).toBeGreaterThanOrEqual(3)
  })

  it('every secret input was add-masked before anything else was printed', () => {
    const main = steps[0]!.stdout.split('\n')
    const firstOther = main.findIndex((l) => l.trim() !== '' && !l.startsWith('::add-mask::'))
    for (const s of [PASSWORD, seed, SESSION_KEY, SMTP_PASSWORD, webhookUrl, GH_TOKEN]) {
      const at = main.indexOf(`::add-mask::${s}`)
      expect(at, `not masked: ${s.slice(0, 6)}…`).toBeGreaterThanOrEqual(0)
      expect(at).toBeLessThan(firstOther)
    }
    // Apple's tokens and cookies are masked too, as soon as they are known.
    const all = steps.map((s) => s.stdout).join('\n')
    for (const s of appleSecrets) expect(all, 'an Apple token was not masked').toContain(`::add-mask::${s}`)
  })

  it('no secret, in any form, is in stdout, stderr, summary, outputs, state, report, file lists or cache keys', () => {
    const unmasked = (text: string) =>
      text
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n')
    const places: Record<string, string> = {
      stdout: steps.map((s) => unmasked(s.stdout)).join('\n'),
      stderr: steps.map((s) => s.stderr).join('\n'),
      summary: steps.map((s) => s.summary).join('\n'),
      outputs: steps.map((s) => JSON.stringify(s.outputs)).join('\n'),
      state: steps.map((s) => JSON.stringify(s.state)).join('\n'),
      'report and new-files list': files.join('\n'),
      'cache keys': world.cache
        .entries()
        .map((e) => e.key)
        .join('\n'),
      mail: mails.map((m) => `${m.subject}\n${m.text}\n${m.html || ''}`).join('\n'),
      'issues and comments': [
        ...github.issues.map((i) => `${i.title}\n${i.body}`),
        ...github.comments.map((c) => c.body),
      ].join('\n'),
      'webhook bodies': sink.requests.map((r) => r.body).join('\n'),
    }
    expect(places.stdout.length).toBeGreaterThan(1000) // the scan sees real output
    const secrets = [
      PASSWORD,
      seed,
      SESSION_KEY,
      SMTP_PASSWORD,
      webhookUrl,
      HOOK_TOKEN,
      GH_TOKEN,
      ...appleSecrets,
    ]
    for (const secret of secrets)
      for (const form of forms(secret))
        for (const [where, text] of Object.entries(places))
          expect(text.includes(form), `a secret (${secret.slice(0, 6)}…) is in ${where}`).toBe(false)
  })

  it('the Apple ID is only ever shown masked: logs (the SRP sign-in and MFA_REQUIRED lines too), summary, report, mail, issues, webhooks', () => {
    const unmasked = (text: string) =>
      text
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n')
    const places: Record<string, string> = {
      stdout: steps.map((s) => unmasked(s.stdout)).join('\n'),
      stderr: steps.map((s) => s.stderr).join('\n'),
      summary: steps.map((s) => s.summary).join('\n'),
      outputs: steps.map((s) => JSON.stringify(s.outputs)).join('\n'),
      'report and new-files list': files.join('\n'),
      mail: mails.map((m) => `${m.subject}\n${m.text}\n${m.html || ''}`).join('\n'),
      'issues and comments': [
        ...github.issues.map((i) => `${i.title}\n${i.body}`),
        ...github.comments.map((c) => c.body),
      ].join('\n'),
      'webhook bodies': sink.requests.map((r) => r.body).join('\n'),
    }
    // Run 2 signed in with the password and then needed a code: both lines name the account.
    expect(places.stdout).toContain(`Signing in to iCloud as ${maskAppleId(USER)}`)
    expect(places.stdout).toContain(`two-factor code for ${maskAppleId(USER)}`)
    for (const [where, text] of Object.entries(places))
      expect(text.toLowerCase().includes(USER.toLowerCase()), `the Apple ID is in ${where}`).toBe(false)
  })

  it('the cache entries hold only ciphertext', () => {
    const archives = world.cache.entries().map((e) => e.data)
    expect(archives.length).toBeGreaterThan(0)
    for (const secret of [PASSWORD, SMTP_PASSWORD, GH_TOKEN, SESSION_KEY, ...appleSecrets])
      for (const a of archives) expect(a.includes(Buffer.from(secret))).toBe(false)
  })
})

// ---- hostile server data ---------------------------------------------------------------------

async function photosSetup(options: LibraryOptions) {
  const lib = new FakeLibrary(options)
  const fake = await startFakeCloudKit(lib)
  const http = new HttpClient({ connections: 4 })
  const client = new CloudKitClient({ http, databaseUrl: fake.databaseUrl, clientId: 'auth-sec', dsid: '9' })
  cleanups.push(async () => {
    await http.close()
    await fake.close()
  })
  const warnings: string[] = []
  const sync = (directory: string, o: PhotosOptions = {}, databaseUrl?: string) =>
    syncPhotos({
      client: databaseUrl
        ? new CloudKitClient({ http, databaseUrl, clientId: 'auth-sec', dsid: '9' })
        : client,
      http,
      directory,
      options: { threads: 4, ...o },
      log: { info: () => undefined, warning: (m) => warnings.push(m) },
      retries: 1,
      minRetryMs: 5,
    })
  return { lib, fake, sync, warnings }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((rel) => statSync(path.join(dir, rel)).isFile())
    .map((rel) => rel.split(path.sep).join('/'))
}

async function errorOf(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(AppError)
  return e as AppError
}

/** A server that answers every request with `answer` (CloudKit paths, setup paths: anything). */
async function hostileServer(
  answer: (res: http.ServerResponse) => void,
): Promise<{ url: string; sent(): number }> {
  let sent = 0
  const sockets = new Set<Socket>()
  const server = http.createServer((req, res) => {
    req.resume()
    const write = res.write.bind(res)
    res.write = ((chunk: string | Buffer, ...rest: never[]) => {
      sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
      return write(chunk, ...rest)
    }) as typeof res.write
    answer(res)
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent: () => sent }
}

/** Fault on the n-th request to `endpoint` (1-based). */
function injectNth(server: FakeServer, endpoint: string, n: number, fault: Fault): void {
  let seen = 0
  const take = server.takeFault.bind(server)
  server.takeFault = (ep: string) => (ep === endpoint && ++seen === n ? fault : take(ep))
}

const deep = (n: number, open: string, close: string, inner = ''): string =>
  open.repeat(n) + inner + close.repeat(n)

describe('hostile server data', () => {
  it('path traversal, absolute, NUL, control-character and overlong names stay inside the directory', async () => {
    const { lib, sync } = await photosSetup({ count: 13, kinds: ['jpeg'], seed: 71 })
    const parent = tmp('sec-names-')
    const dir = path.join(parent, 'photos')
    const marker = `escape-${process.pid}`
    const names = [
      `../../../../${marker}.JPG`,
      '../../etc/passwd',
      `/tmp/${marker}-abs.JPG`,
      'C:\\Windows\\System32\\evil.JPG',
      '\\\\server\\share\\x.JPG',
      'a\0b.JPG',
      'bell\x07\x1b[31mred.JPG',
      'x'.repeat(400) + '.JPG',
      '..',
      '.',
      STATE_FILE, // our own state file's name
      LOCK_FILE, // and the directory lock's
      '',
    ]
    const ids = lib.visibleAssets().map((a) => a.id)
    names.forEach((n, i) => lib.setFilename(ids[i]!, n))
    for (const layout of ['none', '{:%Y/%m/%d}']) {
      const r = await sync(dir, { folderStructure: layout })
      expect(r.failed).toBe(0)
      expect(r.downloaded).toBe(ids.length)
      const files = filesUnder(dir).filter((f) => f !== STATE_FILE)
      expect(files).toHaveLength(ids.length)
      for (const rel of files) {
        expect(path.resolve(dir, rel).startsWith(dir + path.sep)).toBe(true)
        expect(rel.split('/').every((seg) => seg !== '..' && seg !== '.' && seg !== '')).toBe(true)
        expect([...rel].some((ch) => ch.charCodeAt(0) < 0x20 || ch === '\\')).toBe(false)
        expect(Buffer.byteLength(path.basename(rel))).toBeLessThanOrEqual(255)
      }
      // Nothing beside the directory, nowhere else on disk, and our state file is still ours.
      expect(readdirSync(parent)).toEqual(['photos'])
      expect(existsSync(`/tmp/${marker}-abs.JPG`)).toBe(false)
      expect(parseState(readFileSync(path.join(dir, STATE_FILE), 'utf8'))).toBeDefined()
      const hashes = files.map((f) =>
        createHash('sha256')
          .update(readFileSync(path.join(dir, f)))
          .digest('hex'),
      )
      expect(hashes.sort()).toEqual(
        lib
          .visibleAssets()
          .map((a) => lib.sha256(lib.privateZone, a.index, 'resOriginal'))
          .sort(),
      )
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a download URL that is not http(s) is never followed', async () => {
    const { lib, sync, warnings } = await photosSetup({ count: 4, kinds: ['jpeg'], seed: 72 })
    const victim = lib.visibleAssets()[1]!
    const render = lib.masterRecord.bind(lib)
    lib.masterRecord = (zone, a, base, now) => {
      const rec = render(zone, a, base, now) as {
        fields?: Record<string, { value: { downloadURL?: string } }>
      }
      if (a.id === victim.id && rec.fields?.resOriginalRes)
        rec.fields.resOriginalRes.value.downloadURL = 'file:///etc/passwd'
      return rec
    }
    const dir = tmp('sec-url-')
    const r = await sync(dir, { folderStructure: 'none' })
    expect(r.failed).toBe(1)
    expect(r.downloaded).toBe(3)
    expect(warnings.join('\n')).toMatch(new RegExp(`${victim.id}.*resOriginalRes has no usable downloadURL`))
    const passwd = readFileSync('/etc/passwd')
    for (const f of filesUnder(dir)) expect(readFileSync(path.join(dir, f)).equals(passwd)).toBe(false)
  })

  it(`a 50 MB JSON answer is refused (cap ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB) with a clear error`, async () => {
    const { fake, sync, warnings } = await photosSetup({ count: 3, seed: 73 })
    const big = JSON.stringify({ syncToken: 'x', zones: [], pad: 'x'.repeat(50 * 1024 * 1024) })
    // On the (optional) change feed the typed error becomes the reason of a full listing…
    fake.server.inject('ck:changes/database', { status: 200, body: big })
    const r = await sync(tmp('sec-big-'))
    expect(r.listingNote).toMatch(/larger than 16 MiB/)
    expect(warnings.join('\n')).not.toContain('xxxx')
    // …on the listing itself it ends the run.
    fake.server.inject('ck:records/query', { status: 200, body: big })
    const e = await errorOf(sync(tmp('sec-big2-')))
    expect(e.code).toBe('PROTOCOL_ERROR')
    expect(e.message).toMatch(/larger than 16 MiB/)
    expect(e.message).not.toContain('xxxx')
  })

  it('an endless body is cut off at the cap instead of filling memory', async () => {
    const endless = await hostileServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"syncToken":"')
      const chunk = Buffer.alloc(1 << 20, 0x61)
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump)
      }
      pump()
    })
    const { sync } = await photosSetup({ count: 3, seed: 74 })
    const e = await errorOf(sync(tmp('sec-endless-'), {}, `${endless.url}/ckdatabasews`))
    expect(e.code).toBe('PROTOCOL_ERROR')
    expect(e.message).toMatch(/larger than 16 MiB/)
    // The client hung up: the server could not push much past the cap (socket buffers aside).
    expect(endless.sent()).toBeLessThan(MAX_RESPONSE_BYTES * 8)
  })

  it('oversized and deeply nested answers to the sign-in are refused with a typed error', async () => {
    const world = await startWorld({ library: { count: 2 } })
    cleanups.push(() => world.close())
    const cookies = tmp('sec-auth-')
    const endpoints = {
      domain: 'com' as const,
      auth: world.icloud.authEndpoint,
      authRoot: world.icloud.url,
      home: 'https://www.icloud.com',
      setup: world.icloud.setupEndpoint,
    }
    const signIn = () =>
      authenticate({
        username: USER,
        cookieDirectory: cookies,
        endpoints,
        passwordProviders: [{ name: 'parameter', get: async () => PASSWORD }],
        log: { info: () => undefined, warning: () => undefined, debug: () => undefined },
      })
    world.icloud.inject('auth:signin/init', {
      status: 200,
      body: `{"pad":"${'x'.repeat(20 * 1024 * 1024)}"}`,
    })
    expect((await errorOf(signIn())).message).toMatch(/larger than 16 MiB/)
    world.icloud.inject('auth:signin/init', { status: 200, body: deep(500_000, '[', ']') })
    expect((await errorOf(signIn())).code).toBe('PROTOCOL_ERROR')
    world.icloud.inject('auth:signin/init', {
      status: 200,
      body: `{"salt":${deep(500_000, '{"a":', '}', '1')}}`,
    })
    expect((await errorOf(signIn())).code).toBe('PROTOCOL_ERROR')
    expect(world.icloud.srpAttempts()).toBe(0) // no proof was ever sent on a hostile answer
  })

  it('deeply nested JSON from CloudKit ends in a typed error or fails one asset — never a crash', async () => {
    const { lib, fake, sync, warnings } = await photosSetup({ count: 6, kinds: ['jpeg'], seed: 75 })
    // The whole answer is a 500,000-deep array.
    fake.server.inject('ck:changes/database', { status: 200, body: deep(500_000, '[', ']') })
    expect((await sync(tmp('sec-deep1-'))).listingNote).toMatch(/did not return a JSON object/)
    fake.server.inject('ck:records/query', { status: 200, body: deep(500_000, '[', ']') })
    const e = await errorOf(sync(tmp('sec-deep1b-')))
    expect(e.code).toBe('PROTOCOL_ERROR')
    expect(e.message).toMatch(/did not return a JSON object/)

    // One record's fields are 500,000 levels deep (no server-side JSON.stringify could render that
    // much nesting, so the page is the fake's own records with the deep value spliced into the text).
    const victim = lib.visibleAssets()[2]!
    const content = `${fake.server.url}/content`
    const now = fake.server.clock.now()
    const visible = lib.visibleAssets()
    const masters = visible.map((a) => {
      const rec = lib.masterRecord(lib.privateZone, a, content, now) as { fields: Record<string, unknown> }
      if (a.id === victim.id) rec.fields.filenameEnc = '@DEEP@'
      return rec
    })
    const assets = visible.map((a) => lib.assetRecord(lib.privateZone, a, content, now))
    const page = JSON.stringify({ records: [...masters, ...assets] }).replace(
      '"@DEEP@"',
      deep(500_000, '{"a":', '}', '1'),
    )
    injectNth(fake.server, 'ck:records/query', 2, { status: 200, body: page }) // #1 is the indexing check
    const dir = tmp('sec-deep2-')
    const r = await sync(dir, { folderStructure: 'none' })
    expect(r.failed).toBe(1)
    expect(r.downloaded).toBe(lib.visibleAssets().length - 1)
    expect(warnings.some((w) => w.includes(victim.id))).toBe(true)
    expect(filesUnder(dir).filter((f) => f !== STATE_FILE)).toHaveLength(lib.visibleAssets().length - 1)
  })
})

// ---- config injection ------------------------------------------------------------------------

describe('config injection attempts are refused with a clear error', () => {
  const base = 'account:\n  username: me@example.com\n'
  const cases: Array<{ name: string; text: string; message: RegExp; line?: number }> = [
    {
      name: 'YAML alias bomb (billion laughs)',
      text:
        base +
        'x:\n' +
        ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]']
          .concat(
            ['b', 'c', 'd', 'e', 'f'].map(
              (k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcde'[i]}`).join(', ')}]`,
            ),
          )
          .map((l) => `  ${l}`)
          .join('\n') +
        '\n',
      message: /aliases expand too much/,
    },
    {
      name: 'a huge file',
      text: base + '# ' + 'x'.repeat(MAX_CONFIG_BYTES) + '\n',
      message: /may be at most 256 KiB/,
      line: 1,
    },
    {
      name: 'deeply nested YAML (flow)',
      text: base + 'x: ' + deep(50_000, '[', ']') + '\n',
      message: /nested too deeply/,
      line: 3,
    },
    {
      name: 'deeply nested YAML (block mappings)',
      text: base + Array.from({ length: 600 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n',
      message: /unknown key `k0`/,
      line: 3,
    },
    {
      name: '!!js/function tag',
      text: 'account:\n  username: me@example.com\nphotos:\n  directory: !!js/function "function () { return process.exit(1) }"\n',
      message: /the tag `!!js\/function`: YAML tags are not supported/,
      line: 4,
    },
    {
      name: '!!python/object/apply tag',
      text: 'account:\n  username: !!python/object/apply:os.system ["id"]\n',
      message: /the tag `!!python\/object\/apply:os.system`: YAML tags are not supported/,
      line: 2,
    },
    {
      name: 'a custom local tag',
      text: 'account:\n  username: !env HOME\n',
      message: /the tag `!env`: YAML tags are not supported/,
      line: 2,
    },
    {
      name: '__proto__ key (prototype pollution)',
      text: base + '__proto__:\n  polluted: true\n',
      message: /unknown key `__proto__`/,
      line: 3,
    },
    {
      name: 'nested __proto__ key',
      text: 'account:\n  username: me@example.com\n  __proto__: { polluted: true }\n',
      message: /unknown key `__proto__`/,
      line: 3,
    },
    {
      name: 'constructor.prototype key',
      text: base + 'constructor:\n  prototype:\n    polluted: true\n',
      message: /unknown key `constructor`/,
      line: 3,
    },
    {
      name: 'YAML 1.1 merge key',
      text: 'defaults: &d\n  polluted: true\naccount:\n  <<: *d\n  username: me@example.com\n',
      message: /unknown key `<<`/,
      line: 4,
    },
  ]

  it.each(cases)('$name', async ({ text, message, line }) => {
    const dir = tmp('sec-config-')
    const file = path.join(dir, 'icloud-photos.yml')
    writeFileSync(file, text)
    const err = (await loadConfig(file).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; issues?: ConfigIssue[]; message: string } | undefined
    expect(err?.code).toBe('CONFIG_INVALID')
    const issue = err!.issues!.find((i) => message.test(i.message) || message.test(`${i.path}: ${i.message}`))
    expect(issue, err!.message).toBeDefined()
    expect(issue!.file).toBe(file)
    if (line !== undefined) expect(issue!.line).toBe(line)
    // The message says where, and never echoes the hostile value's content.
    expect(err!.message).toContain(`${file}:${issue!.line}:`)
    expect(err!.message).not.toContain('process.exit')
    expect(err!.message.length).toBeLessThan(4_000)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
  })
})
