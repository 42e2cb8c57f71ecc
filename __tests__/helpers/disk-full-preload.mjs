// A full disk for a child process (the bundled action), loaded with `NODE_OPTIONS=--import …`:
// under DISK_FULL_DIR, the first DISK_FULL_AFTER files opened for writing work; writing to any later
// one fails with a real-looking ENOSPC (creating it works, as on a real full disk). Runs in every
// thread, so the action's worker gets it too. vi.mock cannot reach another process; read-only
// directories would not do (root writes anyway).
import fs from 'node:fs'
import path from 'node:path'

const dir = process.env.DISK_FULL_DIR
if (dir) {
  const root = path.resolve(dir) + path.sep
  let allowed = Number(process.env.DISK_FULL_AFTER ?? 0)
  const realOpen = fs.promises.open
  const enospc = (file) =>
    Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'write',
      path: file,
    })
  fs.promises.open = async function open(file, flags, mode) {
    const fh = await realOpen.call(this, file, flags, mode)
    const writes = typeof flags === 'string' && /[wa+]/.test(flags)
    if (!writes || !path.resolve(String(file)).startsWith(root) || allowed-- > 0) return fh
    return new Proxy(fh, {
      get(t, k) {
        if (k === 'write' || k === 'writeFile')
          return async () => {
            throw enospc(String(file))
          }
        const v = Reflect.get(t, k)
        return typeof v === 'function' ? v.bind(t) : v
      },
    })
  }
}
