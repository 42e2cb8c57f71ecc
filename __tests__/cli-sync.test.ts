/**
 * `sync` on the fake world (auth + CloudKit + content host): after `login`, the same engine as the
 * action downloads the library; a second run finds nothing new; a dry run writes nothing.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../src/cli/program.js'
import { consoleLogin, expectNoSecrets, testIo, type TestIo } from './helpers/cli-io.js'
import { havePty, spawnCliOnPty } from './helpers/cli-pty.js'
import { PASSWORD, startWorld, USER, type World } from '../sim/world.js'

let world: World
let tmp: string
let cookies: string

beforeEach(async () => {
  world = await startWorld({
    library: { count: 12, sharedCount: 0, seed: 7, kinds: ['jpeg', 'heic'], hiddenRate: 0, deletedRate: 0 },
  })
  tmp = await mkdtemp(join(tmpdir(), 'cli-sync-'))
  cookies = join(tmp, 'pyicloud')
})

afterEach(async () => {
  await world.close()
  await rm(tmp, { recursive: true, force: true })
})

function io(o: Parameters<typeof testIo>[0] = {}): TestIo {
  return testIo({ env: world.env, now: () => world.icloud.clock.now(), ...o })
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => join(e.parentPath, e.name))
  } catch {
    return []
  }
}

async function login(): Promise<void> {
  const t = io({ interactive: true })
  await consoleLogin(t, {
    user: USER,
    password: PASSWORD,
    cookies,
    code: () => world.icloud.deviceCode(USER),
  })
}

describe('sync', () => {
  it('downloads the library with the stored session (no new sign-in), then finds nothing new', async () => {
    await login()
    const photos = join(tmp, 'photos')
    const t = io()
    expect(
      await main(['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos, '--threads', '2'], t.io),
    ).toBe(0)
    expect(world.icloud.srpAttempts(USER)).toBe(1)
    const downloaded = await filesUnder(photos)
    expect(downloaded.length).toBeGreaterThanOrEqual(12)
    expect(t.stdout.text).toMatch(
      new RegExp(`Photos in ${photos}: ${downloaded.length} downloaded, 0 already there, 0 failed`),
    )
    expectNoSecrets(t.output(), [PASSWORD])

    const again = io()
    expect(await main(['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos], again.io)).toBe(0)
    expect(again.stdout.text).toMatch(/: 0 downloaded/)
    expect(await filesUnder(photos)).toHaveLength(downloaded.length)
  })

  it('--max-files stops at the budget with exit 0 and the files left listed; the next sync downloads exactly the rest', async () => {
    await login()
    const photos = join(tmp, 'budget')
    const args = ['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos, '--threads', '2']
    const t = io()
    expect(await main([...args, '--max-files', '3'], t.io), t.output()).toBe(0)
    expect(await filesUnder(photos)).toHaveLength(3)
    expect(t.stdout.text).toMatch(/: 3 downloaded, 0 already there, 0 failed/)
    expect(t.stdout.text).toMatch(/at least \d+ files left; the next `sync` continues\./)
    expect(t.stderr.text).toMatch(/Not backed up \(\d+\):/)
    expect(t.stderr.text).toMatch(/\(budget, 0 attempts\)/)
    expect(t.stderr.text).not.toMatch(/^error/m)
    const rest = io()
    expect(await main(args, rest.io), rest.output()).toBe(0)
    const all = await filesUnder(photos)
    expect(all.length).toBeGreaterThanOrEqual(12)
    expect(rest.stdout.text).toMatch(new RegExp(`: ${all.length - 3} downloaded, 3 already there, 0 failed`))
    const bad = io()
    expect(await main([...args, '--max-bytes', 'lots'], bad.io)).toBe(2)
    expect(bad.stderr.text).toContain('--max-bytes')
  })

  it('--dry-run writes nothing', async () => {
    await login()
    const photos = join(tmp, 'dry')
    const t = io()
    expect(
      await main(['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos, '--dry-run'], t.io),
    ).toBe(0)
    expect(t.stdout.text).toMatch(/would download/)
    expect((await filesUnder(photos)).filter((f) => !f.endsWith('.json'))).toEqual([])
  })

  it('needs a directory, and fails with MFA_REQUIRED rather than waiting when the session is gone and no one can type a code', async () => {
    const none = io()
    expect(await main(['sync', '-u', USER, '--cookie-directory', cookies], none.io)).toBe(2)
    expect(none.stderr.text).toContain('--directory is required')
    const t = io({ interactive: false })
    expect(
      await main(
        ['sync', '-u', USER, '--password', PASSWORD, '--cookie-directory', cookies, '-d', join(tmp, 'p')],
        t.io,
      ),
    ).toBe(1)
    expect(t.stderr.text).toMatch(/^error \[MFA_REQUIRED\]/m)
  })

  it.skipIf(!havePty)('shows a progress bar on a terminal', async () => {
    await login()
    const photos = join(tmp, 'tty')
    const cli = spawnCliOnPty(['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos], {
      HOME: tmp,
      ...world.env,
    })
    expect(await cli.exited).toBe(0)
    // cli-progress's bar (format from photos/progress.ts), drawn in place, then the summary line.
    expect(cli.screen()).toMatch(/photos \[[█░]+\] \d+\/\d+ \| new \d+ \| skipped \d+ \| failed 0/)
    expect(cli.screen()).toMatch(/Photos in .*: \d+ downloaded, 0 already there, 0 failed/)
    expect((await filesUnder(photos)).length).toBeGreaterThanOrEqual(12)
  })
})

describe('mainland China (domain: cn)', () => {
  it('signs in and syncs end to end against a cn account, using the CloudKit host Apple reported', async () => {
    await world.close()
    world = await startWorld({ domain: 'cn', library: { count: 6, sharedCount: 0, kinds: ['jpeg'] } })
    const t = io({ interactive: true })
    const run = main(
      ['login', '-u', USER, '--domain', 'cn', '--password', PASSWORD, '--cookie-directory', cookies],
      t.io,
    )
    await t.stderr.waitFor('Enter the 6-digit code: ')
    t.stdin.write(`${world.icloud.deviceCode(USER)}\n`)
    expect(await run).toBe(0)
    const photos = join(tmp, 'cn-photos')
    const s = io()
    const args = ['sync', '-u', USER, '--domain', 'cn', '--cookie-directory', cookies, '-d', photos]
    expect(await main(args, s.io), s.output()).toBe(0)
    expect((await filesUnder(photos)).length).toBeGreaterThanOrEqual(6)
    // The listing went to the CloudKit URL from the cn accountLogin answer.
    expect(world.icloud.count(/^ck:records\/query$/)).toBeGreaterThan(0)
    expect(world.icloud.srpAttempts(USER)).toBe(1)
  })
})
