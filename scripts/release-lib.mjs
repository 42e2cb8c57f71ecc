// Pure parts of scripts/release.mjs, shared with its test.

/**
 * Checks a release tag against package.json's version and the CHANGELOG (Keep a Changelog), and
 * returns what the release workflow needs: the version, the major tag to move, whether it is a
 * pre-release, and the notes (the CHANGELOG section of that version, without its heading).
 */
export function parseRelease(tag, pkgVersion, changelog) {
  const m = /^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/.exec(tag)
  if (!m) throw new Error(`tag ${tag} is not vMAJOR.MINOR.PATCH[-prerelease]`)
  const version = tag.slice(1)
  if (version !== pkgVersion)
    throw new Error(`tag ${tag} does not match package.json version ${pkgVersion}: bump it first`)
  const lines = changelog.split('\n')
  const start = lines.findIndex((l) => l.startsWith(`## [${version}]`))
  if (start < 0) throw new Error(`CHANGELOG.md has no "## [${version}]" section: move Unreleased there`)
  if (!/^## \[[^\]]+\] - \d{4}-\d{2}-\d{2}\s*$/.test(lines[start]))
    throw new Error(`CHANGELOG.md: "${lines[start]}" needs a date (## [${version}] - YYYY-MM-DD)`)
  let end = lines.findIndex((l, i) => i > start && /^## |^\[[^\]]+\]: /.test(l))
  if (end < 0) end = lines.length
  const notes = lines
    .slice(start + 1, end)
    .join('\n')
    .trim()
  if (!notes) throw new Error(`CHANGELOG.md: the ${version} section is empty`)
  return { version, major: `v${m[1]}`, prerelease: Boolean(m[4]), notes: `${notes}\n` }
}
