// Keeps the README true: the two commands, CI running the README's test command, and a
// troubleshooting row for every error code the tool can end with.
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'

const readme = readFileSync('README.md', 'utf8')

describe('README', () => {
  it('shows the two set-up commands, and CI runs the exact test command', () => {
    expect(readme).toContain('npm ci && npm run demo')
    expect(readme).toContain('npm ci && npm test')
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm ci && npm test$/m)
  })

  it('has a troubleshooting row for every error code', () => {
    const union = /export type ErrorCode =([\s\S]*?)\n\n/.exec(
      readFileSync('src/core/errors.ts', 'utf8'),
    )![1]!
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!)
    expect(codes.length).toBeGreaterThan(15)
    const troubleshooting = readme.slice(readme.indexOf('## Troubleshooting'))
    for (const code of codes) expect(troubleshooting, code).toContain(`| \`${code}\` |`)
  })
})
