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

const camel = (key: string): string => key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/** A flag named like its config key (`--folder-structure` → photos.folder-structure), or `name` (icloudpd's singular `--album`). */
const flag = (group: Flag['group'], key: string, kind: Kind, name = key): Flag => ({
  attr: camel(name),
  flag: `--${name}`,
  group,
  key,
  kind,
})

const FLAGS: Flag[] = [
  flag('account', 'username', 'string'),
  flag('account', 'domain', 'string'),
  flag('auth', 'password-providers', 'list', 'password-provider'),
  flag('auth', 'mfa-provider', 'string'),
  flag('auth', 'cookie-directory', 'string'),
  flag('auth', 'password-env', 'string'),
  flag('auth', 'password-command', 'string'),
  flag('notifications', 'warn-days', 'int'),
  flag('photos', 'directory', 'string'),
  flag('photos', 'folder-structure', 'string'),
  flag('photos', 'size', 'list'),
  flag('photos', 'live-photo-size', 'string'),
  flag('photos', 'live-photo-mov-filename-policy', 'string'),
  flag('photos', 'align-raw', 'string'),
  flag('photos', 'file-match-policy', 'string'),
  flag('photos', 'skip-videos', 'bool'),
  flag('photos', 'skip-live-photos', 'bool'),
  flag('photos', 'albums', 'list', 'album'),
  flag('photos', 'library', 'string'),
  flag('photos', 'recent', 'int'),
  flag('photos', 'until-found', 'int'),
  flag('photos', 'threads', 'int'),
  flag('photos', 'dry-run', 'bool'),
  flag('photos', 'allow-partial-backup', 'bool'),
  flag('photos', 'lock-wait', 'int'),
  flag('photos', 'max-duration', 'string'),
  flag('photos', 'max-bytes', 'string'),
  flag('photos', 'max-files', 'int'),
]

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
