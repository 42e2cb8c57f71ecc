// The examples work when copied: every channel the example config turns on gets its secret in
// every example workflow, scheduled workflows never ask for a 2FA code, the README lists every
// secret an example reads, and the bundled action (dist/index.js) in `mode: validate-config`
// reports what a copied setup would trip over (a channel without its secret, no download
// directory, a config file that is not there because the repository was not checked out).
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { channelProblems } from '../src/action/channels.js'
import type { Settings } from '../src/action/inputs.js'
import { loadConfig, parseConfig } from '../src/config/index.js'
import { createRunner, type Runner } from '../sim/runner-env.js'

interface Step {
  uses?: string
  with?: Record<string, string>
}
interface Workflow {
  on: Record<string, unknown>
  permissions?: Record<string, string>
  jobs: Record<string, { steps: Step[] }>
}

const OUR_ACTION = /^icloud-photos-action\/icloud-photos-action@v\d+$/
const EXAMPLE_CONFIG = 'examples/icloud-photos.yml'
/** Where the README's Quick start tells users to copy the example config. */
const CONFIG_PATH = '.github/icloud-photos.yml'

let workflows: { file: string; text: string; wf: Workflow; step: Step }[]

beforeAll(async () => {
  const dir = 'examples/workflows'
  workflows = await Promise.all(
    (await readdir(dir))
      .filter((f) => /\.ya?ml$/.test(f))
      .map(async (f) => {
        const text = await readFile(join(dir, f), 'utf8')
        const wf = parse(text) as Workflow
        const step = Object.values(wf.jobs)
          .flatMap((j) => j.steps)
          .find((s) => OUR_ACTION.test(s.uses ?? ''))!
        return { file: join(dir, f), text, wf, step }
      }),
  )
})

/** The settings a workflow step gives the action, with each `${{ … }}` standing for a non-empty value. */
function settingsOf(step: Step): Settings {
  const w = step.with ?? {}
  const given = (name: string, fallback = '') => ((w[name] ?? fallback) ? 'set' : undefined)
  return {
    smtpPassword: given('smtp-password'),
    webhookUrl: given('webhook-url'),
    // action.yml's default is `${{ github.token }}`.
    githubToken: given('github-token', '${{ github.token }}'),
    repository: 'octo/photos-backup',
    workspace: '/w',
  } as Settings
}

describe('example workflows with the example config', () => {
  it('every workflow reads the config the Quick start copies the example to', () => {
    // Several accounts: one copy per account, named for the matrix entry.
    const perAccount = /^\.github\/icloud-photos-\$\{\{ matrix\.account \}\}\.yml$/
    for (const { file, step, wf } of workflows) {
      const config = step.with?.config ?? CONFIG_PATH
      if (JSON.stringify(wf.jobs).includes('"matrix"')) expect(config, file).toMatch(perAccount)
      else expect(config, file).toBe(CONFIG_PATH)
    }
  })

  it('every channel the example config enables gets its secret in every workflow', async () => {
    const config = await loadConfig(EXAMPLE_CONFIG)
    // The example shows all three channels, so this checks each one.
    expect(config.notifications.email?.smtpUsername).toBeTruthy()
    expect(config.notifications.webhook.configured).toBe(true)
    expect(config.notifications.githubIssue.enabled).toBe(true)
    for (const { file, step, wf } of workflows) {
      expect(channelProblems(config, settingsOf(step)), file).toEqual([])
      expect(wf.permissions?.issues, `${file}: issues: write for the issue channel`).toBe('write')
    }
  })

  it('the check is live: a workflow without a channel secret is reported, naming the input', async () => {
    const config = await loadConfig(EXAMPLE_CONFIG)
    const { step } = workflows[0]
    for (const input of ['smtp-password', 'webhook-url', 'github-token']) {
      const without = { ...step, with: { ...step.with, [input]: '' } }
      const problems = channelProblems(config, settingsOf(without))
      expect(problems).toHaveLength(1)
      expect(problems[0]).toContain(`\`${input}\` input is empty`)
    }
  })

  it('scheduled workflows never ask for a 2FA code; only the workflow_dispatch re-auth asks, in an issue', async () => {
    const config = await loadConfig(EXAMPLE_CONFIG)
    // `none`: a scheduled run whose trust expired fails with MFA_REQUIRED and notifies at once.
    expect(config.auth.mfaProvider).toBe('none')
    for (const { file, wf, step } of workflows) {
      const mode = step.with?.mode ?? 'sync'
      if (wf.on.schedule) expect(mode, file).toBe('sync')
      if (mode === 'reauth') {
        expect(Object.keys(wf.on), file).toEqual(['workflow_dispatch'])
        expect(wf.permissions?.issues, file).toBe('write')
      }
    }
    expect(workflows.filter((w) => (w.step.with?.mode ?? 'sync') === 'reauth')).toHaveLength(1)
  })

  it('the README lists every secret an example reads, with where it comes from', async () => {
    const readme = await readFile('README.md', 'utf8')
    const table = readme.slice(readme.indexOf('| Secret |'))
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2)
    const listed = new Map(rows.map((r) => [/`(\w+)`/.exec(r)?.[1], r]))
    const used = new Set(workflows.flatMap((w) => [...w.text.matchAll(/secrets\.(\w+)/g)].map((m) => m[1])))
    expect(used.size).toBeGreaterThanOrEqual(5)
    for (const name of used) {
      expect(listed.get(name), `README secret row for ${name}`).toBeDefined()
      // Three columns: the secret, what uses it, where it comes from.
      expect(listed.get(name)!.split(' | ').length, name).toBeGreaterThanOrEqual(3)
    }
  })
})

