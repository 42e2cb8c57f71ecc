/**
 * The npm package: what `npm install -g github:…` and a future `npm publish` install. The bundles are
 * committed in dist/, so an install must build nothing and pull in only what the CLI bundle leaves
 * out (the native keyring binding); the bin checks the Node.js version before loading the CLI.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MIN_NODE, nodeVersionProblem } from '../src/util/node-version.js'

const ROOT = resolve(import.meta.dirname, '..')
interface Pkg {
  name: string
  private?: boolean
  engines: { node: string }
  bin: Record<string, string>
  files: string[]
  scripts: Record<string, string>
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
  publishConfig: { access: string; provenance: boolean }
  repository: { url: string }
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Pkg
const build = readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8')

describe('package.json', () => {
  it('runs nothing on install: npm prepares git dependencies that have any of these scripts', () => {
    // pacote (npm's fetcher) runs a full `npm install`, devDependencies included, for a git
    // dependency with one of these scripts; DirFetcher then runs prepare/prepack.
    for (const s of ['build', 'prepare', 'prepack', 'preinstall', 'install', 'postinstall'])
      expect(pkg.scripts, s).not.toHaveProperty(s)
    expect(pkg.scripts.bundle).toBe('node scripts/build.mjs')
  })

  it('depends only on what the bundles leave external', () => {
    const externals = [...build.matchAll(/'-e', '([^']+)'/g)].map((m) => m[1])
    expect(externals).toEqual(['@napi-rs/keyring'])
    expect(Object.keys(pkg.dependencies)).toEqual(externals)
    // Everything the bundles contain is needed only to build them.
    for (const dep of ['undici', 'commander', 'yaml', 'ajv', 'tough-cookie', '@actions/core'])
      expect(pkg.devDependencies, dep).toHaveProperty(dep)
  })

  it('is ready to publish under its scope, with provenance, for Node.js 22.19+', () => {
    expect(pkg.name).toMatch(/^@[a-z0-9-]+\/[a-z0-9-]+$/)
    expect(pkg.private).toBeUndefined()
    expect(pkg.publishConfig).toEqual({ access: 'public', provenance: true })
    expect(pkg.engines.node).toBe(`>=${MIN_NODE}`)
    expect(pkg.bin).toEqual({ 'icloud-photos-action': 'dist/cli.js' })
    expect(pkg.repository.url).toMatch(/^git\+https:\/\/github\.com\/[^/]+\/[^/]+\.git$/)
  })

  it('packs the CLI bundles and nothing of the action or the sources', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort()
    // The CLI's own chunks (the S3 client, loaded only for a bucket) ship with it; none of the action's.
    const chunks = readdirSync(join(ROOT, 'dist'))
      .filter((f) => /^\d+\.cli-main\.js$/.test(f))
      .map((f) => `dist/${f}`)
    expect(chunks.length).toBeGreaterThan(0)
    expect(files.filter((f) => /^dist\/\d+\./.test(f))).toEqual(chunks.sort())
    expect(files.filter((f) => !/^dist\/\d+\./.test(f))).toEqual(
      [
        'CHANGELOG.md',
        'LICENSE',
        'README.md',
        'dist/cli-licenses.txt',
        'dist/cli-main.js',
        'dist/cli.js',
        'dist/package.json',
        'package.json',
      ].sort(),
    )
    // The launcher loads the CLI bundle by this name.
    expect(readFileSync(join(ROOT, 'src', 'cli-launcher.ts'), 'utf8')).toContain(`'./cli-main.js'`)
    expect(build).toContain(`{ entry: 'src/cli.ts', file: 'cli-main.js'`)
    expect(build).toContain(`{ entry: 'src/cli-launcher.ts', file: 'cli.js' }`)
  })
})

describe('Node.js version check', () => {
  it('names the version needed on an older Node, and lets 22.19+ through', () => {
    for (const v of ['20.20.2', '18.19.0', '22.18.9', '22.9.0', '16.0.0']) {
      const msg = nodeVersionProblem(v)
      expect(msg, v).toContain(`needs Node.js ${MIN_NODE} or later`)
      expect(msg, v).toContain(`this is Node.js ${v}`)
      expect(msg, v).not.toContain('\n')
    }
    for (const v of ['22.19.0', '22.23.3', '23.0.0', '24.21.0', '26.1.0'])
      expect(nodeVersionProblem(v), v).toBeUndefined()
  })

  // The machine's own Node (outside node_modules) is 20 here and in CI; the bundle's version check is
  // exercised on it when it is older than the minimum. .ci/run runs the same check on the packed CLI.
  const oldNode = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((d) => d && !d.includes('node_modules'))
    .map((d) => join(d, 'node'))
    .find((p) => {
      try {
        accessSync(p, constants.X_OK)
      } catch {
        return false
      }
      const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
      return v !== '' && nodeVersionProblem(v) !== undefined
    })

  it.runIf(oldNode && existsSync(join(ROOT, 'dist', 'cli.js')))(
    'dist/cli.js on an older Node prints one line and exits 1, no stack trace',
    () => {
      const r = spawnSync(oldNode!, [join(ROOT, 'dist', 'cli.js'), '--help'], { encoding: 'utf8' })
      expect(r.status).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toContain(`needs Node.js ${MIN_NODE} or later`)
      expect(r.stderr).not.toMatch(/\bat |Error/)
    },
  )

  it('dist/cli.js on this Node loads the CLI', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), '--version'], { encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version)
    expect(r.status).toBe(0)
  })
})
