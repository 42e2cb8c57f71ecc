/**
 * The oldest Node.js the CLI runs on. undici (the HTTP client) declares 22.19, and older releases
 * lack APIs the bundle touches at load time (zlib zstd), so an older Node would die with a stack
 * trace nobody can act on. package.json `engines` says the same (a test keeps them equal).
 */
export const MIN_NODE = '22.19.0'

const parts = (v: string): number[] => v.split('.').map((n) => Number.parseInt(n, 10) || 0)

/** One line saying which Node.js is needed when `version` is older than `min`; otherwise undefined. */
export function nodeVersionProblem(version: string, min: string = MIN_NODE): string | undefined {
  const have = parts(version)
  const need = parts(min)
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) > (need[i] ?? 0)) return undefined
    if ((have[i] ?? 0) < (need[i] ?? 0))
      return (
        `icloud-photos-action needs Node.js ${min} or later (22 or 24 LTS); this is Node.js ${version}. ` +
        'Install a current Node.js from https://nodejs.org/ and run it again.'
      )
  }
  return undefined
}
