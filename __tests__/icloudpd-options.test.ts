/**
 * The README's "Migrating from icloudpd" table stays complete and true: every icloudpd option has a
 * row (the list below is icloudpd's command line, read from its src/icloudpd/cli.py), every row is
 * rendered, and every config key, action input and CLI flag a row names exists.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { renderIcloudpdOptions, type IcloudpdTable } from '../scripts/docs-icloudpd.mjs'
import { extractSection } from '../scripts/docs-lib.mjs'
import { buildProgram } from '../src/cli/program.js'
import { testIo } from './helpers/cli-io.js'

/** icloudpd's options (long names) at the commit the table cites: global, per-user, account. */
const ICLOUDPD_OPTIONS = [
  // global
  '--help', '--version', '--use-os-locale', '--only-print-filenames', '--log-level', '--no-progress-bar',
  '--threads-num', '--domain', '--watch-with-interval', '--telegram-token', '--telegram-chat-id',
  '--telegram-polling', '--telegram-polling-interval', '--telegram-webhook-url', '--telegram-webhook-port',
  '--password-provider', '--mfa-provider',
  // per user
  '--directory', '--auth-only', '--cookie-directory', '--size', '--live-photo-size', '--recent',
  '--until-found', '--album', '--list-albums', '--library', '--list-libraries', '--skip-videos',
  '--skip-live-photos', '--xmp-sidecar', '--force-size', '--auto-delete', '--folder-structure',
  '--set-exif-datetime', '--smtp-username', '--smtp-password', '--smtp-host', '--smtp-port',
  '--smtp-no-tls', '--notification-email', '--notification-email-from', '--notification-script',
  '--delete-after-download', '--keep-icloud-recent-days', '--dry-run', '--keep-unicode-in-filenames',
  '--live-photo-mov-filename-policy', '--align-raw', '--file-match-policy', '--skip-created-before',
  '--skip-created-after', '--skip-photos',
  // account
  '--username', '--password',
] // prettier-ignore

const table = JSON.parse(readFileSync('docs/icloudpd-options.json', 'utf8')) as IcloudpdTable
const readme = readFileSync('README.md', 'utf8')
const schema = JSON.parse(readFileSync('schemas/config.schema.json', 'utf8')) as SchemaNode
const action = parse(readFileSync('action.yml', 'utf8')) as { inputs: Record<string, unknown> }

interface SchemaNode {
  properties?: Record<string, SchemaNode>
}

function schemaHas(path: string): boolean {
  let node: SchemaNode | undefined = schema
  for (const part of path.split('.')) node = node?.properties?.[part]
  return node !== undefined && node.properties === undefined
}

/** The CLI's commands by full name ("" is the program itself, "session export"), with their long flags. */
function cliFlags(): Map<string, Set<string>> {
  const program = buildProgram(testIo().io, () => {})
  const map = new Map<string, Set<string>>()
  const global = program.options.map((o) => o.long!).concat(['--help', '--version'])
  const walk = (cmd: Command, name: string): void => {
    map.set(name, new Set([...cmd.options.map((o) => o.long!), ...global, '--help']))
    for (const sub of cmd.commands) walk(sub, name ? `${name} ${sub.name()}` : sub.name())
  }
  walk(program, '')
  return map
}

describe('icloudpd migration table', () => {
  it('has exactly one row per icloudpd option, in the order of the table', () => {
    const rows = table.options.map((o) => o.option)
    expect(new Set(rows).size).toBe(rows.length)
    expect([...rows].sort()).toEqual([...ICLOUDPD_OPTIONS].sort())
    expect(rows.length).toBe(55)
  })

  it('maps each option somewhere, or says why not — never both, never neither', () => {
    for (const o of table.options) {
      const mapped = Boolean(o.config || o.input || o.cli?.length)
      expect(mapped !== Boolean(o.unsupported), o.option).toBe(true)
      if (o.unsupported) expect(o.unsupported.length, o.option).toBeGreaterThan(20)
    }
  })

  it('names only config keys, action inputs and CLI flags that exist', () => {
    const cli = cliFlags()
    const problems: string[] = []
    for (const o of table.options) {
      if (o.config && !schemaHas(o.config)) problems.push(`${o.option}: no config key ${o.config}`)
      if (o.input && !(o.input in action.inputs)) problems.push(`${o.option}: no action input ${o.input}`)
      for (const entry of o.cli ?? []) {
        const words = entry.split(' ')
        const flag = words.at(-1)!.startsWith('-') ? words.pop() : undefined
        const command = words.join(' ')
        const flags = cli.get(command)
        if (!flags) problems.push(`${o.option}: no CLI command "${command}"`)
        else if (flag && !flags.has(flag)) problems.push(`${o.option}: "${command}" has no ${flag}`)
      }
    }
    expect(problems).toEqual([])
  })

  it('the checks above would catch a wrong key, input or flag', () => {
    expect(schemaHas('photos.directory')).toBe(true)
    expect(schemaHas('photos.no-such-key')).toBe(false)
    expect(schemaHas('photos')).toBe(false)
    const cli = cliFlags()
    expect(cli.get('sync')?.has('--album')).toBe(true)
    expect(cli.get('sync')?.has('--no-such-flag')).toBe(false)
    expect(cli.get('session export')?.has('--repo')).toBe(true)
  })

  it('is rendered into the README, one line per option (run `npm run docs` if this fails)', () => {
    const section = extractSection(readme, 'icloudpd-options')
    expect(section).toBe(renderIcloudpdOptions(table).trim())
    const lines = section!.split('\n').filter((l) => l.startsWith('| `--'))
    expect(lines.length).toBe(table.options.length)
    for (const o of table.options) expect(section, o.option).toContain(`| \`${o.option}\``)
    for (const o of table.options.filter((r) => r.unsupported))
      expect(section).toContain(`**Not supported.** ${o.unsupported!.replace(/\|/g, '\\|')}`)
  })

  it('sits in the README section that explains reusing ~/.pyicloud and a backup folder', () => {
    const migrating = readme.slice(readme.indexOf('## Migrating from icloudpd'))
    const end = migrating.indexOf('\n## ', 5)
    const text = migrating.slice(0, end)
    expect(text).toContain('<!-- icloudpd-options:start -->')
    expect(text).toContain('### Reuse your `~/.pyicloud` session')
    expect(text).toContain('### Reuse your backup folder')
  })
})
