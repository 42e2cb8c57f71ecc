// The signal plumbing on its own: the launcher (runInWorker with forwardSignals) in a real child
// process that receives real signals, a worker that only speaks the message protocol, and the
// Cancellation the action and the CLI build on.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cancellation, isSignalMessage, type SignalMessage } from '../src/util/signals.js'

const ROOT = path.resolve(import.meta.dirname, '..')
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'signals-test-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('Cancellation', () => {
  it('the first signal aborts and fixes the exit code; a forced exit waits for the registered writes', async () => {
    const exits: number[] = []
    const c = new Cancellation((code) => exits.push(code))
    const order: string[] = []
    c.onForcedExit(async () => {
      await new Promise((r) => setTimeout(r, 50))
      order.push('written')
    })
    const removed = c.onForcedExit(async () => void order.push('removed one ran'))
    removed()
    expect(c.signal.aborted).toBe(false)
    c.handle({ type: 'signal', signal: 'SIGINT', force: false })
    expect(c.signal.aborted).toBe(true)
    expect(c.exitCode).toBe(130)
    c.handle({ type: 'signal', signal: 'SIGTERM', force: true }) // keeps the first signal's code
    await c.force('SIGTERM') // a second force does not run the writes again
    await new Promise((r) => setTimeout(r, 100))
    expect(order).toEqual(['written'])
    expect(exits).toEqual([130])
  })

  it('SIGTERM first → 143; a write that fails does not stop the exit', async () => {
    const exits: number[] = []
    const c = new Cancellation((code) => exits.push(code))
    c.onForcedExit(() => Promise.reject(new Error('disk gone')))
    await c.force('SIGTERM')
    expect(exits).toEqual([143])
  })

  it('recognises only well-formed signal messages', () => {
    const ok: SignalMessage = { type: 'signal', signal: 'SIGTERM', force: false }
    expect(isSignalMessage(ok)).toBe(true)
    for (const bad of [
      null,
      'SIGINT',
      { type: 'signal', signal: 'SIGHUP', force: false },
      { type: 'signal', signal: 'SIGINT' },
    ])
      expect(isSignalMessage(bad)).toBe(false)
  })
})

describe('runInWorker forwarding signals (the launcher of dist/index.js)', () => {
  /**
   * A launcher process whose worker stops slowly: on the first signal it only notes it; on a
   * forced one it finishes a 300 ms write, then exits with the signal's code.
   */
  async function launcher(name: string, graceMs: number) {
    const worker = path.join(dir, `${name}-worker.mjs`)
    const marker = path.join(dir, `${name}.written`)
    const log = path.join(dir, `${name}.log`)
    await writeFile(
      worker,
      `import { parentPort } from 'node:worker_threads'
import { appendFileSync, writeFileSync } from 'node:fs'
const codes = { SIGINT: 130, SIGTERM: 143 }
parentPort.postMessage('ready')
setInterval(() => {}, 1000) // busy until told
parentPort.on('message', async (m) => {
  appendFileSync(${JSON.stringify(log)}, JSON.stringify(m) + '\\n')
  if (!m.force) return
  await new Promise((r) => setTimeout(r, 300))
  writeFileSync(${JSON.stringify(marker)}, 'done')
  process.exit(codes[m.signal])
})
`,
    )
    const main = path.join(dir, `${name}-launcher.ts`)
    await writeFile(
      main,
      `import { runInWorker } from ${JSON.stringify(path.join(ROOT, 'src/util/worker.js'))}
const end = await runInWorker(${JSON.stringify(worker)}, {
  forwardSignals: true,
  graceMs: ${graceMs},
  onMessage: (m) => m === 'ready' && process.stdout.write('ready\\n'),
})
process.exitCode = end.kind === 'exit' ? end.code : 99
`,
    )
    const child = spawn(
      process.execPath,
      [
        '--experimental-transform-types',
        '--no-warnings',
        '--import',
        path.join(ROOT, 'sim/ts-loader.mjs'),
        main,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    )
    const deadline = Date.now() + 20_000
    while (!out.includes('ready')) {
      if (Date.now() > deadline) throw new Error(`launcher not ready: ${out}`)
      await new Promise((r) => setTimeout(r, 10))
    }
    const messages = () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as SignalMessage)
        : []
    return { child, exited, written: () => existsSync(marker), messages }
  }

  it('SIGINT: the worker is asked to stop, then forced after the grace period; exit 130 once the write is done', async () => {
    const l = await launcher('grace', 400)
    l.child.kill('SIGINT')
    expect(await l.exited).toEqual({ code: 130, signal: null })
    expect(l.written()).toBe(true)
    expect(l.messages()).toEqual([
      { type: 'signal', signal: 'SIGINT', force: false },
      { type: 'signal', signal: 'SIGINT', force: true },
    ])
  }, 30_000)

  it('SIGTERM then a second signal: forced at once, still after the write; exit 143', async () => {
    const l = await launcher('second', 60_000)
    l.child.kill('SIGTERM')
    while (l.messages().length < 1) await new Promise((r) => setTimeout(r, 10))
    l.child.kill('SIGINT')
    expect(await l.exited).toEqual({ code: 143, signal: null })
    expect(l.written()).toBe(true)
    expect(l.messages()).toEqual([
      { type: 'signal', signal: 'SIGTERM', force: false },
      { type: 'signal', signal: 'SIGTERM', force: true },
    ])
  }, 30_000)
})
