// Release helpers for .github/workflows/release.yml (and for checking a release before tagging):
//   node scripts/release.mjs check vX.Y.Z   the tag matches package.json and CHANGELOG.md has a dated
//                                            section for it; prints `version`, `major` and `prerelease`
//                                            as KEY=VALUE lines for $GITHUB_OUTPUT
//   node scripts/release.mjs notes vX.Y.Z   prints that CHANGELOG section: the release notes
import { readFileSync } from 'node:fs'
import { parseRelease } from './release-lib.mjs'

const [cmd, tag] = process.argv.slice(2)
if (!['check', 'notes'].includes(cmd) || !tag) {
  console.error('usage: node scripts/release.mjs check|notes vX.Y.Z')
  process.exit(2)
}
try {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
  const r = parseRelease(tag, pkg.version, readFileSync('CHANGELOG.md', 'utf8'))
  if (cmd === 'notes') process.stdout.write(r.notes)
  else process.stdout.write(`version=${r.version}\nmajor=${r.major}\nprerelease=${r.prerelease}\n`)
} catch (e) {
  console.error(`release: ${e.message}`)
  process.exit(1)
}
