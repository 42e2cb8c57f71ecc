/**
 * Bundle cold start: from spawning `node dist/index.js` (the action's main step, in a simulated
 * runner with a seeded session and the fake Actions cache) to the first request any fake server
 * sees. Both fakes stamp requests with Date.now() (the iCloud clock is not moved here), so the
 * spawn time is taken on the same clock.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { DIST_INDEX } from '../sim/runner-env.js'
import { prepareAction } from './action-env.js'

export interface ColdStart {
  runs: number
  /** Median over the runs, ms. */
  firstRequestMs: number
  minFirstRequestMs: number
  /** Median time to the first request to iCloud (after the cache lookup and session decrypt). */
  firstICloudMs: number
  /** Median time for `node -e 0` to start and exit: the floor any Node program pays. */
  nodeBaselineMs: number
  samples: number[]
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN
}

export function run(args: string[], env: Record<string, string>, cwd: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, cwd, stdio: 'ignore' })
    child.on('error', reject)
    child.on('close', (code) => resolve(code))
  })
}

export async function measureColdStart(runs: number): Promise<ColdStart | undefined> {
  if (!existsSync(DIST_INDEX)) return undefined
  const bench = await prepareAction({ count: 3, kinds: ['jpeg'] })
  const { world, runner } = bench
  try {
    const firsts: number[] = []
    const icloudFirsts: number[] = []
    for (let i = 0; i < runs; i++) {
      const env = await bench.env({ mode: 'check' }, 5000 + i)
      const marks = [world.icloud.server.log.length, world.cache.server.log.length]
      const t0 = Date.now()
      await run([DIST_INDEX], env, runner.workspace)
      const icloud = world.icloud.server.log.slice(marks[0]).map((e) => e.at)
      const cache = world.cache.server.log.slice(marks[1]).map((e) => e.at)
      const all = [...icloud, ...cache]
      if (!all.length) throw new Error('the bundle made no request at all')
      firsts.push(Math.min(...all) - t0)
      if (icloud.length) icloudFirsts.push(Math.min(...icloud) - t0)
    }
    const baseline: number[] = []
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now()
      await run(['-e', '0'], { PATH: process.env.PATH ?? '' }, runner.root)
      baseline.push(performance.now() - t0)
    }
    return {
      runs,
      firstRequestMs: median(firsts),
      minFirstRequestMs: Math.min(...firsts),
      firstICloudMs: median(icloudFirsts),
      nodeBaselineMs: median(baseline),
      samples: firsts,
    }
  } finally {
    await bench.close()
  }
}