describe('validate-config in the bundled action', () => {
  let runner: Runner
  beforeAll(async () => {
    runner = await createRunner()
  })
  afterAll(async () => {
    await runner.cleanup()
  })

  async function useConfig(text?: string): Promise<void> {
    await mkdir(join(runner.workspace, '.github'), { recursive: true })
    const target = join(runner.workspace, CONFIG_PATH)
    if (text === undefined) await copyFile(EXAMPLE_CONFIG, target)
    else await writeFile(target, text)
  }
  const validate = (inputs: Record<string, string> = {}) =>
    runner.step('main', { config: CONFIG_PATH, mode: 'validate-config', ...inputs })
  const warnings = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('::warning'))

  it('the example config with the hosted workflow’s inputs is valid, with no warning', async () => {
    await useConfig()
    const hosted = workflows.find((w) => basename(w.file) === 'backup-hosted.yml')!
    // The runner fills in action.yml's default `github-token: ${{ github.token }}`; secrets get dummies.
    const given = { 'github-token': '${{ github.token }}', ...hosted.step.with }
    const inputs = Object.fromEntries(
      Object.entries(given).map(([k, v]) => [k, String(v).includes('${{') ? `dummy-${k}` : String(v)]),
    )
    const r = await validate(inputs)
    expect(r.code, r.stdout).toBe(0)
    expect(r.stdout).toContain(`${CONFIG_PATH} is valid.`)
    expect(warnings(r.stdout)).toEqual([])
  })

  it('warns about each channel enabled without its secret, naming the input, and still passes', async () => {
    await useConfig()
    const r = await validate({ 'github-token': 'ghs_dummy' })
    expect(r.code, r.stdout).toBe(0)
    const w = warnings(r.stdout)
    expect(w).toHaveLength(2)
    expect(w[0]).toMatch(/Email notifications are configured.*`smtp-password` input is empty/)
    expect(w[1]).toMatch(/Webhook notifications are configured.*`webhook-url` input is empty/)
  })

  it('a sync with no download directory is reported; the `directory` input settles it', async () => {
    await useConfig('account:\n  username: me@example.com\nphotos:\n  threads: 2\n')
    const r = await validate()
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(
      /::error file=\.github\/icloud-photos\.yml,line=3,.*photos: no download directory: `mode: sync` needs `photos\.directory` in this file or the `directory` input/,
    )
    expect(r.outputs['error-code']).toBe('CONFIG_INVALID')
    const ok = await validate({ directory: '/srv/photos' })
    expect(ok.code, ok.stdout).toBe(0)
  })

  it('a missing config file names the path it looked at and says to check out the repository', async () => {
    const r = await validate({ config: '.github/nope.yml' })
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`no config file at ${join(runner.workspace, '.github/nope.yml')}`)
    expect(r.stdout).toMatch(/check out the repository before this step \(`- uses: actions\/checkout@v\d+`\)/)
    expect(r.stdout).toMatch(/or set the `config` input/)
    expect(r.outputs['error-code']).toBe('CONFIG_INVALID')
  })

  it('a sync run warns about a channel without its secret too (before anything else can fail)', async () => {
    await useConfig('account:\n  username: me@example.com\nnotifications:\n  webhook:\n    format: ntfy\n')
    // No directory: the run stops with CONFIG_INVALID right after building the channels, offline.
    const r = await runner.step('main', { config: CONFIG_PATH, mode: 'sync' })
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/::warning::Webhook notifications are configured.*`webhook-url` input is empty/)
    expect(r.outputs['error-code']).toBe('CONFIG_INVALID')
  })
})

describe('parsing a copied config', () => {
  it('the webhook counts as configured only when the file has the group', () => {
    const base = 'account:\n  username: me@example.com\n'
    expect(parseConfig(base, CONFIG_PATH).notifications.webhook.configured).toBeUndefined()
    expect(
      parseConfig(`${base}notifications:\n  webhook:\n    format: json\n`, CONFIG_PATH).notifications.webhook
        .configured,
    ).toBe(true)
  })
})
