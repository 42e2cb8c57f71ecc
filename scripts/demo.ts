// `npm run demo`: the real action bundle (dist/index.js) against the local fake iCloud, three times,
// in a simulated GitHub runner: run 1 restores the session a "laptop" sign-in exported and
// downloads the whole library; run 2 (a fresh hosted runner) restores the session from the
// encrypted Actions cache and finds nothing new; run 3, a month later, finds the 2FA trust expired:
// it fails with MFA_REQUIRED and one clear message, and the webhook notification reaches a local
// sink (as ntfy would receive it). The job summary and JSON report of run 3 are kept in the output
// directory. No network beyond 127.0.0.1. DEMO_ASSETS sets the library size, DEMO_OUT the directory.
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { startWebhookSink } from '../sim/webhook-sink.ts'
import { createRunner } from '../sim/runner-env.ts'
import { laptopLoginAndExport, PASSWORD, SESSION_KEY, startWorld, USER } from '../sim/world.ts'

const ASSETS = Number(process.env.DEMO_ASSETS ?? 200)
const DAY = 86_400_000
const out = resolve(process.env.DEMO_OUT ?? '.demo')
await rm(out, { recursive: true, force: true })
await mkdir(out, { recursive: true })

const indent = (text: string, by = '    ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => (l ? `${by}${l}` : ''))
    .join('\n')

/** The job summary (HTML, as GitHub renders it) as plain text for the terminal. */
const plain = (html: string) =>
  html
    .replace(/<h2>(.*?)<\/h2>/g, '## $1\n')
    .replace(/<\/tr>/g, '\n')
    .replace(/<\/t[dh]><t[dh]>/g, ': ')
    .replace(/<[^>]+>/g, '')
    .replace(/\n{3,}/g, '\n\n')

const runner = await createRunner()
const world = await startWorld({ library: { count: ASSETS }, runnerTemp: runner.runnerTemp })
const sink = await startWebhookSink()
const photos = join(out, 'photos')
try {
  const shared = world.library.sharedZone.count
  console.log(
    `Fake iCloud at ${world.icloud.url} with a library of ${ASSETS} assets (and a shared library of ${shared}).`,
  )
  console.log(`A webhook sink at ${sink.url} stands in for ntfy.`)
  console.log('On the "laptop": signing in with password + 2FA code, then `session export`…')
  const seed = await laptopLoginAndExport(world.icloud)

  await mkdir(join(runner.workspace, '.github'), { recursive: true })
  await writeFile(
    join(runner.workspace, '.github/icloud-photos.yml'),
    `account:\n  username: ${USER}\nauth:\n  password-providers: [parameter]\n  mfa-provider: none\n` +
      `notifications:\n  webhook:\n    format: ntfy\nphotos:\n  threads: 8\n`,
  )
  const inputs = {
    config: '.github/icloud-photos.yml',
    password: PASSWORD,
    session: seed,
    'session-key': SESSION_KEY,
    'webhook-url': sink.url,
    mode: 'sync',
    directory: photos,
  }
  const env = { ...world.env, RUNNER_TEMP: runner.runnerTemp }
  const titles: Record<number, string> = {
    1: 'first scheduled run, session from the ICLOUD_SESSION secret',
    2: 'next day, fresh hosted runner',
    3: '31 days later: the 30-day 2FA trust has expired',
  }

  for (const n of [1, 2, 3]) {
    if (n > 1) await runner.nextRun()
    if (n === 3) world.icloud.clock.advance(31 * DAY)
    const srp = world.icloud.srpAttempts()
    const requests = world.icloud.server.log.length
    const hooks = sink.requests.length
    const { main, post } = await runner.job(inputs, env)
    console.log(`\n── Run ${n} (${titles[n]}) ──`)
    const interesting = main.stdout
      .split('\n')
      .filter((l) => /Session restored|Photos:|2FA trust|Signing in|nothing/.test(l))
    for (const l of interesting) console.log(`  ${l}`)
    console.log(
      `  outputs: status=${main.outputs.status} error-code=${main.outputs['error-code'] || '(none)'} downloaded=${main.outputs.downloaded ?? '-'} skipped=${main.outputs.skipped ?? '-'} failed=${main.outputs.failed ?? '-'}`,
    )
    console.log(
      `  SRP sign-ins this run: ${world.icloud.srpAttempts() - srp}; requests to the fake: ${world.icloud.server.log.length - requests}`,
    )
    console.log(
      `  post: ${post.stdout.split('\n').find((l) => /Session (saved|not saved)/.test(l)) ?? '(nothing)'}`,
    )

    if (n < 3) {
      if (main.code !== 0) {
        console.error(main.stdout, main.stderr)
        process.exitCode = 1
        break
      }
      if (n === 1) {
        const count = (await readdir(photos, { recursive: true, withFileTypes: true })).filter(
          (d) => d.isFile() && !d.name.startsWith('.'),
        ).length
        // What the library holds, from the fake itself: why N assets make M files.
        const visible = world.library.visibleAssets()
        const live = visible.filter((a) => a.fakeKind === 'live').length
        const pairs = visible.filter((a) => a.fakeKind === 'raw-pair').length
        console.log(
          `  ${count} files from ${ASSETS} assets: ${ASSETS - visible.length} are hidden or in Recently Deleted and are not downloaded (as in icloudpd); ` +
            `the other ${visible.length} photos and videos give one file each (the ${pairs} RAW+JPEG pairs only their original, as \`size: [original]\` asks); ` +
            `and the ${live} Live Photos add their .MOV movie (IMG_1234.HEIC + IMG_1234_HEVC.MOV): ${visible.length} + ${live} = ${visible.length + live}. ` +
            `The shared library's ${shared} assets are not synced (\`library: PrimarySync\`).`,
        )
        if (count !== visible.length + live) {
          console.error(`  Expected ${visible.length + live} files, found ${count}.`)
          process.exitCode = 1
        }
      }
      if (n === 2 && main.outputs.downloaded === '0')
        console.log('  Nothing new since run 1: no file was downloaded again.')
      continue
    }

    // Run 3: the failure, the notification, and where the summary and report are.
    const error = main.stdout.split('\n').find((l) => l.startsWith('::error'))
    console.log('  The run failed (exit code 1) with one error annotation:')
    console.log(indent(error?.replace(/^::error[^:]*::/, '').replace(/%0A/g, '\n') ?? '(none)'))
    const received = sink.requests.slice(hooks)
    console.log(
      `  The webhook sink received ${received.length} notification${received.length === 1 ? '' : 's'}:`,
    )
    for (const r of received) {
      console.log(
        `    ${r.method} ${r.path}  Title: ${String(r.headers.title)}  Priority: ${String(r.headers.priority)}`,
      )
      console.log(indent(r.body, '      '))
    }
    const summaryFile = join(out, 'run-3-summary.md')
    const reportFile = join(out, 'run-3-report.json')
    await writeFile(summaryFile, main.summary)
    await copyFile(main.outputs.report!, reportFile)
    const report = JSON.parse(await readFile(reportFile, 'utf8')) as { status: string; errorCode?: string }
    console.log(`  Job summary (on GitHub: the run's page; here: ${summaryFile}):`)
    console.log(indent(plain(main.summary)))
    console.log(
      `  JSON report (the \`report\` output; here: ${reportFile}): status=${report.status} errorCode=${report.errorCode}`,
    )
    if (main.code !== 1 || main.outputs['error-code'] !== 'MFA_REQUIRED' || received.length !== 1) {
      console.error('  Run 3 should fail with MFA_REQUIRED and send one notification.')
      console.error(main.stdout, main.stderr)
      process.exitCode = 1
    }
  }
  console.log(`\nThe photos are in ${photos}`)
} finally {
  await sink.close()
  await world.close()
  await runner.cleanup()
}
