/**
 * The real bundle listing a large library: `node dist/index.js` in a simulated runner, `mode: sync`
 * with `dry-run` (every asset listed and planned, nothing downloaded), its peak RSS taken at exit
 * by peak-rss.mjs. This is the listing-memory figure of the action as shipped, with its launcher,
 * worker and every module it loads.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DIST_INDEX, parseCommandFile } from '../sim/runner-env.js'
import { prepareAction } from './action-env.js'
import { run } from './cold-start.js'

export interface ActionListing {
  assets: number
  /** Files the dry run would download. */
  planned: number
  peakRssMiB: number
  wallMs: number
}

export async function measureActionListing(count: number): Promise<ActionListing | undefined> {
  if (!existsSync(DIST_INDEX)) return undefined
  const bench = await prepareAction({ count, seed: 12, minBytes: 24, maxBytes: 64 })
  const scratch = await mkdtemp(join(tmpdir(), 'bench-action-'))
  try {
    const env = await bench.env({ mode: 'sync', 'dry-run': 'true', directory: join(scratch, 'photos') }, 7000)
    env.BENCH_PEAK_FILE = join(scratch, 'peak')
    const t0 = performance.now()
    const code = await run(
      ['--import', resolve(import.meta.dirname, 'peak-rss.mjs'), DIST_INDEX],
      env,
      bench.runner.workspace,
    )
    const wallMs = performance.now() - t0
    const outputs = parseCommandFile(await readFile(env.GITHUB_OUTPUT!, 'utf8'))
    if (code !== 0 || outputs.status !== 'ok') {
      throw new Error(
        `the action's dry run failed (exit ${code}, status ${outputs.status}, ${outputs['error-code'] ?? ''})`,
      )
    }
    return {
      assets: count,
      planned: Number(outputs.downloaded),
      peakRssMiB: Number(await readFile(env.BENCH_PEAK_FILE, 'utf8')) / 1024,
      wallMs,
    }
  } finally {
    await rm(scratch, { recursive: true, force: true })
    await bench.close()
  }
}
