// `mode: verify` of the bundled action on a self-hosted runner (persistent download directory):
// a flipped byte fails the run with VERIFY_FAILED without any request to Apple; `repair: true`
// moves the file aside and the sync in the same run downloads it again. Runs dist/index.js.
import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import reportSchema from '../schemas/report.schema.json' with { type: 'json' }
import { createRunner, type Runner } from '../sim/runner-env.js'
import { laptopLoginAndExport, PASSWORD, SESSION_KEY, startWorld, USER, type World } from '../sim/world.js'

let world: World
let runner: Runner
let photos: string

beforeAll(async () => {
  runner = await createRunner()
  world = await startWorld({ library: { count: 15 }, runnerTemp: runner.runnerTemp })
  photos = join(runner.root, 'nas', 'photos')
  await mkdir(join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\nphotos:\n  folder-structure: none\n  threads: 4\n  directory: ${JSON.stringify(photos)}\n`,
  )
}, 60_000)

afterAll(async () => {
  await world?.close()
  await runner?.cleanup()
})

function env(): Record<string, string> {
  return { ...world.env, RUNNER_TEMP: runner.runnerTemp }
}

async function hashes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith('.')) continue
    const full = join(e.parentPath, e.name)
    const digest = createHash('sha256')
      .update(await readFile(full))
      .digest('hex')
    out.set(relative(dir, full).split(sep).join('/'), digest)
  }
  return out
}

async function report(path: string): Promise<Record<string, unknown>> {
  const r = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
  const validate = new Ajv2020({ validateFormats: false }).compile(reportSchema)
  expect(validate(r), JSON.stringify(validate.errors)).toBe(true)
  return r
}

describe('mode: verify', () => {
  it('finds a flipped byte without signing in, and repair restores it in the same run', async () => {
    const seed = await laptopLoginAndExport(world.icloud)
    const base = {
      config: '.github/icloud-photos.yml',
      password: PASSWORD,
      session: seed,
      'session-key': SESSION_KEY,
    }
    const first = await runner.job({ ...base, mode: 'sync' }, env())
    expect(first.main.code, first.main.stdout).toBe(0)
    const good = await hashes(photos)
    const victim = [...good.keys()].sort()[0]!
    const buf = await readFile(join(photos, victim))
    buf[buf.length - 1]! ^= 0x01
    await writeFile(join(photos, victim), buf)

    await runner.nextRun({ keepDisk: true })
    const requests = world.icloud.server.log.length
    const check = await runner.job({ ...base, mode: 'verify' }, env())
    expect(check.main.code).toBe(1)
    expect(check.main.outputs['error-code']).toBe('VERIFY_FAILED')
    expect(check.main.stdout).toContain(`damaged: ${victim}`)
    expect(world.icloud.server.log.length).toBe(requests)
    const r1 = await report(check.main.outputs.report!)
    expect(r1).toMatchObject({
      status: 'failed',
      mode: 'verify',
      verify: { problems: [victim], movedAside: [] },
    })

    await runner.nextRun({ keepDisk: true })
    const repair = await runner.job({ ...base, mode: 'verify', repair: 'true' }, env())
    expect(repair.main.code, repair.main.stdout).toBe(0)
    expect(repair.main.outputs.downloaded).toBe('1')
    const r2 = await report(repair.main.outputs.report!)
    expect(r2).toMatchObject({
      status: 'ok',
      verify: { problems: [victim], movedAside: [`${victim}.damaged`] },
      photos: { listing: 'full' },
    })
    const after = await hashes(photos)
    expect(after.get(`${victim}.damaged`)).toBe(createHash('sha256').update(buf).digest('hex'))
    after.delete(`${victim}.damaged`)
    expect(after).toEqual(good)
  })
})
