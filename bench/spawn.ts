/** Runs the compiled bench/child.ts (see compile.ts) in a fresh Node process and reads its result. */
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import type { ChildJob, ChildResult } from './child.js'

const root = resolve(import.meta.dirname, '..')

export function runChild(childJs: string, job: ChildJob): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [childJs, JSON.stringify(job)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`bench child (${job.kind}) exited with ${code}:\n${stderr.slice(-2000)}`))
        return
      }
      resolvePromise(JSON.parse(last) as ChildResult)
    })
  })
}
