// Bundles the action and the CLI with ncc.
// They are built into build/ first and dist/ is replaced only when all succeeded, so a failed
// build (ncc type-checks the whole project) never leaves the tree without dist/.
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
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

// The config validator is compiled from the schema first, so the bundles carry the current one.
execFileSync(process.execPath, ['scripts/gen-validator.mjs'], { stdio: 'inherit' })

// Four bundles: the action's launcher (dist/index.js, main and post of action.yml, Node modules
// only), the action it runs in a worker (dist/action.js), the CLI's launcher (dist/cli.js, the bin:
// checks the Node.js version) and the CLI it loads (dist/cli-main.js). Each is built on its own and
// assembled into build/dist; licenses.txt covers the action, cli-licenses.txt the CLI.
const bundles = [
  { entry: 'src/index.ts', file: 'index.js' },
  { entry: 'src/action/main.ts', file: 'action.js', licenses: 'licenses.txt' },
  { entry: 'src/cli-launcher.ts', file: 'cli.js' },
  { entry: 'src/cli.ts', file: 'cli-main.js', licenses: 'cli-licenses.txt' },
]
/**
 * ncc emits a dynamic import (the S3 client, loaded only for a bucket) as `<id>.index.js`; two
 * bundles would collide in dist/, so each bundle's chunks become `<id>.<bundle>.js` and its chunk
 * loader is pointed at them.
 */
function nameChunks(dir, name) {
  const chunks = readdirSync(dir).filter((f) => /^\d+\.index\.js$/.test(f))
  if (chunks.length === 0) return
  const main = join(dir, 'index.js')
  const loader = 'return "" + chunkId + ".index.js";'
  const text = readFileSync(main, 'utf8')
  if (text.split(loader).length !== 2) throw new Error(`build: no single chunk loader in ${main}`)
  writeFileSync(main, text.replace(loader, `return "" + chunkId + ".${name}.js";`))
  for (const f of chunks) renameSync(join(dir, f), join(dir, f.replace('.index.js', `.${name}.js`)))
}

const out = 'build/dist'
rmSync('build', { recursive: true, force: true })
mkdirSync(out, { recursive: true })
for (const b of bundles) {
  const dir = join('build', b.file.replace(/\.js$/, ''))
  ncc(b.entry, dir)
  nameChunks(dir, b.file.replace(/\.js$/, ''))
  renameSync(join(dir, 'index.js'), join(out, b.file))
  if (b.licenses && existsSync(join(dir, 'licenses.txt')))
    renameSync(join(dir, 'licenses.txt'), join(out, b.licenses))
  for (const f of readdirSync(dir)) {
    if (f === 'package.json' || f === 'licenses.txt') continue
    if (existsSync(join(out, f)))
      throw new Error(`build: ${b.entry} emits ${f}, which another bundle emits too`)
    cpSync(join(dir, f), join(out, f), { recursive: true })
  }
}
chmodSync(join(out, 'cli.js'), 0o755)
writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n')
rmSync('dist', { recursive: true, force: true })
renameSync(out, 'dist')
