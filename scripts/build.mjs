// Bundles the action (dist/index.js, main + post) and the CLI (dist/cli.js) with ncc.
// ncc writes one index.js per output dir, so the CLI is built aside and moved next to the action.
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'

// The keyring binding is native and only used by the local CLI, where npm installs it.
const externals = ['-e', '@napi-rs/keyring']
const ncc = (entry, out) =>
  execFileSync('npx', ['ncc', 'build', entry, '-o', out, '--license', 'licenses.txt', '-q', ...externals], {
    stdio: 'inherit',
  })

rmSync('dist', { recursive: true, force: true })
rmSync('build/cli', { recursive: true, force: true })
ncc('src/index.ts', 'dist')
ncc('src/cli.ts', 'build/cli')
renameSync('build/cli/index.js', 'dist/cli.js')
if (existsSync('build/cli/licenses.txt')) renameSync('build/cli/licenses.txt', 'dist/cli-licenses.txt')
for (const f of readdirSync('build/cli')) {
  if (f !== 'package.json') cpSync(join('build/cli', f), join('dist', f), { recursive: true })
}
chmodSync('dist/cli.js', 0o755)
mkdirSync('dist', { recursive: true })
writeFileSync('dist/package.json', '{ "type": "module" }\n')
