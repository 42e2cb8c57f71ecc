// Bundles the action (dist/index.js, main + post) and the CLI (dist/cli.js) with ncc.
// Both are built into build/ first and dist/ is replaced only when both succeeded, so a failed
// build (ncc type-checks the whole project) never leaves the tree without dist/.
import { execFileSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

// The keyring binding is native and only used by the local CLI, where npm installs it.
const externals = ['-e', '@napi-rs/keyring']
const ncc = (entry, out) =>
  execFileSync('npx', ['ncc', 'build', entry, '-o', out, '--license', 'licenses.txt', '-q', ...externals], {
    stdio: 'inherit',
  })

// The config validator is compiled from the schema first, so the bundles carry the current one.
execFileSync(process.execPath, ['scripts/gen-validator.mjs'], { stdio: 'inherit' })

const out = 'build/dist'
rmSync('build/dist', { recursive: true, force: true })
rmSync('build/cli', { recursive: true, force: true })
ncc('src/index.ts', out)
ncc('src/cli.ts', 'build/cli')
renameSync('build/cli/index.js', join(out, 'cli.js'))
if (existsSync('build/cli/licenses.txt')) renameSync('build/cli/licenses.txt', join(out, 'cli-licenses.txt'))
for (const f of readdirSync('build/cli')) {
  if (f !== 'package.json') cpSync(join('build/cli', f), join(out, f), { recursive: true })
}
chmodSync(join(out, 'cli.js'), 0o755)
writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n')
rmSync('dist', { recursive: true, force: true })
renameSync(out, 'dist')
