/**
 * Runs the CLI from source (`node src/cli.ts` through the .js→.ts loader) on a real pseudo-terminal
 * (python3's pty module, see pty-relay.py), so prompts and progress bars behave as on a terminal.
 */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const LOADER = join(ROOT, 'sim/ts-loader.mjs')
const RELAY = join(ROOT, '__tests__/helpers/pty-relay.py')
const CLI = join(ROOT, 'src/cli.ts')

export const havePty = spawnSync('python3', ['-c', 'import pty']).status === 0

export interface PtyCli {
  /** Everything the terminal showed so far (escape sequences included). */
  screen(): string
  /** Sends keys, e.g. `secret\r`. */
  type(keys: string): void
  exited: Promise<number>
  /** Resolves once `text` appears on the screen at or after offset `from`. */
  waitFor(text: string, from?: number): Promise<void>
}

/** `env` is the child's whole environment besides PATH and TERM: no CI flags, so prompts are on. */
export function spawnCliOnPty(args: string[], env: Record<string, string>): PtyCli {
  const child = spawn(
    'python3',
    [
      RELAY,
      process.execPath,
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      LOADER,
      CLI,
      ...args,
    ],
    { cwd: ROOT, env: { PATH: process.env.PATH, TERM: 'xterm', ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
  )
  let screen = ''
  let errors = ''
  const listeners = new Set<() => void>()
  child.stdout.on('data', (d: Buffer) => {
    screen += d.toString()
    for (const l of listeners) l()
  })
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()))
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
  return {
    screen: () => screen,
    type: (keys) => void child.stdin.write(keys),
    exited,
    waitFor(text, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (screen.indexOf(text, from) < 0) return
          listeners.delete(check)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          child.kill()
          reject(
            new Error(
              `timed out waiting for ${JSON.stringify(text)}; screen:\n${screen}\nstderr:\n${errors}`,
            ),
          )
        }, 20_000)
        listeners.add(check)
        check()
      })
    },
  }
}
