import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runScript, scriptChannel } from '../src/notify/script.js'
import type { NotificationEvent } from '../src/notify/event.js'

const APPLE_ID = 'jane.doe@example.org'
const event: NotificationEvent = {
  kind: 'mfa-required',
  username: APPLE_ID,
  daysRemaining: 0,
  trustExpiresAt: '2026-05-01T08:00:00Z',
  errorCode: 'MFA_REQUIRED',
  message: 'Apple asks for a two-factor code.',
  remediation: ['Run `icloud-photos-action login` locally', 'or run the re-auth workflow'],
  runUrl: 'https://github.com/octo/photos/actions/runs/7',
  repository: 'octo/photos',
}

const posix = process.platform !== 'win32'
let dir = ''
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'notify-script-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** A node script that writes its ICLOUD_PHOTOS_* and INPUT_* environment to a JSON file. */
function envDumper(): string {
  const file = path.join(dir, 'dump.mjs')
  writeFileSync(
    file,
    `import { writeFileSync } from 'node:fs'
const picked = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(ICLOUD_PHOTOS_|INPUT_|ACTIONS_RUNTIME_TOKEN|KEEP_ME)/.test(k)))
writeFileSync(process.argv[2], JSON.stringify(picked))
`,
  )
  return file
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  'INPUT_SMTP-PASSWORD': 'hunter2',
  'INPUT_SESSION-KEY': 'k3y',
  ACTIONS_RUNTIME_TOKEN: 'rt',
  ICLOUD_PHOTOS_ERROR_CODE: 'STALE',
  KEEP_ME: 'yes',
})

describe('notification script', () => {
  it('passes the event in ICLOUD_PHOTOS_* variables and withholds the action inputs (command line)', async () => {
    const out = path.join(dir, 'env.json')
    const res = await runScript(
      { command: `"${process.execPath}" "${envDumper()}" "${out}"`, cwd: dir, env: baseEnv() },
      { ...event, kind: 'trust-expiring', daysRemaining: 5.7, errorCode: undefined },
    )
    expect(res).toEqual({ channel: 'script', ok: true, detail: 'Notification script ran successfully.' })
    const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>
    expect(env).toEqual({
      ICLOUD_PHOTOS_EVENT: 'trust-expiring',
      ICLOUD_PHOTOS_USERNAME: APPLE_ID,
      ICLOUD_PHOTOS_ACCOUNT: 'j***@e******.org',
      ICLOUD_PHOTOS_DAYS_REMAINING: '5',
      ICLOUD_PHOTOS_EXPIRES_AT: '2026-05-01T08:00:00Z',
      ICLOUD_PHOTOS_MESSAGE: 'Apple asks for a two-factor code.',
      ICLOUD_PHOTOS_SUBJECT: 'iCloud Photos: sign-in for j***@e******.org expires in 5 days',
      ICLOUD_PHOTOS_REMEDIATION: 'Run `icloud-photos-action login` locally\nor run the re-auth workflow',
      ICLOUD_PHOTOS_RUN_URL: 'https://github.com/octo/photos/actions/runs/7',
      ICLOUD_PHOTOS_REPOSITORY: 'octo/photos',
      KEEP_ME: 'yes',
    })
  })

  it.skipIf(!posix)('runs an executable file path directly, even with a space in it', async () => {
    const sub = path.join(dir, 'my scripts')
    const out = path.join(dir, 'args.txt')
    const file = path.join(sub, 'notify.sh')
    mkdirSync(sub)
    writeFileSync(
      file,
      `#!/bin/sh\nprintf '%s|%s|%s' "$ICLOUD_PHOTOS_EVENT" "$ICLOUD_PHOTOS_ERROR_CODE" "$#" > "${out}"\n`,
    )
    chmodSync(file, 0o755)
    const res = await runScript({ command: file, env: baseEnv() }, event)
    expect(res.ok).toBe(true)
    expect(readFileSync(out, 'utf8')).toBe('mfa-required|MFA_REQUIRED|0')
  })

  it('reports a non-zero exit with the code and the end of stderr, not the environment', async () => {
    const res = await scriptChannel({
      command: `"${process.execPath}" -e "console.error('first line'); console.error('smtp unreachable'); process.exit(3)"`,
      env: baseEnv(),
    }).send(event)
    expect(res).toEqual({
      channel: 'script',
      ok: false,
      detail: 'Notification script exited with code 3: first line | smtp unreachable',
    })
  })

  it.skipIf(!posix)('stops a script that runs past the timeout, with everything it started', async () => {
    const pidFile = path.join(dir, 'child.pid')
    const res = await runScript(
      {
        // The shell starts a background sleeper and waits: both must go.
        command: `sleep 30 & echo $! > "${pidFile}"; wait`,
        env: baseEnv(),
        timeoutMs: 300,
        killGraceMs: 200,
      },
      event,
    )
    expect(res).toEqual({
      channel: 'script',
      ok: false,
      detail: 'Notification script timed out after 0.3 s and was stopped.',
    })
    const pid = Number(readFileSync(pidFile, 'utf8').trim())
    expect(await gone(pid)).toBe(true)
  })

  it.skipIf(!posix)('explains a script file that is not executable', async () => {
    const file = path.join(dir, 'notify.sh')
    writeFileSync(file, '#!/bin/sh\nexit 0\n')
    chmodSync(file, 0o644)
    const res = await runScript({ command: file, env: baseEnv() }, event)
    expect(res.ok).toBe(false)
    expect(res.detail).toMatch(/not executable: run `chmod \+x`/)
  })

  it('reports a command that does not exist as a failure result', async () => {
    const res = await runScript({ command: 'definitely-not-a-command-icloud-photos', env: baseEnv() }, event)
    expect(res.ok).toBe(false)
    expect(res.detail).toMatch(/^Notification script exited with code 127/)
    expect(existsSync(path.join(dir, 'env.json'))).toBe(false)
  })
})

/** Dead, or a zombie waiting for a reaper that a container may not run. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (/^\d+ \(.*\) Z/.test(stat)) return true
    } catch {
      return true
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return false
}
