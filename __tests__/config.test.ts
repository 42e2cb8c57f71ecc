import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import {
  applyInputOverrides,
  checkProviderOrder,
  ConfigError,
  configSchema,
  findConfigIssues,
  loadConfig,
  MAX_CONFIG_BYTES,
  parseConfig,
  type Config,
  type ConfigIssue,
} from '../src/config/index.js'
import type { JsonSchema } from '../src/config/validate.js'

const FILE = '.github/icloud-photos.yml'

/** The ConfigError thrown for `text`; fails the test when the text is accepted. */
function errorFor(text: string): ConfigError {
  try {
    parseConfig(text, FILE)
  } catch (e) {
    if (e instanceof ConfigError) return e
    throw e
  }
  throw new Error(`config was accepted:\n${text}`)
}

function issueAt(text: string, path: string): ConfigIssue {
  const error = errorFor(text)
  const issue = error.issues.find((i) => i.path === path)
  if (!issue) throw new Error(`no issue for ${path}; got:\n${error.message}`)
  return issue
}

const VALID = 'account:\n  username: me@example.com\n'

describe('examples', () => {
  it('every example config validates', async () => {
    const files = (await readdir('examples')).filter((f) => /\.ya?ml$/.test(f))
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      const text = await readFile(join('examples', f), 'utf8')
      expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/config.schema.json')
      expect(findConfigIssues(text, f), f).toEqual([])
      await expect(loadConfig(join('examples', f))).resolves.toMatchObject({
        account: { username: expect.any(String) },
      })
    }
  })

  it('the commented example maps to the expected typed Config', async () => {
    const config = await loadConfig('examples/icloud-photos.yml')
    expect(config.auth.mfaProvider).toBe('none')
    expect(config.auth.cookieDirectory).toBe(join(homedir(), '.pyicloud'))
    expect(config.notifications.email).toEqual({
      smtpHost: 'smtp.gmail.com',
      smtpPort: 587,
      smtpNoTls: false,
      smtpUsername: 'me@example.com',
      notificationEmail: 'me@example.com',
      notificationEmailFrom: 'me@example.com',
    })
    expect(config.photos.untilFound).toBe(50)
    expect(config.photos.recent).toBeUndefined()
    expect(config.photos.folderStructure).toBe('{:%Y/%m/%d}')
  })
})

describe('defaults', () => {
  it('a minimal config gets every schema default, camelCased', () => {
    const expected: Config = {
      file: FILE,
      account: { username: 'me@example.com', domain: 'com' },
      auth: {
        passwordProviders: ['parameter', 'keyring', 'console'],
        passwordEnv: 'ICLOUD_PASSWORD',
        mfaProvider: 'console',
        cookieDirectory: join(homedir(), '.pyicloud'),
      },
      session: { cache: true, seedFromInput: true },
      notifications: {
        warnDays: 7,
        githubIssue: { enabled: false, labels: ['icloud-photos'], assignees: [] },
        webhook: { format: 'json' },
      },
      photos: {
        folderStructure: '{:%Y/%m/%d}',
        size: ['original'],
        livePhotoSize: 'original',
        livePhotoMovFilenamePolicy: 'suffix',
        alignRaw: 'as-is',
        fileMatchPolicy: 'name-size-dedup-with-suffix',
        skipVideos: false,
        skipLivePhotos: false,
        skipPhotos: false,
        forceSize: false,
        keepUnicodeInFilenames: false,
        useOsLocale: false,
        xmpSidecar: false,
        setExifDatetime: false,
        albums: [],
        library: 'PrimarySync',
        threads: 16,
        maxThrottleWait: '30m',
        dryRun: false,
        allowPartialBackup: false,
        lockWait: 0,
        handOff: false,
        autoDelete: false,
        deleteAfterDownload: false,
        maxIcloudDeletions: 1000,
      },
    }
    expect(parseConfig(VALID, FILE)).toEqual(expected)
  })

  it('takes a byte budget as a size with a unit or as a plain number of bytes', () => {
    expect(parseConfig(`${VALID}photos:\n  max-bytes: 1000000\n`, FILE).photos.maxBytes).toBe(1000000)
    expect(parseConfig(`${VALID}photos:\n  max-bytes: 50GB\n`, FILE).photos.maxBytes).toBe('50GB')
  })

  it('explicit values win over defaults and defaults are not shared between loads', () => {
    const a = parseConfig(`${VALID}photos:\n  threads: 3\n  size: [medium, thumb]\n`, FILE)
    expect(a.photos.threads).toBe(3)
    expect(a.photos.size).toEqual(['medium', 'thumb'])
    const b = parseConfig(VALID, FILE)
    b.photos.size.push('thumb')
    expect(parseConfig(VALID, FILE).photos.size).toEqual(['original'])
  })

  it('email falls back to smtp-username for the recipient and sender (icloudpd)', () => {
    const c = parseConfig(`${VALID}notifications:\n  email:\n    smtp-username: bot@example.com\n`, FILE)
    expect(c.notifications.email).toMatchObject({
      notificationEmail: 'bot@example.com',
      notificationEmailFrom: 'bot@example.com',
      smtpHost: 'smtp.gmail.com',
      smtpPort: 587,
    })
  })
})

