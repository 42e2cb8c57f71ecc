import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import {
  extractSection,
  renderActionReference,
  renderConfigReference,
  renderReadme,
  updateReadme,
} from '../scripts/docs-lib.mjs'
import { parse } from 'yaml'
import { generateValidator, VALIDATOR_DTS } from '../scripts/validator-lib.mjs'
import { generateConfigTypes } from '../scripts/config-types-lib.mjs'
import { PHOTOS_DEFAULTS } from '../src/core/config.generated.js'

interface Schema {
  description?: string
  properties?: Record<string, Schema>
}

const schemaText = await readFile('schemas/config.schema.json', 'utf8')
const schema = JSON.parse(schemaText) as Schema
const actionYml = await readFile('action.yml', 'utf8')

describe('README reference sections', () => {
  it('are up to date (run `npm run docs` if this fails)', async () => {
    const readme = await readFile('README.md', 'utf8')
    expect(extractSection(readme, 'config-reference')).toBe(renderConfigReference(schema).trim())
    expect(extractSection(readme, 'action-reference')).toBe(renderActionReference(actionYml).trim())
    expect(renderReadme(readme, schema, actionYml)).toBe(readme)
  })

  it('go stale when the schema changes', async () => {
    const readme = await readFile('README.md', 'utf8')
    const changed = structuredClone(schema)
    changed.properties!.photos.properties!.threads.description = 'Changed.'
    expect(renderReadme(readme, changed, actionYml)).not.toBe(readme)
  })
})

describe('renderConfigReference', () => {
  it('documents every key of the schema with its description and default', () => {
    const md = renderConfigReference(schema)
    const walk = (s: Schema, path: string): void => {
      for (const [key, sub] of Object.entries(s.properties ?? {})) {
        if (key.startsWith('$')) continue
        const full = path ? `${path}.${key}` : key
        if (sub.properties) expect(md, full).toContain(`### \`${full}\``)
        else expect(md, full).toContain(`| \`${key}\` |`)
        expect(md, full).toContain(sub.description!.replace(/\|/g, '\\|').split('\n')[0])
        walk(sub, full)
      }
    }
    walk(schema, '')
    expect(md).toContain('| `threads` | integer (1–32) | `16` |')
    expect(md).toContain('| `username` | string | **required** |')
    expect(md).toContain('`[parameter, keyring, console]`')
    expect(md).toContain('`parameter` \\| `env`')
  })
})

describe('renderActionReference', () => {
  it('lists every input and output of action.yml', () => {
    const md = renderActionReference(actionYml)
    const action = parse(actionYml) as { inputs: Record<string, unknown>; outputs: Record<string, unknown> }
    for (const name of [...Object.keys(action.inputs), ...Object.keys(action.outputs)])
      expect(md).toContain(`| \`${name}\` |`)
    expect(md).toContain('| `github-token` | `${{ github.token }}` |')
  })
})

describe('updateReadme', () => {
  const readme =
    '# T\n\nintro\n\n<!-- config-reference:start -->\nold\n<!-- config-reference:end -->\n\nafter\n'

  it('replaces only the text between the markers', () => {
    expect(updateReadme(readme, 'new\ntext\n')).toBe(
      '# T\n\nintro\n\n<!-- config-reference:start -->\nnew\ntext\n<!-- config-reference:end -->\n\nafter\n',
    )
  })

  it('refuses a README without markers', () => {
    expect(() => updateReadme('# T\n', 'x')).toThrow(/lacks the markers/)
  })

  it('adds missing marker pairs when rendering a whole README', () => {
    const out = renderReadme('# T\n', schema, actionYml)
    expect(out.startsWith('# T\n')).toBe(true)
    expect(extractSection(out, 'config-reference')).toBe(renderConfigReference(schema))
    expect(extractSection(out, 'action-reference')).toBe(renderActionReference(actionYml))
  })
})

describe('the standalone config validator', () => {
  it('is the one ajv generates from the schema now (run `node scripts/gen-validator.mjs` if this fails)', async () => {
    const base = 'src/config/config-validator.generated'
    expect(await readFile(`${base}.js`, 'utf8')).toBe(generateValidator(schema))
    expect(await readFile(`${base}.d.ts`, 'utf8')).toBe(VALIDATOR_DTS)
  })

  it('changes when the schema changes', () => {
    const changed = structuredClone(schema) as Schema & { properties: Record<string, Schema> }
    changed.properties['extra-key'] = { description: 'x' }
    expect(generateValidator(changed)).not.toBe(generateValidator(schema))
  })
})

describe('the config types generated from the schema', () => {
  it('are the ones generated from the schema now (run `node scripts/gen-validator.mjs` if this fails)', async () => {
    expect(await readFile('src/core/config.generated.ts', 'utf8')).toBe(generateConfigTypes(schema))
  })

  it('carry every photos default the schema declares, and only those', () => {
    const photos = (schema.properties as Record<string, Schema>).photos as Schema & {
      properties: Record<string, { default?: unknown }>
    }
    const declared = Object.fromEntries(
      Object.entries(photos.properties)
        .filter(([, p]) => p.default !== undefined)
        .map(([k, p]) => [k.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()), p.default]),
    )
    expect(PHOTOS_DEFAULTS).toEqual(declared)
  })

  it('changes when the schema changes', () => {
    const changed = structuredClone(schema) as Schema & { properties: Record<string, Schema> }
    changed.properties['extra-key'] = { description: 'x', type: 'string' } as Schema
    expect(generateConfigTypes(changed)).toContain('extraKey?: string')
  })
})
