/**
 * The sync's disk check (src/photos/verify.ts `checkDisk`): one stat per manifest file on every run
 * with a persistent directory. Target: under 1 s for 100,000 files. Makes N small files in a
 * day-folder layout (100 per folder), a manifest for them, then times checkDisk (page cache warm,
 * as on a runner that wrote the files; a cold cache on a spinning disk is slower and not
 * reproducible here). Runs on its own:
 *
 *   node --experimental-transform-types --no-warnings --import ./sim/ts-loader.mjs bench/disk-check.ts [files]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { emptyState } from '../src/photos/state.js'
import { checkDisk } from '../src/photos/verify.js'

export interface DiskCheckResult {
  files: number
  /** Median of the runs, ms. */
  medianMs: number
  minMs: number
  /** Median CPU time (user + system) of the check, ms: the wall time on an idle machine. */
  cpuMs: number
  runs: number
  /** 1-minute load average while measuring (a shared machine stretches the wall time). */
  load: number
}

export function measureDiskCheck(files: number, runs = 5): DiskCheckResult {
  const dir = mkdtempSync(join(tmpdir(), 'bench-disk-'))
  try {
    const state = emptyState()
    const perFolder = 100
    for (let i = 0; i < files; i++) {
      const folder = `${2000 + Math.floor(i / 36_500)}/${String(1 + (Math.floor(i / 3_000) % 12)).padStart(2, '0')}/${String(Math.floor(i / perFolder) % 1000).padStart(3, '0')}`
      if (i % perFolder === 0) mkdirSync(join(dir, folder), { recursive: true })
      const rel = `${folder}/IMG_${String(i).padStart(6, '0')}.JPG`
      const body = `photo ${i}`
      writeFileSync(join(dir, rel), body)
      state.manifest.set(`asset-${i}`, [{ relPath: rel, size: body.length, sha256: '' }])
    }
    const times: number[] = []
    const cpu: number[] = []
    for (let r = 0; r < runs; r++) {
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const { checked, problems } = checkDisk(dir, state)
      times.push(performance.now() - t0)
      const c = process.cpuUsage(c0)
      cpu.push((c.user + c.system) / 1000)
      if (checked !== files || problems.length !== 0)
        throw new Error(`disk check saw ${checked} / ${problems.length}`)
    }
    times.sort((a, b) => a - b)
    cpu.sort((a, b) => a - b)
    return {
      cpuMs: Math.round(cpu[Math.floor((runs - 1) / 2)]!),
      load: Math.round(loadavg()[0]! * 10) / 10,
      files,
      medianMs: Math.round(times[Math.floor((runs - 1) / 2)]!),
      minMs: Math.round(times[0]!),
      runs,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = Number(process.argv[2] ?? 100_000)
  const r = measureDiskCheck(files)
  console.log(
    `disk check: ${r.files} files, median ${r.medianMs} ms wall (min ${r.minMs}), ${r.cpuMs} ms CPU, over ${r.runs} runs at load ${r.load} (target < 1000 ms at 100,000)`,
  )
}
