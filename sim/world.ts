/**
 * A whole fake world for end-to-end runs and the demo: the fake iCloud (auth, setup, CloudKit,
 * content host on one server), a fake Actions cache service, and a local "laptop" sign-in that
 * produces the session blob a user would paste into the ICLOUD_SESSION secret.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFakeICloud, type FakeICloud } from './icloud/index.js'
import { mountCloudKit } from './icloud/cloudkit.js'
import { FakeLibrary, type LibraryOptions } from './icloud/library.js'
import { startFakeActionsCache } from './actions-cache.js'
import { authenticate } from '../src/icloud/auth.js'
import { readSessionFiles } from '../src/icloud/session-files.js'
import { encodeExport, encryptBundle } from '../src/session-cache/blob.js'
import type { MfaProvider } from '../src/icloud/ports.js'

export const USER = 'jdoe@example.com'
export const PASSWORD = 'correct horse battery staple'
export const REPO = 'octo/photos-backup'
export const SESSION_KEY = 'demo-session-key-0123456789abcdefghijkl'

export interface World {
  icloud: FakeICloud
  library: FakeLibrary
  cache: Awaited<ReturnType<typeof startFakeActionsCache>>
  /** Env that points the action (or CLI) at the fakes. */
  env: Record<string, string>
  close(): Promise<void>
}

export async function startWorld(
  o: { library?: LibraryOptions; runnerTemp?: string; domain?: 'com' | 'cn' } = {},
): Promise<World> {
  const icloud = await startFakeICloud({ domain: o.domain })
  icloud.addAccount({ appleId: USER, password: PASSWORD })
  const library = new FakeLibrary(o.library)
  // CloudKit answers only requests carrying a live web session cookie, as Apple does.
  mountCloudKit(icloud.server, library, {
    requireAuth: (req) => icloud.webSessionFor(req.headers) !== undefined,
  })
  const cache = await startFakeActionsCache({ runnerTemp: o.runnerTemp })
  return {
    icloud,
    library,
    cache,
    env: {
      ICLOUD_AUTH_ENDPOINT: icloud.authEndpoint,
      ICLOUD_SETUP_ENDPOINT: icloud.setupEndpoint,
      ...cache.env,
    },
    async close() {
      await icloud.close()
      await cache.close()
    },
  }
}

/** The code a person reads off their trusted device. */
export function deviceCodeReader(icloud: FakeICloud, appleId = USER): MfaProvider {
  return {
    name: 'console',
    interactive: true,
    async ask() {
      const code = icloud.deviceCode(appleId)
      if (!code) throw new Error('no code pushed')
      return { kind: 'code', code }
    },
  }
}

/** Signs in "on the laptop" (password + device code) and returns the exported session text. */
export async function laptopLoginAndExport(
  icloud: FakeICloud,
  o: { key?: string; repository?: string; appleId?: string; password?: string } = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'laptop-'))
  try {
    const appleId = o.appleId ?? USER
    const r = await authenticate({
      username: appleId,
      cookieDirectory: dir,
      endpoints: {
        domain: 'com',
        auth: icloud.authEndpoint,
        authRoot: icloud.url,
        home: 'https://www.icloud.com',
        setup: icloud.setupEndpoint,
      },
      passwordProviders: [{ name: 'console', get: async () => o.password ?? PASSWORD }],
      mfa: deviceCodeReader(icloud, appleId),
      log: { info: () => undefined, warning: () => undefined, debug: () => undefined },
    })
    await r.session.close()
    const files = await readSessionFiles(dir, appleId)
    return encodeExport(encryptBundle({ files, state: {} }, o.key ?? SESSION_KEY, o.repository ?? REPO))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
