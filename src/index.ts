/** Action entry: one bundle serves main and post; post is recognised by the state main saved. */
import * as core from '@actions/core'
import { State } from './action/constants.js'
import { run } from './action/run.js'
import { post } from './action/post.js'

try {
  if (core.getState(State.IsPost) === 'true') await post()
  else await run()
} catch (err) {
  core.setFailed(`Unexpected error: ${(err as Error).message}`)
}
