/**
 * Action entry, main and post alike: a small launcher that runs the action (dist/action.js, built
 * from src/action/main.ts) in a worker thread with a sized heap (see util/worker.ts). It loads
 * nothing but Node's own modules, so the process holds one copy of the action's code.
 */
import { appendFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HEAP_LIMITS, runInWorker } from './util/worker.js'

/** The workflow-command escaping of @actions/core, for the one line this launcher may print. */
const escapeData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')

function fail(message: string): void {
  process.stdout.write(`::error::${escapeData(message)}\n`)
  if (process.env.GITHUB_OUTPUT) {
    try {
      appendFileSync(process.env.GITHUB_OUTPUT, 'status=failed\nerror-code=INTERNAL\n')
    } catch {
      // The error annotation above is what matters.
    }
  }
  process.exitCode = 1
}

const end = await runInWorker(join(dirname(fileURLToPath(import.meta.url)), 'action.js'), {
  forwardSignals: true,
})
if (end.kind === 'exit') process.exitCode = end.code
else if (end.kind === 'out-of-memory') {
  fail(
    `[INTERNAL] The run used up its ${HEAP_LIMITS.maxOldGenerationSizeMb} MiB memory budget and was stopped. ` +
      'Files already downloaded are kept and the next run continues from the last saved state; ' +
      'if this repeats, please report it with the size of your library.',
  )
} else fail(`[INTERNAL] Unexpected error: ${end.error.message}`)
