#!/usr/bin/env node
/** CLI entry (bin `icloud-photos-action` → dist/cli.js): run one command line, exit with its code. */
import { main } from './cli/program.js'

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  // Everything is closed by now; should some library still hold the event loop, don't hang the shell.
  setTimeout(() => process.exit(code), 2000).unref()
})
