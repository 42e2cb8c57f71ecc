/** In-process CLI harness: captured stdout/stderr, a writable stdin, an in-memory keyring. */
import { PassThrough, Writable } from 'node:stream'
import { expect } from 'vitest'
import type { CliIo } from '../../src/cli/io.js'
import { main } from '../../src/cli/program.js'
import { MemoryKeyring } from '../../sim/keyring.js'

/** A stream that keeps what was written and lets a test wait for text to appear. */
export class Capture extends Writable {
  text = ''
  isTTY = false
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString()
    this.emit('text')
    cb()
  }

  /** Resolves once the captured text matches (searching from `from`); rejects after `ms`. */
  waitFor(pattern: RegExp | string, from = 0, ms = 15_000): Promise<RegExpMatchArray> {
    const re =
      typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.text.slice(from).match(re)
        if (m) {
          this.off('text', check)
          clearTimeout(timer)
          resolve(m)
        }
        return Boolean(m)
      }
      const timer = setTimeout(() => {
        this.off('text', check)
        reject(new Error(`timed out waiting for ${re} in:\n${this.text}`))
      }, ms)
      if (!check()) this.on('text', check)
    })
  }
}

export interface TestIo {
  io: CliIo
  stdin: PassThrough
  stdout: Capture
  stderr: Capture
  keyring: MemoryKeyring
  /** stdout + stderr, for secret scans. */
  output(): string
}

export function testIo(o: Partial<CliIo> & { keyring?: MemoryKeyring } = {}): TestIo {
  const stdin = new PassThrough()
  const stdout = new Capture()
  const stderr = new Capture()
  const keyring = o.keyring ?? new MemoryKeyring()
  const io: CliIo = {
    stdin,
    stdout,
    stderr,
    env: {},
    now: Date.now,
    interactive: false,
    ...o,
    keyring,
  }
  return { io, stdin, stdout, stderr, keyring, output: () => stdout.text + stderr.text }
}

/** None of the secrets may appear in what the CLI printed. */
export function expectNoSecrets(output: string, secrets: (string | undefined)[]): void {
  for (const s of secrets) {
    if (!s) continue
    expect(output.includes(s), `a secret (${s.length} chars) was printed`).toBe(false)
  }
}

/**
 * `login` with the password as a parameter, typing the 2FA code the fake pushed when the console
 * asks for it; fails the test unless the session was written to `cookies`.
 */
export async function consoleLogin(
  t: TestIo,
  o: { user: string; password: string; cookies: string; code: () => string | undefined },
): Promise<void> {
  const run = main(
    [
      'login',
      '-u',
      o.user,
      '--password',
      o.password,
      '--cookie-directory',
      o.cookies,
      '--password-provider',
      'parameter',
    ],
    t.io,
  )
  await t.stderr.waitFor('Enter the 6-digit code: ')
  t.stdin.write(`${o.code()}\n`)
  expect(await run).toBe(0)
}
