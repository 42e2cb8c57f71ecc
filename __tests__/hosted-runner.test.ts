// Issue #18 item 6: on a GitHub-hosted runner, photos written to a directory vanish with the job.
// `validate-config` and every run that downloads say so in one warning — unless hand-off mode says
// a later step uploads them (its commit rule then applies) or the destination is not a directory.
// The bundled action (dist/index.js) in the simulated runner, with both runner kinds.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostedRunnerWarning, stateInCache, stateInDestination } from '../src/action/state-step.js'
import { parseConfig, type Config } from '../src/config/index.js'
import { createRunner, type Runner } from '../sim/runner-env.js'

const CONFIG_PATH = '.github/icloud-photos.yml'
const configText = (handOff: boolean) =>
  `account:\n  username: jdoe@example.com\nauth:\n  mfa-provider: none\nphotos:\n  directory: /tmp/photos\n  hand-off: ${handOff}\nnotifications:\n  github-issue:\n    enabled: false\n`
const VANISH =
  /::warning title=Not a backup::This job runs on a GitHub-hosted runner.*vanish when the job ends/

describe('the hosted-runner warning in the bundled action', () => {
  let runner: Runner
  beforeAll(async () => {
    runner = await createRunner()
    await mkdir(join(runner.workspace, '.github'), { recursive: true })
  })
  afterAll(async () => {
    await runner.cleanup()
  })

  const cases = (['github-hosted', 'self-hosted'] as const).flatMap((kind) =>
    [false, true].map((handOff) => ({ kind, handOff, warns: kind === 'github-hosted' && !handOff })),
  )

  it.each(cases)(
    'validate-config on $kind, hand-off $handOff → warns: $warns',
    async ({ kind, handOff, warns }) => {
      await writeFile(join(runner.workspace, CONFIG_PATH), configText(handOff))
      const r = await runner.step(
        'main',
        { config: CONFIG_PATH, mode: 'validate-config' },
        { RUNNER_ENVIRONMENT: kind },
      )
      expect(r.code, r.stdout).toBe(0)
      const lines = r.stdout.split('\n').filter((l) => VANISH.test(l))
      expect(lines).toHaveLength(warns ? 1 : 0)
      if (warns) expect(lines[0]).toMatch(/photos\.destination.*self-hosted runner.*photos\.hand-off: true/)
    },
  )

  it.each(cases)(
    'a sync run on $kind, hand-off $handOff → warns: $warns',
    async ({ kind, handOff, warns }) => {
      await writeFile(join(runner.workspace, CONFIG_PATH), configText(handOff))
      // No password and no session: the run fails at sign-in, after the config was read and judged.
      const r = await runner.step('main', { config: CONFIG_PATH, mode: 'sync' }, { RUNNER_ENVIRONMENT: kind })
      expect(r.outputs.status).toBe('failed')
      expect(r.stdout.split('\n').filter((l) => VANISH.test(l))).toHaveLength(warns ? 1 : 0)
    },
  )

  it('the `hand-off` input counts like the config key', async () => {
    await writeFile(join(runner.workspace, CONFIG_PATH), configText(false))
    const env = { RUNNER_ENVIRONMENT: 'github-hosted' }
    const r = await runner.step(
      'main',
      { config: CONFIG_PATH, mode: 'validate-config', 'hand-off': 'true' },
      env,
    )
    expect(r.code, r.stdout).toBe(0)
    expect(r.stdout).toContain('is valid.')
    expect(r.stdout).not.toMatch(VANISH)
  })
})

describe('where the download state lives', () => {
  const config = (handOff: boolean, destination?: { type: string }): Config => {
    const c = parseConfig(configText(handOff), CONFIG_PATH)
    if (destination) (c.photos as { destination?: unknown }).destination = destination
    return c
  }

  it('with the photos, except a directory in hand-off mode: its own cache entry (given a key)', () => {
    expect(stateInDestination(config(false))).toBe(true)
    expect(stateInDestination(config(true))).toBe(false)
    expect(stateInDestination(config(true, { type: 's3' }))).toBe(true) // the bucket keeps it
    expect(stateInCache(config(true), { sessionKey: 'k' })).toBe(true)
    expect(stateInCache(config(true), { sessionKey: '' })).toBe(false)
    expect(stateInCache(config(false), { sessionKey: 'k' })).toBe(false)
    expect(stateInCache(config(true, { type: 's3' }), { sessionKey: 'k' })).toBe(false)
  })

  it('an S3 destination on a hosted runner is the durable choice: no warning', () => {
    const hosted = { runnerEnvironment: 'github-hosted' }
    expect(hostedRunnerWarning(config(false), hosted)).toMatch(/vanish/)
    expect(hostedRunnerWarning(config(false, { type: 's3' }), hosted)).toBeUndefined()
    expect(hostedRunnerWarning(config(false, { type: 'directory' }), hosted)).toMatch(/vanish/)
    expect(hostedRunnerWarning(config(false), { runnerEnvironment: undefined })).toBeUndefined()
  })
})
