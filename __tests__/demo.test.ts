// `npm run demo` runs the real bundle (dist/index.js) against the local fake iCloud: this runs it
// as a user would (its own process, Node's type stripping) and checks that it shows what the README
// promises — the full run, the incremental run, the expired trust with its failure, notification,
// job summary and report, and why the number of files differs from the number of assets.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, SESSION_KEY } from '../sim/world.js'

let out: string
let result: { code: number; stdout: string; stderr: string }

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'demo-'))
  // The demo's own command line (package.json `demo`), with the output in a temporary directory.
  const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { scripts: { demo: string } }
  const args = pkg.scripts.demo.split(' ').slice(1)
  result = await new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, DEMO_OUT: out } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}, 300_000)

afterAll(async () => {
  await rm(out, { recursive: true, force: true })
})

describe('npm run demo', () => {
  it('succeeds', () => {
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
  })

  it('run 1 downloads the library and explains why 200 assets give 232 files', () => {
    const run1 = result.stdout.slice(result.stdout.indexOf('── Run 1'), result.stdout.indexOf('── Run 2'))
    expect(run1).toContain('outputs: status=ok error-code=(none) downloaded=232 skipped=0 failed=0')
    expect(run1).toMatch(
      /232 files from 200 assets: 6 are hidden or in Recently Deleted .* the other 194 photos and videos give one file each .* the 38 Live Photos add their \.MOV movie .* 194 \+ 38 = 232\./,
    )
  })

  it('run 2 restores from the cache and downloads nothing', () => {
    const run2 = result.stdout.slice(result.stdout.indexOf('── Run 2'), result.stdout.indexOf('── Run 3'))
    expect(run2).toContain('Session restored from the Actions cache')
    expect(run2).toContain('downloaded=0')
    expect(run2).toContain('SRP sign-ins this run: 0')
  })

  it('run 3 (trust expired) shows MFA_REQUIRED, the failure, the notification, the summary and the report', async () => {
    const run3 = result.stdout.slice(result.stdout.indexOf('── Run 3'))
    expect(run3).toContain('status=failed error-code=MFA_REQUIRED')
    expect(run3).toMatch(
      /The run failed \(exit code 1\) with one error annotation:\n {4}\[MFA_REQUIRED\] Apple asks for a two-factor code/,
    )
    expect(run3).toMatch(
      /The webhook sink received 1 notification:\n {4}POST .* Title: iCloud Photos: two-factor sign-in needed .* Priority: high/,
    )
    expect(run3).toMatch(/What to do:/)
    expect(run3).toMatch(/## iCloud Photos backup\n[\s\S]*?\n {4}Status: ❌ failed \(MFA_REQUIRED\)/)
    const summary = join(out, 'run-3-summary.md')
    const report = join(out, 'run-3-report.json')
    expect(run3).toContain(`here: ${summary}`)
    expect(run3).toContain(`here: ${report}): status=failed errorCode=MFA_REQUIRED`)
    expect(await readFile(summary, 'utf8')).toContain('MFA_REQUIRED')
    expect(JSON.parse(await readFile(report, 'utf8'))).toMatchObject({
      status: 'failed',
      errorCode: 'MFA_REQUIRED',
    })
  })

  it('prints no secret', () => {
    for (const s of [PASSWORD, SESSION_KEY]) expect(result.stdout + result.stderr).not.toContain(s)
  })
})
