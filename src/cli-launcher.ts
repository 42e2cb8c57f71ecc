#!/usr/bin/env node
/**
 * The CLI's bin (dist/cli.js): checks the Node.js version, then loads the CLI itself
 * (dist/cli-main.js, built from src/cli.ts). On an older Node the real bundle fails while loading,
 * with a stack trace; this prints one line naming the version needed and exits 1 instead. It holds
 * nothing but the check and plain syntax, so it loads even on a Node.js that is years old.
 */
import { nodeVersionProblem } from './util/node-version.js'

const problem = nodeVersionProblem(process.versions.node)
if (problem) {
  process.stderr.write(`${problem}\n`)
  process.exitCode = 1
} else {
  // A path held in a variable: the bundler leaves it to Node, so the CLI is loaded only now.
  const cli = './cli-main.js'
  await import(/* webpackIgnore: true */ cli)
}