interface BadCase {
  name: string
  text: string
  path: string
  line: number
  column?: number
  message: RegExp
  suggestion?: string
}

const BAD: BadCase[] = [
  {
    name: 'unknown key with did-you-mean',
    text: `${VALID}photos:\n  directory: /p\n  treads: 4\n`,
    path: 'photos.treads',
    line: 5,
    column: 3,
    message: /unknown key `treads`/,
    suggestion: 'threads',
  },
  {
    name: 'unknown top-level key',
    text: `${VALID}notifcations:\n  warn-days: 3\n`,
    path: 'notifcations',
    line: 3,
    column: 1,
    message: /unknown key `notifcations`/,
    suggestion: 'notifications',
  },
  {
    name: 'key in the wrong group',
    text: `account:\n  username: me@example.com\nphotos:\n  domain: cn\n`,
    path: 'photos.domain',
    line: 4,
    message: /belongs under `account`/,
  },
  {
    name: "typo'd password provider",
    text: `${VALID}auth:\n  password-providers:\n    - parameter\n    - keyrng\n`,
    path: 'auth.password-providers[1]',
    line: 6,
    column: 7,
    message: /`keyrng` is not one of `parameter`, `env`, `keyring`/,
    suggestion: 'keyring',
  },
  {
    name: 'console not last',
    text: `${VALID}auth:\n  password-providers: [parameter, console, keyring]\n`,
    path: 'auth.password-providers[1]',
    line: 4,
    column: 35,
    message: /^`console` must be the last password provider/,
  },
  {
    name: 'console and webui together',
    text: `${VALID}auth:\n  password-providers:\n    - webui\n    - console\n`,
    path: 'auth.password-providers[1]',
    line: 6,
    message: /`console` and `webui` are mutually exclusive/,
  },
  {
    name: 'literal password',
    text: `account:\n  username: me@example.com\n  password: hunter2-secret\n`,
    path: 'account.password',
    line: 3,
    column: 3,
    message: /secrets must not be written.*`password` action input.*ICLOUD_PASSWORD/,
  },
  {
    name: 'literal smtp-password',
    text: `${VALID}notifications:\n  email:\n    smtp-username: me@example.com\n    smtp-password: s3cr3t-smtp\n`,
    path: 'notifications.email.smtp-password',
    line: 6,
    column: 5,
    message: /`smtp-password` action input.*ICLOUD_SMTP_PASSWORD/,
  },
  {
    name: 'literal webhook URL',
    text: `${VALID}notifications:\n  webhook:\n    format: ntfy\n    url: https://ntfy.sh/private-topic-xyz\n`,
    path: 'notifications.webhook.url',
    line: 6,
    message: /`webhook-url` action input.*ICLOUD_WEBHOOK_URL/,
  },
  {
    name: 'literal token',
    text: `${VALID}notifications:\n  github-issue:\n    enabled: true\n    token: ghp_abcdefabcdefabcdef\n`,
    path: 'notifications.github-issue.token',
    line: 6,
    message: /`github-token` action input.*GITHUB_TOKEN/,
  },
  {
    name: 'literal session key (camelCase spelling)',
    text: `${VALID}session:\n  sessionKey: c2VjcmV0LWtleQ==\n`,
    path: 'session.sessionKey',
    line: 4,
    message: /`session-key` action input.*ICLOUD_SESSION_KEY/,
  },
  {
    name: 'pasted session blob',
    text: `${VALID}session: eyJjb29raWVzIjoiLi4uIn0=\n`,
    path: 'session',
    line: 3,
    message: /looks like session data.*`session` action input/,
  },
  {
    name: 'bad domain',
    text: `account:\n  username: me@example.com\n  domain: de\n`,
    path: 'account.domain',
    line: 3,
    column: 11,
    message: /`de` is not one of `com`, `cn`/,
  },
  {
    name: 'wrong type: number as text',
    text: `${VALID}photos:\n  threads: eight\n`,
    path: 'photos.threads',
    line: 4,
    column: 12,
    message: /must be a whole number; it is text/,
  },
  {
    name: 'wrong type: YAML 1.1 boolean',
    text: `${VALID}photos:\n  skip-videos: yes\n`,
    path: 'photos.skip-videos',
    line: 4,
    message: /must be `true` or `false`; it is text/,
  },
  {
    name: 'wrong type: list where a mapping belongs',
    text: `${VALID}photos:\n  - directory: /p\n`,
    path: 'photos',
    line: 4,
    message: /must be a mapping of keys; it is a list/,
  },
  {
    name: 'negative threads',
    text: `${VALID}photos:\n  threads: -2\n`,
    path: 'photos.threads',
    line: 4,
    message: /must be at least 1; it is -2/,
  },
  {
    name: 'too many threads',
    text: `${VALID}photos:\n  threads: 64\n`,
    path: 'photos.threads',
    line: 4,
    message: /must be at most 32; it is 64/,
  },
  {
    name: 'empty username',
    text: `account:\n  username: ''\n`,
    path: 'account.username',
    line: 2,
    column: 13,
    message: /^must not be empty$/,
  },
  {
    name: 'missing account',
    text: `# a comment first\nphotos:\n  directory: /p\n`,
    path: 'account',
    line: 2,
    column: 1,
    message: /missing required key `account`/,
  },
  {
    name: 'account without username points at the account key',
    text: `photos:\n  directory: /p\naccount:\n  domain: cn\n`,
    path: 'account.username',
    line: 3,
    column: 1,
    message: /missing required key `username`/,
  },
  {
    name: 'duplicate size',
    text: `${VALID}photos:\n  size:\n    - original\n    - medium\n    - original\n`,
    path: 'photos.size[2]',
    line: 7,
    message: /`original` is listed twice/,
  },
  {
    name: 'bad library name',
    text: `${VALID}photos:\n  library: primarysync\n`,
    path: 'photos.library',
    line: 4,
    message: /must be `PrimarySync` or a shared library zone name/,
  },
  {
    name: 'throttle budget without a unit',
    text: `${VALID}photos:\n  max-throttle-wait: 30\n`,
    path: 'photos.max-throttle-wait',
    line: 4,
    message: /must be text; it is 30/,
  },
  {
    name: 'throttle budget that is not a duration',
    text: `${VALID}photos:\n  max-throttle-wait: half an hour\n`,
    path: 'photos.max-throttle-wait',
    line: 4,
    message: /must be a duration such as `90s`, `30m`/,
  },
  {
    name: 'byte budget that is neither a size nor a number of bytes',
    text: `${VALID}photos:\n  max-bytes: lots\n`,
    path: 'photos.max-bytes',
    line: 4,
    message: /^must be a size such as `500MB`, `50GB`/,
  },
  {
    name: 'xmp-sidecar with an S3 destination',
    text: `${VALID}photos:\n  xmp-sidecar: true\n  destination:\n    type: s3\n    bucket: b\n    region: us-east-1\n`,
    path: 'photos.xmp-sidecar',
    line: 4,
    message: /^`xmp-sidecar` edits files beside the photos, which an S3 destination does not offer yet/,
  },
  {
    name: 'byte budget that is a list',
    text: `${VALID}photos:\n  max-bytes: [1]\n`,
    path: 'photos.max-bytes',
    line: 4,
    message: /^must be text or a whole number/,
  },
  {
    name: 'byte budget of zero bytes',
    text: `${VALID}photos:\n  max-bytes: 0\n`,
    path: 'photos.max-bytes',
    line: 4,
    message: /^must be at least 1; it is 0$/,
  },
  {
    name: 'email without a recipient',
    text: `${VALID}notifications:\n  warn-days: 3\n  email:\n    smtp-host: mail.example.com\n`,
    path: 'notifications.email',
    line: 5,
    column: 3,
    message: /need a recipient/,
  },
  {
    name: 'bad webhook format',
    text: `${VALID}notifications:\n  webhook:\n    format: slak\n`,
    path: 'notifications.webhook.format',
    line: 5,
    message: /`slak` is not one of/,
    suggestion: 'slack',
  },
  {
    name: 'username that is not an email address',
    text: `account:\n  username: not-an-email\n`,
    path: 'account.username',
    line: 2,
    column: 13,
    message: /^must be an email address .*, or a phone number in international form/,
  },
  {
    name: 'username with a space is reported as that, not as a bad email',
    text: `account:\n  username: me @example.com\n`,
    path: 'account.username',
    line: 2,
    message: /^must not contain spaces$/,
  },
  {
    name: 'incomplete notification-email',
    text: `${VALID}notifications:\n  email:\n    smtp-username: me@example.com\n    notification-email: bob@\n`,
    path: 'notifications.email.notification-email',
    line: 6,
    column: 25,
    message: /^must be an email address/,
  },
  {
    name: 'bad notification-email-from',
    text: `${VALID}notifications:\n  email:\n    notification-email: me@example.com\n    notification-email-from: backup at example.com\n`,
    path: 'notifications.email.notification-email-from',
    line: 6,
    message: /^must be an email address/,
  },
  {
    name: 'smtp-username that cannot be the recipient',
    text: `${VALID}notifications:\n  email:\n    smtp-host: mail.example.com\n    smtp-username: backupuser\n`,
    path: 'notifications.email.smtp-username',
    line: 6,
    column: 20,
    message: /is not an email address, so it cannot be the recipient.*set `notification-email`/,
  },
  {
    name: 'unquoted folder structure (a YAML mapping)',
    text: `${VALID}photos:\n  folder-structure: {:%Y/%m}\n`,
    path: 'photos.folder-structure',
    line: 4,
    column: 21,
    message:
      /must be text; it is a mapping \(YAML reads a bare `\{` .*quote the value, `folder-structure: '\{:%Y\/%m\}'`\)/,
  },
  {
    name: 'unquoted folder structure that is not even YAML',
    text: `${VALID}photos:\n  folder-structure: {%Y}/{%m}\n`,
    path: '',
    line: 4,
    message: /^YAML syntax error.*quote the value, `folder-structure: '\{%Y\}\/\{%m\}'`/,
  },
  {
    name: 'YAML syntax error',
    text: `account:\n  username: me@example.com\nphotos:\n  size: [original, medium\n  threads: 2\n`,
    path: '',
    line: 5,
    message: /^YAML syntax error/,
  },
  {
    name: 'duplicate key',
    text: `account:\n  username: a@example.com\n  domain: com\n  username: b@example.com\n`,
    path: '',
    line: 4,
    column: 3,
    message: /duplicate key `username`/,
  },
  {
    name: 'tab indentation',
    text: `account:\n\tusername: me@example.com\n`,
    path: '',
    line: 2,
    message: /tabs are not allowed/,
  },
  {
    name: 'alias bomb',
    text: [
      'account:',
      '  username: me@example.com',
      'x:',
      '  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
      '  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      '  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      '  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      '',
    ].join('\n'),
    path: '',
    line: 5,
    column: 10,
    message: /aliases expand too much/,
  },
  {
    name: 'empty file',
    text: '# nothing yet\n',
    path: '',
    line: 1,
    message: /the file is empty/,
  },
]

