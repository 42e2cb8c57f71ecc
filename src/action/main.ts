/**
 * The action (dist/action.js), run by the launcher in src/index.ts in a worker thread. One bundle
 * serves main and post; post is recognised by the state main saved. The launcher forwards
 * SIGINT/SIGTERM as messages (threads receive no signals): main stops and exits 130/143 after
 * writing its state; post goes on saving unless forced.
 */
import * as core from '@actions/core'
import { parentPort } from 'node:worker_threads'
import { State } from './constants.js'
import { run } from './run.js'
import { post } from './post.js'
import { Cancellation, isSignalMessage } from '../util/signals.js'

const cancel = new Cancellation()
const onMessage = (m: unknown): void => {
  if (isSignalMessage(m)) cancel.handle(m)
}
parentPort?.on('message', onMessage)
// Listening must not keep the worker alive once the step is done.
parentPort?.unref()

try {
  if (core.getState(State.IsPost) === 'true') await post()
  else await run({ cancel })
} catch (err) {
  core.setFailed(`Unexpected error: ${(err as Error).message}`)
} finally {
  parentPort?.off('message', onMessage)
}
if (cancel.exitCode !== undefined) process.exitCode = cancel.exitCode
