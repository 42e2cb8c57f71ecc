/**
 * `list-albums` and `list-libraries` on the fake world (icloudpd's --list-albums / --list-libraries):
 * text like icloudpd's, and JSON.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { main } from '../src/cli/program.js'
import { SMART_FOLDERS } from '../src/photos/smart-albums.js'
import { consoleLogin, expectNoSecrets, testIo, type TestIo } from './helpers/cli-io.js'
import { PASSWORD, startWorld, USER, type World } from '../sim/world.js'
import type { LibraryOptions } from '../sim/icloud/library.js'

let world: World | undefined
let tmp: string | undefined

afterEach(async () => {
  await world?.close()
  if (tmp) await rm(tmp, { recursive: true, force: true })
  world = tmp = undefined
})

async function signedIn(library: LibraryOptions): Promise<{ w: World; cookies: string; io: () => TestIo }> {
  const w = (world = await startWorld({ library }))
  tmp = await mkdtemp(join(tmpdir(), 'cli-list-'))
  const cookies = join(tmp, 'pyicloud')
  const io = () => testIo({ env: w.env, now: () => w.icloud.clock.now() })
  await consoleLogin(testIo({ env: w.env, now: () => w.icloud.clock.now(), interactive: true }), {
    user: USER,
    password: PASSWORD,
    cookies,
    code: () => w.icloud.deviceCode(USER),
  })
  return { w, cookies, io }
}

const SMART = SMART_FOLDERS.map(([n]) => n)

describe('list-albums', () => {
  it("prints icloudpd's smart folders, then the user albums; --json gives name and kind", async () => {
    const { cookies, io } = await signedIn({ count: 10, seed: 3, albums: ['Trips', 'Jörg'] })
    const t = io()
    expect(await main(['list-albums', '-u', USER, '--cookie-directory', cookies], t.io)).toBe(0)
    expect(t.stdout.text).toBe(['Albums:', ...SMART, 'Trips', 'Jörg', ''].join('\n'))
    expectNoSecrets(t.output(), [PASSWORD])

    const j = io()
    expect(await main(['list-albums', '-u', USER, '--cookie-directory', cookies, '--json'], j.io)).toBe(0)
    const out = JSON.parse(j.stdout.text) as {
      library: string
      albums: Array<{ name: string; kind: string }>
    }
    expect(out.library).toBe('PrimarySync')
    expect(out.albums).toEqual([
      ...SMART.map((name) => ({ name, kind: 'smart' })),
      { name: 'Trips', kind: 'album' },
      { name: 'Jörg', kind: 'album' },
    ])
  })

  it('--library lists the albums of a shared library (the smart folders) and names the libraries on a typo', async () => {
    const { w, cookies, io } = await signedIn({ count: 10, sharedCount: 10, seed: 3 })
    const shared = w.library.sharedZone.name
    const t = io()
    expect(
      await main(['list-albums', '-u', USER, '--cookie-directory', cookies, '--library', shared], t.io),
    ).toBe(0)
    expect(t.stdout.text).toBe(['Albums:', ...SMART, ''].join('\n'))

    const bad = io()
    expect(
      await main(
        ['list-albums', '-u', USER, '--cookie-directory', cookies, '--library', 'SharedSync-X'],
        bad.io,
      ),
    ).toBe(2)
    expect(bad.stderr.text).toMatch(/^error \[CONFIG_INVALID\]/m)
    expect(bad.stderr.text).toContain(shared)
  })
})

describe('list-libraries', () => {
  it('prints the libraries of both databases, one per line; --json names the database', async () => {
    for (const where of ['private', 'shared'] as const) {
      const { w, cookies, io } = await signedIn({
        count: 5,
        sharedCount: 5,
        seed: 4,
        sharedLibraryDatabase: where,
      })
      const t = io()
      expect(await main(['list-libraries', '-u', USER, '--cookie-directory', cookies], t.io)).toBe(0)
      expect(t.stdout.text).toBe(`PrimarySync\n${w.library.sharedZone.name}\n`)

      const j = io()
      expect(await main(['list-libraries', '-u', USER, '--cookie-directory', cookies, '--json'], j.io)).toBe(
        0,
      )
      expect(JSON.parse(j.stdout.text)).toEqual({
        libraries: [
          { name: 'PrimarySync', database: 'private' },
          { name: w.library.sharedZone.name, database: where },
        ],
      })
      await world!.close()
      await rm(tmp!, { recursive: true, force: true })
      world = tmp = undefined
    }
  })
})
