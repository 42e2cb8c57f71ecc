// A child process for the outcomes tests (run with ts-loader.mjs, possibly as another user):
//   lock <dir> <waitMs>   take the directory lock, print `locked`, hold it until stdin says `release`
//   auth <cookieDir>      sign in with the session in <cookieDir> (no server: only the load matters)
//   sync-lock <dir>       take the lock as syncPhotos does, then release it
// Prints one JSON line {ok, code?, message?} at the end; errors never carry secrets.
import { acquireDirectoryLock } from '../../src/photos/lock.js'
import { authenticate } from '../../src/icloud/auth.js'

const [mode, target, arg] = process.argv.slice(2)
const done = (o: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(o) + '\n')
}
try {
  if (mode === 'lock') {
    const lock = await acquireDirectoryLock(target!, { waitMs: Number(arg ?? 0), pollMs: 50 })
    process.stdout.write('locked\n')
    process.stdin.setEncoding('utf8')
    for await (const chunk of process.stdin) {
      if (String(chunk).includes('release')) break
    }
    await lock.release()
    done({ ok: true })
  } else if (mode === 'auth') {
    await authenticate({
      username: 'jdoe@example.com',
      cookieDirectory: target!,
      endpoints: {
        domain: 'com',
        auth: 'http://127.0.0.1:9/auth',
        authRoot: 'http://127.0.0.1:9',
        home: 'http://127.0.0.1:9',
        setup: 'http://127.0.0.1:9/setup',
      },
      passwordProviders: [],
      log: { info() {}, warning() {}, debug() {} },
      timeoutMs: 2000,
    })
    done({ ok: true })
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
} catch (err) {
  const e = err as { code?: string; message?: string; remediation?: string }
  done({ ok: false, code: e.code, message: e.message, remediation: e.remediation })
  process.exitCode = 3
}
