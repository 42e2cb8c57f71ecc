import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HEAP_LIMITS, runInWorker } from '../src/util/worker.js'
import { DIST_INDEX } from '../sim/runner-env.js'

let dir: string
const script = async (name: string, body: string): Promise<string> => {
  const file = join(dir, name)
  await writeFile(file, body)
  return file
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'worker-test-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('runInWorker (the launcher of dist/index.js)', () => {
  it('ends with the process.exitCode the worker set, sharing the environment', async () => {
    const file = await script(
      'exit-code.mjs',
      "process.env.WORKER_TEST_SEEN = process.env.WORKER_TEST_IN + '!'\nprocess.exitCode = 3\n",
    )
    process.env.WORKER_TEST_IN = 'from-parent'
    try {
      expect(await runInWorker(file)).toEqual({ kind: 'exit', code: 3 })
      expect(process.env.WORKER_TEST_SEEN).toBe('from-parent!')
    } finally {
      delete process.env.WORKER_TEST_IN
      delete process.env.WORKER_TEST_SEEN
    }
  })

  it('runs the worker with the sized heap', async () => {
    const file = await script(
      'limits.mjs',
      "import { parentPort, resourceLimits } from 'node:worker_threads'\n" +
        "import v8 from 'node:v8'\n" +
        'parentPort.postMessage({ resourceLimits, limit: v8.getHeapStatistics().heap_size_limit })\n',
    )
    const seen: unknown[] = []
    expect(await runInWorker(file, { onMessage: (m) => seen.push(m) })).toEqual({ kind: 'exit', code: 0 })
    const [m] = seen as Array<{ resourceLimits: Record<string, number>; limit: number }>
    expect(m!.resourceLimits).toMatchObject(HEAP_LIMITS)
    // V8's heap limit is the two generations' caps; the process default here is several GiB.
    const mib = m!.limit / 1024 / 1024
    expect(mib).toBeGreaterThanOrEqual(HEAP_LIMITS.maxOldGenerationSizeMb)
    expect(mib).toBeLessThan(HEAP_LIMITS.maxOldGenerationSizeMb + 4 * HEAP_LIMITS.maxYoungGenerationSizeMb)
  })

  it('reports a worker that ran out of its heap, instead of taking the process down', async () => {
    const file = await script('oom.mjs', 'const keep = []\nfor (;;) keep.push(new Array(1e5).fill(1))\n')
    expect(await runInWorker(file, { resourceLimits: { maxOldGenerationSizeMb: 32 } })).toEqual({
      kind: 'out-of-memory',
    })
  })

  it('reports an exception that escaped the worker as a crash', async () => {
    const file = await script('throws.mjs', "throw new Error('boom in the worker')\n")
    const end = await runInWorker(file)
    expect(end.kind).toBe('crash')
    expect(end.kind === 'crash' && end.error.message).toBe('boom in the worker')
  })
})

describe('dist/index.js, the launcher', () => {
  /** The committed launcher beside a stand-in dist/action.js. */
  async function launch(action: string): Promise<{ code: number; stdout: string; output: string }> {
    const d = join(dir, `dist-${Math.random().toString(36).slice(2)}`)
    await mkdir(d)
    await copyFile(DIST_INDEX, join(d, 'index.js'))
    await writeFile(join(d, 'package.json'), '{ "type": "module" }\n')
    await writeFile(join(d, 'action.js'), action)
    const outFile = join(d, 'output')
    await writeFile(outFile, '')
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(d, 'index.js')],
        { env: { PATH: process.env.PATH, GITHUB_OUTPUT: outFile } },
        (err, stdout) => {
          void readFile(outFile, 'utf8').then((output) =>
            resolve({ code: (err as { code?: number } | null)?.code ?? 0, stdout, output }),
          )
        },
      )
    })
  }

  it("passes the action's output and exit code through", async () => {
    const r = await launch("process.stdout.write('::warning::from the action\\n')\nprocess.exitCode = 1\n")
    expect(r).toMatchObject({ code: 1, stdout: '::warning::from the action\n', output: '' })
  })

  it('turns an escaped exception into one error annotation and the INTERNAL error code', async () => {
    const r = await launch("throw new Error('boom\\nsecond line')\n")
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('::error::[INTERNAL] Unexpected error: boom%0Asecond line\n')
    expect(r.output).toBe('status=failed\nerror-code=INTERNAL\n')
  })
})

describe('the memory budget', () => {
  it('is the one the README names in its troubleshooting table', async () => {
    const readme = await readFile('README.md', 'utf8')
    expect(readme).toContain(`used up its ${HEAP_LIMITS.maxOldGenerationSizeMb} MiB memory budget`)
  })
})
