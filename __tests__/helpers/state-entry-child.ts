// A child process for the state-entry size test (run with ts-loader.mjs), so its peak memory is
// measured on its own (the fake cache service stays in the test process):
//   <stateFile> <restoreTo> <tmpDir>   save <stateFile> as a state entry through the real
//   @actions/cache (env from the parent: the fake service), then restore it into <restoreTo>.
// The session key comes in ICLOUD_TEST_KEY. Prints one JSON line {save, restore, baseline, maxRssBytes}.
import { ActionsCacheBackend } from '../../src/session-cache/backend.js'
import { restoreStateEntry, saveStateEntry } from '../../src/session-cache/state-entry.js'

// Everything is imported and the crypto warmed up: what a run of the action holds before the state.
const baseline = process.resourceUsage().maxRSS * 1024
const [stateFile, restoreTo, tmpDir] = process.argv.slice(2) as [string, string, string]
const log = {
  info: () => undefined,
  notice: () => undefined,
  debug: () => undefined,
  warning: (m: string) => process.stderr.write(`warning: ${m}\n`),
}
const common = {
  backend: new ActionsCacheBackend(),
  key: process.env.ICLOUD_TEST_KEY!,
  account: 'jdoe@example.com',
  repository: 'JDoe/photos-backup',
  runnerOs: 'Linux',
  tmpDir,
  log,
}
// @actions/cache writes its progress to stdout as workflow commands; keep stdout for the answer.
const write = process.stdout.write.bind(process.stdout)
process.stdout.write = (() => true) as typeof process.stdout.write
const t0 = process.resourceUsage().maxRSS * 1024
const save = await saveStateEntry({
  ...common,
  runId: 1,
  runAttempt: 1,
  stateFile,
  extras: { handoff: { runId: '1', runAttempt: '1', base: {}, files: null } },
  now: Date.now(),
})
const afterSave = process.resourceUsage().maxRSS * 1024
const restore = await restoreStateEntry({ ...common, runId: 2, runAttempt: 1, outFile: restoreTo })
write(
  `${JSON.stringify({ save, restore, baseline, t0, afterSave, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
)
