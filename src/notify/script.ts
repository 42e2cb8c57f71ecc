/**
 * Run the owner's notification script (`notifications.script`) with the event in environment
 * variables, as icloudpd and kei do. The username is passed plain: the script is the owner's own.
 *
 * The configured value is either a path to an executable file (run directly, no shell, so paths
 * with spaces need no quoting) or, when no such file exists, a command line run by the shell
 * (`sh -c`, or cmd.exe on Windows). The script gets the runner's environment minus the action's
 * inputs (`INPUT_*` hold the SMTP password and session key) and the Actions runtime tokens.
 */
import { spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { maskAppleId, type NotificationEvent } from './event.js'
import { subjectOf } from './messages.js'
import type { Channel, ChannelResult } from './dispatch.js'

export interface ScriptSettings {
  /** Path to an executable, or a command line. */
  command: string
  /** Default 60 s; then the script's whole process group is stopped. */
  timeoutMs?: number
  cwd?: string
  /** Environment to start from; default process.env. */
  env?: NodeJS.ProcessEnv
  /** Between SIGTERM and SIGKILL on timeout; default 2 s. */
  killGraceMs?: number
}

const ENV_PREFIX = 'ICLOUD_PHOTOS_'
const WITHHELD = [/^INPUT_/i, /^ACTIONS_RUNTIME_TOKEN$/i, /^ACTIONS_ID_TOKEN_REQUEST_(TOKEN|URL)$/i]
const TAIL_CHARS = 500

/** The variables describing the event; unset fields are absent, not empty. */
export function scriptEnv(e: NotificationEvent): Record<string, string> {
  const vars: Record<string, string | undefined> = {
    ICLOUD_PHOTOS_EVENT: e.kind,
    ICLOUD_PHOTOS_USERNAME: e.username,
    ICLOUD_PHOTOS_ACCOUNT: maskAppleId(e.username),
    ICLOUD_PHOTOS_DAYS_REMAINING:
      e.daysRemaining === undefined ? undefined : String(Math.floor(e.daysRemaining)),
    ICLOUD_PHOTOS_EXPIRES_AT: e.trustExpiresAt,
    ICLOUD_PHOTOS_ERROR_CODE: e.errorCode,
    ICLOUD_PHOTOS_MESSAGE: e.message,
    ICLOUD_PHOTOS_SUBJECT: subjectOf(e),
    ICLOUD_PHOTOS_REMEDIATION: e.remediation.length ? e.remediation.join('\n') : undefined,
    ICLOUD_PHOTOS_RUN_URL: e.runUrl,
    ICLOUD_PHOTOS_REPOSITORY: e.repository,
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(vars)) if (v !== undefined && v !== '') out[k] = v
  return out
}

export function childEnv(base: NodeJS.ProcessEnv, e: NotificationEvent): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(base)) {
    // Stale ICLOUD_PHOTOS_* from the parent would describe some other event.
    if (v === undefined || k.toUpperCase().startsWith(ENV_PREFIX) || WITHHELD.some((re) => re.test(k)))
      continue
    env[k] = v
  }
  return { ...env, ...scriptEnv(e) }
}

/** A path to an existing file is executed directly; anything else is a shell command line. */
async function isFilePath(command: string, cwd: string): Promise<boolean> {
  try {
    return (await stat(path.resolve(cwd, command))).isFile()
  } catch {
    return false
  }
}

export async function runScript(s: ScriptSettings, event: NotificationEvent): Promise<ChannelResult> {
  const command = s.command.trim()
  if (!command) return fail('Notification script not run: the script setting is empty.')
  const cwd = s.cwd ?? process.cwd()
  const timeoutMs = s.timeoutMs ?? 60_000
  const direct = await isFilePath(command, cwd)
  const posix = process.platform !== 'win32'

  return new Promise<ChannelResult>((resolve) => {
    let stderr = ''
    let timedOut = false
    let settled = false
    let killTimer: NodeJS.Timeout | undefined
    let drainTimer: NodeJS.Timeout | undefined
    const child = spawn(direct ? path.resolve(cwd, command) : command, [], {
      cwd,
      env: childEnv(s.env ?? process.env, event),
      shell: !direct,
      stdio: ['ignore', 'ignore', 'pipe'],
      // Own process group, so a timeout stops the shell and whatever it started.
      detached: posix,
      windowsHide: true,
    })
    const finish = (r: ChannelResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(killTimer)
      clearTimeout(drainTimer)
      // Whatever of a timed-out script is still alive after SIGTERM does not get to linger.
      if (timedOut) kill('SIGKILL')
      child.stderr?.destroy()
      resolve(r)
    }
    const kill = (signal: NodeJS.Signals): void => {
      try {
        if (posix && child.pid !== undefined) process.kill(-child.pid, signal)
        else child.kill(signal)
      } catch {
        // Already gone.
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      kill('SIGTERM')
      killTimer = setTimeout(() => kill('SIGKILL'), s.killGraceMs ?? 2_000)
    }, timeoutMs)

    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-TAIL_CHARS * 2)
    })
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EACCES') {
        finish(fail('Notification script is not executable: run `chmod +x` on it, or configure `sh <path>`.'))
      } else if (err.code === 'ENOENT') {
        finish(fail('Notification script not found: check the script setting.'))
      } else finish(fail(`Notification script could not start (${err.code ?? err.name}).`))
    })
    const report = (code: number | null, signal: NodeJS.Signals | null): void => {
      const tail = tailOf(stderr)
      if (timedOut) {
        finish(
          fail(`Notification script timed out after ${Math.round(timeoutMs / 100) / 10} s and was stopped.`),
        )
      } else if (code === 0) {
        finish({ channel: 'script', ok: true, detail: 'Notification script ran successfully.' })
      } else if (code !== null) {
        finish(fail(`Notification script exited with code ${code}${tail ? `: ${tail}` : '.'}`))
      } else {
        finish(fail(`Notification script was killed by ${signal ?? 'a signal'}${tail ? `: ${tail}` : '.'}`))
      }
    }
    // 'close' waits for stderr to drain; a background process that escaped the group could hold
    // the pipe open forever, so 'exit' starts a short fallback.
    child.on('close', report)
    child.on('exit', (code, signal) => {
      drainTimer = setTimeout(() => report(code, signal), 1_000)
    })
  })
}

export function scriptChannel(s: ScriptSettings): Channel {
  return { name: 'script', send: (event) => runScript(s, event) }
}

function fail(detail: string): ChannelResult {
  return { channel: 'script', ok: false, detail }
}

function tailOf(stderr: string): string {
  const t = stderr.trim().replace(/\s*\n\s*/g, ' | ')
  return t.length > TAIL_CHARS ? '…' + t.slice(-TAIL_CHARS) : t
}
