/**
 * Command-line flags → the same typed Config the action uses. Flags are validated by the config
 * schema itself (so `--threads 99` fails with the schema's words), then laid over the file named by
 * `--config` (flag > file > default). The password-provider rule is checked with the one shared
 * message (`checkProviderOrder`), exactly as for the config file and the action inputs.
 */
import { checkProviderOrder, isConfigError, loadConfig, parseConfig, type Config } from '../config/index.js'
import { UsageError } from './io.js'

type Kind = 'string' | 'int' | 'list' | 'bool'

interface Flag {
  /** Commander's attribute name (camelCase of the flag). */
  attr: string
  flag: string
  /** Group and key in the config file (kebab-case). */
  group: 'account' | 'auth' | 'notifications' | 'photos'
  key: string
  kind: Kind
}

const FLAGS: Flag[] = [
  { attr: 'username', flag: '--username', group: 'account', key: 'username', kind: 'string' },
  { attr: 'domain', flag: '--domain', group: 'account', key: 'domain', kind: 'string' },
  {
    attr: 'passwordProvider',
    flag: '--password-provider',
    group: 'auth',
    key: 'password-providers',
    kind: 'list',
  },
  { attr: 'mfaProvider', flag: '--mfa-provider', group: 'auth', key: 'mfa-provider', kind: 'string' },
  {
    attr: 'cookieDirectory',
    flag: '--cookie-directory',
    group: 'auth',
    key: 'cookie-directory',
    kind: 'string',
  },
  { attr: 'passwordEnv', flag: '--password-env', group: 'auth', key: 'password-env', kind: 'string' },
  {
    attr: 'passwordCommand',
    flag: '--password-command',
    group: 'auth',
    key: 'password-command',
    kind: 'string',
  },
  { attr: 'warnDays', flag: '--warn-days', group: 'notifications', key: 'warn-days', kind: 'int' },
  { attr: 'directory', flag: '--directory', group: 'photos', key: 'directory', kind: 'string' },
  {
    attr: 'folderStructure',
    flag: '--folder-structure',
    group: 'photos',
    key: 'folder-structure',
    kind: 'string',
  },
  { attr: 'size', flag: '--size', group: 'photos', key: 'size', kind: 'list' },
  {
    attr: 'livePhotoSize',
    flag: '--live-photo-size',
    group: 'photos',
    key: 'live-photo-size',
    kind: 'string',
  },
  {
    attr: 'livePhotoMovFilenamePolicy',
    flag: '--live-photo-mov-filename-policy',
    group: 'photos',
    key: 'live-photo-mov-filename-policy',
    kind: 'string',
  },
  { attr: 'alignRaw', flag: '--align-raw', group: 'photos', key: 'align-raw', kind: 'string' },
  {
    attr: 'fileMatchPolicy',
    flag: '--file-match-policy',
    group: 'photos',
    key: 'file-match-policy',
    kind: 'string',
  },
  { attr: 'skipVideos', flag: '--skip-videos', group: 'photos', key: 'skip-videos', kind: 'bool' },
  {
    attr: 'skipLivePhotos',
    flag: '--skip-live-photos',
    group: 'photos',
    key: 'skip-live-photos',
    kind: 'bool',
  },
  { attr: 'album', flag: '--album', group: 'photos', key: 'albums', kind: 'list' },
  { attr: 'library', flag: '--library', group: 'photos', key: 'library', kind: 'string' },
  { attr: 'recent', flag: '--recent', group: 'photos', key: 'recent', kind: 'int' },
  { attr: 'untilFound', flag: '--until-found', group: 'photos', key: 'until-found', kind: 'int' },
  { attr: 'threads', flag: '--threads', group: 'photos', key: 'threads', kind: 'int' },
  { attr: 'dryRun', flag: '--dry-run', group: 'photos', key: 'dry-run', kind: 'bool' },
  {
    attr: 'allowPartialBackup',
    flag: '--allow-partial-backup',
    group: 'photos',
    key: 'allow-partial-backup',
    kind: 'bool',
  },
  { attr: 'lockWait', flag: '--lock-wait', group: 'photos', key: 'lock-wait', kind: 'int' },
]

const camel = (key: string): string => key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/** Commander collector for repeatable flags; `a,b` counts as two values too. */
export function collect(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ]
}

function convert(value: unknown, kind: Kind): unknown {
  // Non-numbers stay text so the schema says "must be a whole number (it is text)".
  if (kind === 'int' && typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value)
  return value
}

function flagForPath(path: string): string {
  const [group, rest = ''] = path.split('.')
  const key = rest.replace(/\[\d+\]$/, '')
  return FLAGS.find((f) => f.group === group && f.key === key)?.flag ?? (path || 'the command line')
}

/** The password-provider list from the flags, with the shared rule applied. */
export function checkProviderFlags(list: string[] | undefined): void {
  if (!list?.length) return
  const problem = checkProviderOrder(list)
  if (problem) throw new UsageError(`--password-provider: ${problem}`)
}

/**
 * The effective configuration for a CLI command. `opts` is commander's parsed options; only flags
 * the command defines (and the user gave) are looked at.
 */
export async function resolveConfig(opts: Record<string, unknown>): Promise<Config> {
  checkProviderFlags(opts.passwordProvider as string[] | undefined)
  const overlay: Record<string, Record<string, unknown>> = {}
  const given: Flag[] = []
  for (const f of FLAGS) {
    const value = opts[f.attr]
    if (value === undefined || value === false || (Array.isArray(value) && value.length === 0)) continue
    ;(overlay[f.group] ??= {})[f.key] = convert(value, f.kind)
    given.push(f)
  }
  const base =
    typeof opts.config === 'string'
      ? await loadConfig(
          opts.config,
          'check the --config path (relative paths start in the current directory)',
        )
      : undefined
  const username = (overlay.account?.username as string | undefined) ?? base?.account.username
  if (!username) {
    throw new UsageError('--username is required (the Apple ID), unless --config names `account.username`.')
  }
  let fromFlags: Config
  try {
    fromFlags = parseConfig(
      JSON.stringify({ ...overlay, account: { ...overlay.account, username } }),
      'command line',
    )
  } catch (err) {
    if (!isConfigError(err)) throw err
    throw new UsageError(err.issues.map((i) => `${flagForPath(i.path)}: ${i.message}`).join('; '))
  }
  if (!base) return fromFlags
  for (const f of given) {
    const group = base[f.group] as unknown as Record<string, unknown>
    group[camel(f.key)] = (fromFlags[f.group] as unknown as Record<string, unknown>)[camel(f.key)]
  }
  return base
}