describe('bad configs', () => {
  it.each(BAD)('$name', ({ text, path, line, column, message, suggestion }) => {
    const error = errorFor(text)
    const issue = error.issues.find((i) => i.path === path)
    expect(issue, error.message).toBeDefined()
    expect(issue!.message).toMatch(message)
    expect(issue!.file).toBe(FILE)
    expect(issue!.line).toBe(line)
    if (column !== undefined) expect(issue!.column).toBe(column)
    expect(issue!.suggestion).toBe(suggestion)
    // The error's message names the file, line, column and key for every issue.
    const where = `${FILE}:${issue!.line}:${issue!.column}: ${path ? `${path}: ` : ''}`
    expect(error.message).toContain(where)
    if (suggestion) expect(error.message).toContain(`(did you mean \`${suggestion}\`?)`)
    expect(error.code).toBe('CONFIG_INVALID')
  })

  it('accepts the Apple ID forms Apple accepts: an email address, or a phone number in international form', () => {
    for (const username of ['me@example.com', 'first.last+tag@mail.example.co.uk', '+4915112345678'])
      expect(findConfigIssues(`account:\n  username: '${username}'\n`, FILE)).toEqual([])
    for (const username of ['me@localhost', '015112345678', '@example.com'])
      expect(findConfigIssues(`account:\n  username: '${username}'\n`, FILE)).toHaveLength(1)
  })

  it('never echoes a secret value, and reports the secret instead of an unknown key', () => {
    const secrets = [
      'hunter2-secret',
      's3cr3t-smtp',
      'private-topic-xyz',
      'ghp_abcdefabcdefabcdef',
      'eyJjb29raWVzIjoiLi4uIn0=',
    ]
    for (const c of BAD.filter((b) => /literal|pasted/.test(b.name))) {
      const error = errorFor(c.text)
      for (const s of secrets) expect(error.message).not.toContain(s)
      expect(error.message).not.toMatch(/unknown key/)
    }
  })

  it('secret messages only name inputs that action.yml declares', async () => {
    const action = parse(await readFile('action.yml', 'utf8')) as { inputs: Record<string, unknown> }
    for (const c of BAD.filter((b) => /literal|pasted/.test(b.name))) {
      const named = [...errorFor(c.text).message.matchAll(/`([a-z-]+)` action input/g)].map((m) => m[1])
      expect(named.length, c.name).toBeGreaterThan(0)
      for (const input of named) expect(Object.keys(action.inputs)).toContain(input)
    }
  })

  it('reports every problem at once, in file order', () => {
    const error = errorFor(
      'account:\n  username: ""\n  domain: de\nauth:\n  mfa-provider: consol\nphotos:\n  threads: 0\n  treads: 1\n',
    )
    expect(error.issues.map((i) => [i.line, i.path])).toEqual([
      [2, 'account.username'],
      [3, 'account.domain'],
      [5, 'auth.mfa-provider'],
      [7, 'photos.threads'],
      [8, 'photos.treads'],
    ])
    expect(error.message.split('\n')[0]).toBe('Invalid configuration (5 problems):')
    expect(error.issues.find((i) => i.path === 'auth.mfa-provider')?.suggestion).toBe('console')
  })

  it('does not suggest far-fetched keys', () => {
    const issue = issueAt(`${VALID}photos:\n  xyzzy: 1\n`, 'photos.xyzzy')
    expect(issue.suggestion).toBeUndefined()
    expect(issue.message).toMatch(/allowed here: directory, folder-structure/)
  })
})

