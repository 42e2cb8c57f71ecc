/**
 * The action (dist/action.js), run by the launcher in src/index.ts in a worker thread. One bundle
 * serves main and post; post is recognised by the state main saved.
 */
import * as core from '@actions/core'
import { State } from './constants.js'
import { run } from './run.js'
import { post } from './post.js'

try {
  if (core.getState(State.IsPost) === 'true') await post()
  else await run()
} catch (err) {
  core.setFailed(`Unexpected error: ${(err as Error).message}`)
}
