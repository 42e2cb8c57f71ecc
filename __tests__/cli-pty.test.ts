/**
 * The real CLI process on a real pseudo-terminal (python3's pty module relays it): the console
 * provider asks `iCloud Password for U:` with input hidden, then the 2FA code, against the fake
 * iCloud. The CLI runs from source through the .js→.ts loader, as `node src/cli.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../src/cli/program.js'
import { loadSession } from '../src/icloud/session-store.js'
import { startFakeICloud, type FakeICloud } from '../sim/icloud/index.js'
import { expectNoSecrets, testIo } from './helpers/cli-io.js'
import { havePty, spawnCliOnPty } from './helpers/cli-pty.js'

const U = 'jdoe@example.com'
const PW = 'correct horse battery staple'

let fake: FakeICloud
let tmp: string
let cookies: string

beforeEach(async () => {
  fake = await startFakeICloud()
  fake.addAccount({ appleId: U, password: PW })
  tmp = await mkdtemp(join(tmpdir(), 'cli-pty-'))
  cookies = join(tmp, 'pyicloud')
})

afterEach(async () => {
  await fake.close()
  await rm(tmp, { recursive: true, force: true })
})

function spawnCli(args: string[]) {
  return spawnCliOnPty(args, {
    HOME: tmp,
    ICLOUD_AUTH_ENDPOINT: fake.authEndpoint,
    ICLOUD_SETUP_ENDPOINT: fake.setupEndpoint,
  })
}

describe.skipIf(!havePty)('console login on a pseudo-terminal', () => {
  it('asks for the password without echoing it, then the code; the session is written and valid', async () => {
    const cli = spawnCli([
      'login',
      '--username',
      U,
      '--cookie-directory',
      cookies,
      '--password-provider',
      'console',
    ])
    await cli.waitFor(`iCloud Password for ${U}: `)
    const before = cli.screen().length
    cli.type(`${PW}\r`)
    await cli.waitFor('Enter the 6-digit code: ', before)
    // Hidden input: nothing of the password reached the screen, not even asterisks.
    expect(cli.screen()).not.toContain(PW)
    expect(cli.screen().slice(before)).not.toMatch(/\*{3,}/)
    // Apple pushed to the trusted devices first and offered the SMS alternative.
    expect(cli.screen()).toContain('sms:1')
    const code = fake.deviceCode(U)!
    expect(code).toMatch(/^\d{6}$/)
    cli.type(`${code}\r`)
    expect(await cli.exited).toBe(0)
    expect(cli.screen()).toContain(`Signed in as ${U}.`)
    expect(cli.screen()).toMatch(/The 2FA trust expires on .* \(29 days left\)/)
    expect(fake.srpAttempts(U)).toBe(1)

    const loaded = await loadSession(cookies, U)
    expect(loaded.status).toBe('ok')
    // The code is echoed as the person types it (like icloudpd); the password and tokens never are.
    expectNoSecrets(cli.screen(), [PW, loaded.data.session_token, loaded.data.trust_token])

    const t = testIo({
      env: { ICLOUD_AUTH_ENDPOINT: fake.authEndpoint, ICLOUD_SETUP_ENDPOINT: fake.setupEndpoint },
    })
    expect(await main(['status', '-u', U, '--cookie-directory', cookies], t.io)).toBe(0)
  })

  it('pre-2026 2FA flow (the push trigger answers 404): the code pushed at sign-in is asked for', async () => {
    fake.twoFactorFlow = 'pre-2026'
    const cli = spawnCli(['login', '-u', U, '--cookie-directory', cookies, '--password-provider', 'console'])
    await cli.waitFor(`iCloud Password for ${U}: `)
    const before = cli.screen().length
    cli.type(`${PW}\r`)
    await cli.waitFor('Enter the 6-digit code: ', before)
    const code = fake.deviceCode(U)!
    expect(code).toMatch(/^\d{6}$/)
    cli.type(`${code}\r`)
    expect(await cli.exited).toBe(0)
    expect(cli.screen()).toContain(`Signed in as ${U}.`)
    expect(cli.screen()).not.toContain('PROTOCOL_ERROR')
    expect((await loadSession(cookies, U)).status).toBe('ok')
  })

  it('asks again after a wrong code', async () => {
    const cli = spawnCli(['login', '-u', U, '--cookie-directory', cookies, '--password-provider', 'console'])
    await cli.waitFor(`iCloud Password for ${U}: `)
    cli.type(`${PW}\r`)
    await cli.waitFor('Enter the 6-digit code: ')
    const code = fake.deviceCode(U)!
    const before = cli.screen().length
    cli.type(`${code === '000000' ? '111111' : '000000'}\r`)
    await cli.waitFor('Incorrect verification code.', before)
    await cli.waitFor('Enter the 6-digit code: ', before)
    cli.type(`${code}\r`)
    expect(await cli.exited).toBe(0)
    expect(cli.screen()).toContain(`Signed in as ${U}.`)
  })
})
