#!/usr/bin/env node
/**
 * CLI entry: run one command line, exit with its code. Built to dist/cli-main.js, which the bin
 * dist/cli.js (src/cli-launcher.ts) loads once it has checked the Node.js version.
 */
import { main } from './cli/program.js'

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  // Everything is closed by now; should some library still hold the event loop, don't hang the shell.
  setTimeout(() => process.exit(code), 2000).unref()
})
