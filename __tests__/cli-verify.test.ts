/**
 * `verify` on the fake world: lists a flipped byte and a missing file without signing in, exits 1
 * with VERIFY_FAILED; `--repair` moves the damaged file aside and downloads both again.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../src/cli/program.js'
import { consoleLogin, expectNoSecrets, testIo, type TestIo } from './helpers/cli-io.js'
import { PASSWORD, startWorld, USER, type World } from '../sim/world.js'

let world: World
let tmp: string
let cookies: string

beforeEach(async () => {
  world = await startWorld({
    library: { count: 12, sharedCount: 0, seed: 8, kinds: ['jpeg', 'heic'], hiddenRate: 0, deletedRate: 0 },
  })
  tmp = await mkdtemp(join(tmpdir(), 'cli-verify-'))
  cookies = join(tmp, 'pyicloud')
})

afterEach(async () => {
  await world.close()
  await rm(tmp, { recursive: true, force: true })
})

function io(o: Parameters<typeof testIo>[0] = {}): TestIo {
  return testIo({ env: world.env, now: () => world.icloud.clock.now(), ...o })
}

/** relPath → sha256 of every photo file (dot files excluded). */
async function hashes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith('.')) continue
    const full = join(e.parentPath, e.name)
    out.set(
      relative(dir, full).split(sep).join('/'),
      createHash('sha256')
        .update(await readFile(full))
        .digest('hex'),
    )
  }
  return out
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

describe('verify', () => {
  it('finds a flipped byte and a missing file without signing in; --repair restores both', async () => {
    await login()
    const photos = join(tmp, 'photos')
    expect(await main(['sync', '-u', USER, '--cookie-directory', cookies, '-d', photos], io().io)).toBe(0)
    const good = await hashes(photos)
    const [flipped, gone] = [...good.keys()].sort()
    const buf = await readFile(join(photos, flipped!))
    buf[0]! ^= 0x80
    await writeFile(join(photos, flipped!), buf)
    await rm(join(photos, gone!))

    const signIns = world.icloud.server.log.length
    const check = io()
    expect(await main(['verify', '-d', photos], check.io)).toBe(1)
    expect(check.stdout.text).toContain(`damaged: ${flipped} (content differs`)
    expect(check.stdout.text).toContain(`missing: ${gone}`)
    expect(check.stdout.text).toMatch(/Verified \d+ files .* 2 missing or damaged\./)
    expect(check.stderr.text).toContain('error [VERIFY_FAILED]')
    expect(world.icloud.server.log.length).toBe(signIns) // no request at all

    const repair = io()
    expect(
      await main(['verify', '-u', USER, '--cookie-directory', cookies, '-d', photos, '--repair'], repair.io),
    ).toBe(0)
    expect(repair.stdout.text).toContain(`moved aside: ${flipped}.damaged`)
    const after = await hashes(photos)
    expect(after.get(`${flipped}.damaged`)).toBe(createHash('sha256').update(buf).digest('hex'))
    after.delete(`${flipped}.damaged`)
    expect(after).toEqual(good)
    expect(await main(['verify', '-d', photos], io().io)).toBe(0)
    expectNoSecrets(check.output() + repair.output(), [PASSWORD])
  })

  it('--repair with --dry-run is a usage error that moves nothing', async () => {
    const t = io()
    expect(await main(['verify', '-u', USER, '-d', join(tmp, 'p'), '--repair', '--dry-run'], t.io)).toBe(2)
    expect(t.stderr.text).toContain('exclude each other')
  })

  it('a directory without a state file is a usage error', async () => {
    const t = io()
    expect(await main(['verify', '-d', join(tmp, 'empty')], t.io)).toBe(2)
    expect(t.stderr.text).toContain('nothing to verify')
  })
})
