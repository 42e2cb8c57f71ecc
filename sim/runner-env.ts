/**
 * A simulated GitHub Actions runner for the bundled action (docker/build-push-action's idea: one
 * realistic environment instead of each test inventing its own): workspace, RUNNER_TEMP, the
 * GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files, INPUT_* variables, and post steps
 * that see main's saved state as STATE_* — exactly how the runner hands it over.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const DIST_INDEX = resolve(import.meta.dirname, '../dist/index.js')

export interface StepResult {
  code: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
}

export interface Runner {
  root: string
  workspace: string
  runnerTemp: string
  home: string
  /** Runs main then post, like one job step; returns both results. */
  job(
    inputs: Record<string, string>,
    env?: Record<string, string>,
  ): Promise<{ main: StepResult; post: StepResult }>
  step(
    kind: 'main' | 'post',
    inputs: Record<string, string>,
    env?: Record<string, string>,
    state?: Record<string, string>,
    /** `onSpawn` gets the step's process, e.g. to send it a signal (cancel tests). */
    o?: { onSpawn?: (child: ChildProcess) => void },
  ): Promise<StepResult>
  /** Starts the next "run": new run id, fresh RUNNER_TEMP and HOME (hosted runners start empty). */
  nextRun(o?: { keepDisk?: boolean }): Promise<void>
  runId: number
  cleanup(): Promise<void>
}

/** Parses the `name<<DELIM\nvalue\nDELIM` file format of GITHUB_OUTPUT and GITHUB_STATE. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]!)
    if (m) {
      const [, name, delim] = m
      const value: string[] = []
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]!)
      out[name!] = value.join('\n')
    } else if (lines[i]!.includes('=')) {
      const [name, ...rest] = lines[i]!.split('=')
      out[name!] = rest.join('=')
    }
  }
  return out
}

/** The variables a runner gives a step: workspace, run id, the command files, RUNNER_TEMP. */
export function runnerVariables(
  runner: Pick<Runner, 'home' | 'workspace' | 'runnerTemp' | 'runId'>,
  files: { output: string; state: string; summary: string },
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: runner.home,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: runner.workspace,
    GITHUB_REPOSITORY: 'octo/photos-backup',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: String(runner.runId),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    RUNNER_TEMP: runner.runnerTemp,
    RUNNER_OS: 'Linux',
  }
}

export async function createRunner(baseEnv: Record<string, string> = {}): Promise<Runner> {
  const root = await mkdtemp(join(tmpdir(), 'runner-'))
  const runner: Runner = {
    root,
    workspace: join(root, 'workspace'),
    runnerTemp: join(root, 'temp'),
    home: join(root, 'home'),
    runId: 1001,
    async nextRun(o = {}) {
      runner.runId++
      // Hosted runners start empty but at the same paths (RUNNER_TEMP is part of the cache version).
      if (!o.keepDisk) {
        await rm(runner.runnerTemp, { recursive: true, force: true })
        await rm(runner.home, { recursive: true, force: true })
      }
    },
    async step(kind, inputs, env = {}, state = {}, o = {}) {
      await mkdir(runner.workspace, { recursive: true })
      await mkdir(runner.runnerTemp, { recursive: true })
      await mkdir(runner.home, { recursive: true })
      const files = join(runner.root, `files-${runner.runId}-${kind}`)
      await mkdir(files, { recursive: true })
      const output = join(files, 'output')
      const stateFile = join(files, 'state')
      const summaryFile = join(files, 'summary')
      for (const f of [output, stateFile, summaryFile]) await writeFile(f, '')
      const childEnv: Record<string, string> = {
        ...runnerVariables(runner, { output, state: stateFile, summary: summaryFile }),
        ...baseEnv,
        ...env,
      }
      for (const [k, v] of Object.entries(inputs)) childEnv[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v
      for (const [k, v] of Object.entries(state)) childEnv[`STATE_${k}`] = v
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
        const child = spawn(process.execPath, [DIST_INDEX], { env: childEnv, cwd: runner.workspace })
        o.onSpawn?.(child)
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }))
      })
      return {
        ...r,
        outputs: parseCommandFile(await readFile(output, 'utf8')),
        state: parseCommandFile(await readFile(stateFile, 'utf8')),
        summary: await readFile(summaryFile, 'utf8'),
      }
    },
    async job(inputs, env = {}) {
      const main = await runner.step('main', inputs, env)
      const post = await runner.step('post', inputs, env, main.state)
      return { main, post }
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true })
    },
  }
  return runner
}
