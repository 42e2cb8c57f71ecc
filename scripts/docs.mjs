// `npm run docs`: regenerates the configuration and action reference sections of README.md, and the
// icloudpd migration table (from docs/icloudpd-options.json).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderIcloudpdOptions } from './docs-icloudpd.mjs'
import { renderReadme, updateReadme } from './docs-lib.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const readmePath = join(root, 'README.md')

const schema = JSON.parse(readFileSync(join(root, 'schemas/config.schema.json'), 'utf8'))
const actionYml = readFileSync(join(root, 'action.yml'), 'utf8')
const before = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '# icloud-photos-action\n'
const icloudpd = JSON.parse(readFileSync(join(root, 'docs/icloudpd-options.json'), 'utf8'))
const after = updateReadme(
  renderReadme(before, schema, actionYml),
  renderIcloudpdOptions(icloudpd),
  'icloudpd-options',
)

if (after === before) {
  console.log('README.md is up to date')
} else {
  writeFileSync(readmePath, after)
  console.log('README.md: reference sections regenerated')
}
