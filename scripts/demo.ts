// `npm run demo`: the real action bundle (dist/index.js) against the local fake iCloud, twice, in a
// simulated GitHub runner: run 1 restores the session a "laptop" sign-in exported and downloads the
// whole library; run 2 (a fresh hosted runner) restores the session from the encrypted Actions cache
// and finds nothing new. No network beyond 127.0.0.1.
import { mkdir, rm, writeFile, readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createRunner } from '../__tests__/helpers/runner-env.ts'
import { laptopLoginAndExport, PASSWORD, SESSION_KEY, startWorld, USER } from '../__tests__/helpers/world.ts'

const ASSETS = Number(process.env.DEMO_ASSETS ?? 200)
const out = resolve('.demo')
await rm(out, { recursive: true, force: true })
await mkdir(out, { recursive: true })

const runner = await createRunner()
const world = await startWorld({ library: { count: ASSETS }, runnerTemp: runner.runnerTemp })
const photos = join(out, 'photos')
try {
  console.log(`Fake iCloud at ${world.icloud.url} with a library of ${ASSETS} assets (+ a shared library).`)
  console.log('On the "laptop": signing in with password + 2FA code, then `session export`…')
  const seed = await laptopLoginAndExport(world.icloud)

  await mkdir(join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\nphotos:\n  threads: 8\n`,
  )
  const inputs = {
    config: '.github/icloud-photos.yml',
    password: PASSWORD,
    session: seed,
    'session-key': SESSION_KEY,
    mode: 'sync',
    directory: photos,
  }
  const env = { ...world.env, RUNNER_TEMP: runner.runnerTemp }

  for (const n of [1, 2]) {
    if (n === 2) await runner.nextRun()
    const srp = world.icloud.srpAttempts()
    const requests = world.icloud.server.log.length
    const { main, post } = await runner.job(inputs, env)
    const interesting = main.stdout
      .split('\n')
      .filter((l) => /Session restored|Photos:|2FA trust|nothing|::error|::warning/.test(l))
    console.log(
      `\n── Run ${n} (${n === 1 ? 'first scheduled run, session from the ICLOUD_SESSION secret' : 'next day, fresh hosted runner'}) ──`,
    )
    for (const l of interesting) console.log(`  ${l}`)
    console.log(
      `  outputs: status=${main.outputs.status} downloaded=${main.outputs.downloaded} skipped=${main.outputs.skipped} failed=${main.outputs.failed}`,
    )
    console.log(
      `  SRP sign-ins this run: ${world.icloud.srpAttempts() - srp}; requests to the fake: ${world.icloud.server.log.length - requests}`,
    )
    console.log(
      `  post: ${post.stdout.split('\n').find((l) => /Session (saved|not saved)/.test(l)) ?? '(nothing)'}`,
    )
    if (main.code !== 0) {
      console.error(main.stdout, main.stderr)
      process.exitCode = 1
      break
    }
    if (n === 2 && main.outputs.downloaded === '0')
      console.log('  Nothing new since run 1: no file was downloaded again.')
  }
  const count = (await readdir(photos, { recursive: true, withFileTypes: true })).filter(
    (d) => d.isFile() && !d.name.startsWith('.'),
  ).length
  console.log(`\n${count} files are in ${photos}`)
} finally {
  await world.close()
  await runner.cleanup()
}