describe('files', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'config-test-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('loads a file from disk and names it in errors', async () => {
    const file = join(dir, 'ok.yml')
    await writeFile(file, VALID)
    expect((await loadConfig(file)).file).toBe(file)
    const bad = join(dir, 'bad.yml')
    await writeFile(bad, `${VALID}photos:\n  threads: 0\n`)
    await expect(loadConfig(bad)).rejects.toThrow(`${bad}:4:12: photos.threads: must be at least 1`)
  })

  it('rejects an oversized file before parsing it', async () => {
    const file = join(dir, 'big.yml')
    await writeFile(file, `${VALID}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`)
    const error = await loadConfig(file).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).issues).toEqual([
      expect.objectContaining({
        file,
        line: 1,
        column: 1,
        message: expect.stringMatching(/at most 256 KiB/),
      }),
    ])
  })

  it('reports a missing file with the path it looked at and the checkout / `config` input hint', async () => {
    const file = join(dir, 'missing.yml')
    await expect(loadConfig(file)).rejects.toThrow(`${file}:1:1: no config file at ${file}; `)
    await expect(loadConfig(file)).rejects.toThrow(
      /check out the repository before this step \(`- uses: actions\/checkout@v\d+`\), or set the `config` input/,
    )
    // The CLI has no checkout and no input: it gives its own advice.
    await expect(loadConfig(file, 'check the --config path')).rejects.toThrow(
      `no config file at ${file}; check the --config path`,
    )
  })
})

