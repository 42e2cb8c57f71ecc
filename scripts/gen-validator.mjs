// `node scripts/gen-validator.mjs`: writes src/config/config-validator.generated.{js,d.ts} and the
// config's TypeScript types, src/core/config.generated.ts.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateValidator, VALIDATOR_DTS } from './validator-lib.mjs'
import { generateConfigTypes } from './config-types-lib.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const schema = JSON.parse(readFileSync(join(root, 'schemas/config.schema.json'), 'utf8'))
const base = join(root, 'src/config/config-validator.generated')
writeFileSync(`${base}.js`, generateValidator(schema))
writeFileSync(`${base}.d.ts`, VALIDATOR_DTS)
writeFileSync(join(root, 'src/core/config.generated.ts'), generateConfigTypes(schema))
