/**
 * The icloudpd flags of `sync` on the fake world: the filters, --threads-num (accepted, ignored,
 * warned about), --only-print-filenames, --log-level and --no-progress-bar.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
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
    library: {
      count: 10,
      sharedCount: 0,
      seed: 19,
      kinds: ['jpeg', 'video'],
      hiddenRate: 0,
      deletedRate: 0,
      startDate: Date.UTC(2024, 0, 1),
      stepMs: 86_400_000,
    },
  })
  tmp = await mkdtemp(join(tmpdir(), 'filters-cli-'))
  cookies = join(tmp, 'pyicloud')
  await consoleLogin(testIo({ env: world.env, now: () => world.icloud.clock.now(), interactive: true }), {
    user: USER,
    password: PASSWORD,
    cookies,
    code: () => world.icloud.deviceCode(USER),
  })
})

afterEach(async () => {
  await world.close()
  await rm(tmp, { recursive: true, force: true })
})

function io(): TestIo {
  return testIo({ env: world.env, now: () => world.icloud.clock.now() })
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => join(e.parentPath, e.name))
      .sort()
  } catch {
    return []
  }
}

const sync = (photos: string, ...flags: string[]) => [
  'sync',
  '-u',
  USER,
  '--cookie-directory',
  cookies,
  '-d',
  photos,
  ...flags,
]

describe('sync with icloudpd flags', () => {
  it('--only-print-filenames prints the paths a sync would write, one per line, and writes nothing', async () => {
    const photos = join(tmp, 'photos')
    const t = io()
    expect(await main(sync(photos, '--only-print-filenames'), t.io), t.output()).toBe(0)
    const printed = t.stdout.text.trim().split('\n').sort()
    expect(await filesUnder(photos)).toEqual([])
    expect(t.stderr.text).toMatch(/would download/)

    const real = io()
    expect(await main(sync(photos), real.io)).toBe(0)
    expect(printed).toEqual(await filesUnder(photos))
    expect(printed).toHaveLength(10)
  })

  it('--skip-photos and --skip-created-before / --skip-created-after select what is downloaded', async () => {
    const videos = join(tmp, 'videos')
    expect(await main(sync(videos, '--skip-photos', '--folder-structure', 'none'), io().io)).toBe(0)
    const names = await filesUnder(videos)
    expect(names.length).toBeGreaterThan(0)
    expect(names.every((n) => n.endsWith('.MOV'))).toBe(true)

    // Assets 0…9 are captured on 1…10 January 2024 (UTC): keep the 3rd to the 6th.
    const dated = join(tmp, 'dated')
    const t = io()
    const flags = [
      '--skip-created-before',
      '2024-01-03T00:00:00Z',
      '--skip-created-after',
      '2024-01-06T23:59:59+00:00',
    ]
    expect(await main(sync(dated, ...flags, '--folder-structure', '{:%Y-%m-%d}'), t.io), t.output()).toBe(0)
    const days = [
      ...new Set((await filesUnder(dated)).map((f) => f.slice(dated.length + 1, dated.length + 11))),
    ]
    expect(days).toEqual(['2024-01-03', '2024-01-04', '2024-01-05', '2024-01-06'])
  })

  it('a bad --skip-created-before is a usage error naming the flag', async () => {
    const t = io()
    expect(await main(sync(join(tmp, 'p'), '--skip-created-before', 'last week'), t.io)).toBe(2)
    expect(t.stderr.text).toMatch(/--skip-created-before: `last week` is neither an ISO date/)
    const both = io()
    expect(await main(sync(join(tmp, 'p'), '--skip-photos', '--skip-videos'), both.io)).toBe(2)
    expect(both.stderr.text).toMatch(/only one of `skip-videos` and `skip-photos`/)
  })

  it('--skip-photos on the command line and skip-videos in the --config file are refused together', async () => {
    const config = join(tmp, 'config.yml')
    await writeFile(config, `account:\n  username: ${USER}\nphotos:\n  skip-videos: true\n`)
    const t = io()
    expect(await main([...sync(join(tmp, 'p'), '--skip-photos'), '--config', config], t.io)).toBe(2)
    expect(t.stderr.text).toMatch(/only one of --skip-videos and --skip-photos/)
  })

  it('--threads-num is accepted with a warning that names --threads, and changes nothing', async () => {
    const photos = join(tmp, 'threads')
    const t = io()
    expect(await main(sync(photos, '--threads-num', '3', '--threads', '2'), t.io), t.output()).toBe(0)
    expect(t.stderr.text).toMatch(
      /^warning: photos\.threads-num is deprecated and has no effect .*photos\.threads \(now 2\)/m,
    )
    expect(await filesUnder(photos)).toHaveLength(10)
    expectNoSecrets(t.output(), [PASSWORD])
  })

  it('--log-level error prints only errors; debug is --verbose', async () => {
    const quiet = io()
    expect(await main(sync(join(tmp, 'q'), '--log-level', 'error', '--threads-num', '2'), quiet.io)).toBe(0)
    expect(quiet.stderr.text).toBe('')
    expect(quiet.stdout.text).toMatch(/10 downloaded/)

    const loud = io()
    expect(await main(sync(join(tmp, 'l'), '--log-level', 'debug'), loud.io)).toBe(0)
    expect(loud.stderr.text).toMatch(/^debug: /m)
    const normal = io()
    expect(await main(sync(join(tmp, 'n'), '--threads-num', '2'), normal.io)).toBe(0)
    expect(normal.stderr.text).not.toMatch(/^debug: /m)
    expect(normal.stderr.text).toMatch(/^warning: photos\.threads-num/m)

    const bad = io()
    expect(await main(sync(join(tmp, 'b'), '--log-level', 'warning'), bad.io)).toBe(2)
  })

  it.skipIf(!havePty)('--no-progress-bar: no bar on a terminal', async () => {
    const photos = join(tmp, 'tty')
    const cli = spawnCliOnPty(sync(photos, '--no-progress-bar'), { HOME: tmp, ...world.env })
    expect(await cli.exited).toBe(0)
    expect(cli.screen()).not.toMatch(/photos \[[█░]+\]/)
    expect(cli.screen()).toMatch(/Photos in .*: 10 downloaded, 0 already there, 0 failed/)
  })
})