describe('checkProviderOrder', () => {
  it('accepts icloudpd-style lists', () => {
    for (const list of [
      ['parameter', 'keyring', 'console'],
      ['env'],
      ['command', 'webui'],
      ['console'],
      [],
    ]) {
      expect(checkProviderOrder(list), list.join(',')).toBeUndefined()
    }
  })

  it('rejects bad lists with one message', () => {
    expect(checkProviderOrder(['console', 'keyring'])).toMatch(
      /^`console` must be the last password provider/,
    )
    expect(checkProviderOrder(['webui', 'env'])).toMatch(/^`webui` must be the last/)
    expect(checkProviderOrder(['console', 'webui'])).toMatch(/mutually exclusive/)
    expect(checkProviderOrder(['keyring', 'keyring'])).toMatch(/listed twice/)
    expect(checkProviderOrder(['paramter'])).toMatch(
      /unknown password provider `paramter` \(did you mean `parameter`\?\)/,
    )
  })

  it('is the same message the config file gets', () => {
    const list = ['env', 'console', 'keyring']
    const issue = issueAt(
      `${VALID}auth:\n  password-providers: [${list.join(', ')}]\n`,
      'auth.password-providers[1]',
    )
    expect(issue.message).toBe(checkProviderOrder(list))
  })
})

