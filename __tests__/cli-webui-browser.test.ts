/**
 * The webui sign-in page driven by a real browser (Debian's headless Chromium through
 * playwright-core; .ci/run installs the chromium package): a person types the password, a wrong
 * code, then the right one, and sees each state on the page.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chromium, type Browser } from 'playwright-core'
import { main } from '../src/cli/program.js'
import { loadSession } from '../src/icloud/session-store.js'
import { startFakeICloud, type FakeICloud } from '../sim/icloud/index.js'
import { expectNoSecrets, testIo } from './helpers/cli-io.js'

const CHROMIUM = '/usr/bin/chromium'
const U = 'jdoe@example.com'
const PW = 'correct horse battery staple'

let fake: FakeICloud
let tmp: string
let browser: Browser | undefined

beforeEach(async () => {
  fake = await startFakeICloud()
  fake.addAccount({ appleId: U, password: PW })
  tmp = await mkdtemp(join(tmpdir(), 'cli-webui-browser-'))
})

afterEach(async () => {
  await browser?.close()
  browser = undefined
  await fake.close()
  await rm(tmp, { recursive: true, force: true })
})

describe('webui login in a real browser', () => {
  it.skipIf(!existsSync(CHROMIUM))('password, a wrong code, then the right code', async () => {
    const env = { ICLOUD_AUTH_ENDPOINT: fake.authEndpoint, ICLOUD_SETUP_ENDPOINT: fake.setupEndpoint }
    const t = testIo({ env, webui: { lingerMs: 5000 } })
    const cookies = join(tmp, 'pyicloud')
    const run = main(
      [
        'login',
        '-u',
        U,
        '--cookie-directory',
        cookies,
        '--password-provider',
        'webui',
        '--mfa-provider',
        'webui',
      ],
      t.io,
    )
    const m = await t.stderr.waitFor(/Open (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+) in your browser/)

    // The flags a root CI machine without network needs (see the machine notes): no sandbox,
    // no background services that would try to reach the internet.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    const page = await browser.newPage()
    await page.goto(m[1]!)

    await page.locator('input[type="password"]').fill(PW)
    await page.locator('input[type="password"]').press('Enter')

    const codeBox = page.locator('input[name="code"]')
    await codeBox.waitFor({ timeout: 20_000 }).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\nPAGE:\n${await page.content()}\nCLI:\n${t.output()}`)
    })
    const code = fake.deviceCode(U)!
    await codeBox.fill(code === '000000' ? '111111' : '000000')
    await codeBox.press('Enter')
    await page.getByText('Incorrect verification code.').waitFor({ timeout: 20_000 })

    await page.locator('input[name="code"]').fill(code)
    await page.locator('input[name="code"]').press('Enter')
    await page.getByText(`Signed in as ${U}.`).waitFor({ timeout: 20_000 })
    const html = await page.content()

    expect(await run).toBe(0)
    expect((await loadSession(cookies, U)).status).toBe('ok')
    expect(fake.srpAttempts(U)).toBe(1)
    expectNoSecrets(t.output() + html, [PW, code])
  })
})
