// `mode: list` of the bundled action: the account's libraries (both databases) and the albums of
// `photos.library` in the job summary, the `list` output and the report; nothing is downloaded.
// Runs dist/index.js.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import reportSchema from '../schemas/report.schema.json' with { type: 'json' }
import { createRunner, type Runner } from '../sim/runner-env.js'
import { laptopLoginAndExport, PASSWORD, SESSION_KEY, startWorld, USER, type World } from '../sim/world.js'
import { SMART_FOLDERS } from '../src/photos/smart-albums.js'

let world: World
let runner: Runner

beforeAll(async () => {
  runner = await createRunner()
  world = await startWorld({
    library: { count: 8, sharedCount: 4, albums: ['Trips', 'Fête <2019>'], sharedLibraryDatabase: 'private' },
    runnerTemp: runner.runnerTemp,
  })
  await mkdir(join(runner.workspace, '.github'), { recursive: true })
}, 60_000)

afterAll(async () => {
  await world?.close()
  await runner?.cleanup()
})

async function config(library?: string): Promise<void> {
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\n` +
      (library ? `photos:\n  library: ${library}\n` : ''),
  )
}

async function report(path: string): Promise<Record<string, unknown>> {
  const r = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
  const validate = new Ajv2020({ validateFormats: false }).compile(reportSchema)
  expect(validate(r), JSON.stringify(validate.errors)).toBe(true)
  return r
}

describe('mode: list', () => {
  it('writes the libraries and albums to the summary, the list output and the report', async () => {
    await config()
    const seed = await laptopLoginAndExport(world.icloud)
    const base = { password: PASSWORD, session: seed, 'session-key': SESSION_KEY }
    const env = { ...world.env, RUNNER_TEMP: runner.runnerTemp }
    const shared = world.library.sharedZone.name
    const downloads = world.library.downloadLog.length

    const run = await runner.job({ ...base, mode: 'list' }, env)
    expect(run.main.code, run.main.stdout).toBe(0)
    const list = JSON.parse(run.main.outputs.list!) as Record<string, unknown>
    const albums = [
      ...SMART_FOLDERS.map(([name]) => ({ name, kind: 'smart' })),
      { name: 'Trips', kind: 'album' },
      { name: 'Fête <2019>', kind: 'album' },
    ]
    expect(list).toEqual({
      libraries: [
        { name: 'PrimarySync', database: 'private' },
        { name: shared, database: 'private' },
      ],
      library: 'PrimarySync',
      albums,
    })
    expect(await report(run.main.outputs.report!)).toMatchObject({
      status: 'ok',
      mode: 'list',
      catalog: list,
    })
    // The summary has both tables; album names are text, not markup.
    expect(run.main.summary).toContain(shared)
    expect(run.main.summary).toContain('Recently Deleted')
    expect(run.main.summary).toContain('Fête &lt;2019&gt;')
    expect(run.main.summary).not.toContain('<2019>')
    // Only the masking commands carry the password (so the runner hides it).
    const logged = run.main.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'))
    expect(logged.join('\n')).not.toContain(PASSWORD)
    expect(world.library.downloadLog.length).toBe(downloads)

    // The shared library's albums are the smart folders; an unknown library fails but still lists them.
    await runner.nextRun()
    await config(shared)
    const sharedRun = await runner.job({ ...base, mode: 'list' }, env)
    expect(sharedRun.main.code, sharedRun.main.stdout).toBe(0)
    expect((JSON.parse(sharedRun.main.outputs.list!) as { albums: unknown[] }).albums).toEqual(
      albums.filter((a) => a.kind === 'smart'),
    )

    await runner.nextRun()
    await config('SharedSync-TYPO')
    const bad = await runner.job({ ...base, mode: 'list' }, env)
    expect(bad.main.code).toBe(1)
    expect(bad.main.outputs['error-code']).toBe('CONFIG_INVALID')
    const partial = JSON.parse(bad.main.outputs.list!) as {
      libraries: Array<{ name: string }>
      albums: unknown[]
    }
    expect(partial.libraries.map((l) => l.name)).toEqual(['PrimarySync', shared])
    expect(partial.albums).toEqual([])
    expect(bad.main.stdout).toContain(shared)
  })
})