describe('applyInputOverrides', () => {
  const base = parseConfig(`${VALID}photos:\n  directory: /from/file\n  dry-run: true\n`, FILE)

  it('action input > config file', () => {
    const c = applyInputOverrides(base, { directory: '/from/input', dryRun: false })
    expect(c.photos.directory).toBe('/from/input')
    expect(c.photos.dryRun).toBe(false)
    expect(base.photos.directory).toBe('/from/file')
    expect(base.photos.dryRun).toBe(true)
  })

  it('empty or absent inputs keep the config value', () => {
    expect(applyInputOverrides(base, { directory: '', dryRun: undefined }).photos).toEqual(base.photos)
    expect(applyInputOverrides(base, {}).photos).toEqual(base.photos)
  })

  it('the hand-off input overrides photos.hand-off both ways; absent keeps the file', () => {
    const on = parseConfig(`${VALID}photos:\n  hand-off: true\n`, FILE)
    expect(on.photos.handOff).toBe(true)
    expect(applyInputOverrides(on, { handOff: false }).photos.handOff).toBe(false)
    expect(applyInputOverrides(on, {}).photos.handOff).toBe(true)
    expect(applyInputOverrides(parseConfig(VALID, FILE), { handOff: true }).photos.handOff).toBe(true)
  })

  it('the max-duration input overrides photos.max-duration; absent keeps the file', () => {
    const file = parseConfig(`${VALID}photos:\n  max-duration: 2h\n`, FILE)
    expect(applyInputOverrides(file, { maxDuration: '5h' }).photos.maxDuration).toBe('5h')
    expect(applyInputOverrides(file, {}).photos.maxDuration).toBe('2h')
  })

  it('config file > default, and input > default', () => {
    const bare = parseConfig(VALID, FILE)
    expect(bare.photos.directory).toBeUndefined()
    expect(bare.photos.dryRun).toBe(false)
    const c = applyInputOverrides(bare, { directory: '~/Pictures', dryRun: true })
    expect(c.photos.directory).toBe(join(homedir(), 'Pictures'))
    expect(c.photos.dryRun).toBe(true)
  })
})

describe('schema', () => {
  function walk(schema: JsonSchema, path: string, visit: (s: JsonSchema, p: string) => void): void {
    visit(schema, path)
    for (const [key, sub] of Object.entries(schema.properties ?? {}))
      walk(sub, path ? `${path}.${key}` : key, visit)
  }

  it('describes every key and closes every mapping', () => {
    const raw = configSchema as JsonSchema & { additionalProperties?: unknown; $id?: string }
    expect(raw.$id).toMatch(/^https:\/\//)
    walk(configSchema, '', (s, p) => {
      expect(s.description, p).toBeTruthy()
      if (s.type === 'object')
        expect((s as { additionalProperties?: unknown }).additionalProperties, p).toBe(false)
    })
  })

  it('declares defaults that validate', () => {
    // A config holding every declared default explicitly must be accepted unchanged.
    const explicit: Record<string, unknown> = { account: { username: 'me@example.com' } }
    walk(configSchema, '', (s, p) => {
      if (s.default === undefined || s.type === 'object') return
      const keys = p.split('.')
      let node = explicit
      for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>
      node[keys[keys.length - 1]] ??= s.default
    })
    ;(explicit.notifications as Record<string, Record<string, unknown>>).email['notification-email'] =
      'me@example.com'
    const text = JSON.stringify(explicit)
    expect(findConfigIssues(text, 'defaults.json')).toEqual([])
  })
})
