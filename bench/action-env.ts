/**
 * A simulated runner for the bench's runs of the real bundle (cold start, action listing): the
 * fake world with a seeded session and a config, and the environment a runner gives `node
 * dist/index.js`.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createRunner, runnerVariables, type Runner } from '../sim/runner-env.js'
import { laptopLoginAndExport, PASSWORD, startWorld, USER, type World } from '../sim/world.js'
import type { LibraryOptions } from '../sim/icloud/library.js'
import { generateSessionKey } from '../src/session-cache/blob.js'

export interface ActionBench {
  world: World
  runner: Runner
  /** Environment of one main step (fresh output/state/summary files per call). */
  env(inputs: Record<string, string>, runId: number): Promise<Record<string, string>>
  close(): Promise<void>
}

export async function prepareAction(library: LibraryOptions, photos = ''): Promise<ActionBench> {
  const runner = await createRunner()
  const world = await startWorld({ library, runnerTemp: runner.runnerTemp })
  // A random 32-byte key (what `session export` generates): no passphrase stretching at start.
  const key = generateSessionKey()
  const seed = await laptopLoginAndExport(world.icloud, { key })
  for (const d of [runner.workspace, runner.runnerTemp, runner.home]) await mkdir(d, { recursive: true })
  await mkdir(join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\n${photos}`,
  )
  const files = join(runner.root, 'files')
  await mkdir(files, { recursive: true })
  return {
    world,
    runner,
    async env(inputs, runId) {
      for (const f of ['output', 'state', 'summary']) await writeFile(join(files, f), '')
      runner.runId = runId
      const env: Record<string, string> = {
        ...runnerVariables(runner, {
          output: join(files, 'output'),
          state: join(files, 'state'),
          summary: join(files, 'summary'),
        }),
        ...world.env,
        INPUT_CONFIG: '.github/icloud-photos.yml',
        INPUT_PASSWORD: PASSWORD,
        INPUT_SESSION: seed,
        'INPUT_SESSION-KEY': key,
      }
      for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v
      return env
    },
    async close() {
      await world.close()
      await runner.cleanup()
    },
  }
}
