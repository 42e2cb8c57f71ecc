/**
 * The repository is self-contained: nothing under src/, __tests__/, scripts/ or bench/ refers to a
 * file outside the checkout (a `../shared` beside it, an absolute machine path), so a clone with
 * nothing beside it passes its tests. Relative references — import specifiers, `new URL(…,
 * import.meta.url)`, `join(import.meta.dirname, …)`, Markdown links — are resolved from the file that
 * holds them and must stay inside the repository. Protocol citations (`§N`) point at
 * docs/protocol.md and name sections it has.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '..')
const SCANNED = ['src', 'sim', '__tests__', 'scripts', 'bench']
const TEXT = /\.(?:[cm]?[jt]s|d\.[cm]?ts|json|md|sh|py|ya?ml)$/

/**
 * Literals that look like escaping paths but are data, not references: inputs of path-traversal
 * tests. Keyed by repository path; each entry is the exact literal.
 */
const DATA_LITERALS: Record<string, string[]> = {
  '__tests__/photos-naming.test.ts': ['../../etc/passwd'],
  '__tests__/photos-download.test.ts': ['../../etc/passwd'],
  '__tests__/security.test.ts': ['../../etc/passwd'],
}
/** This file, whose checker test holds escaping references as examples. */
const SELF = '__tests__/self-contained.test.ts'

/** Absolute paths of a particular machine, and the names of files that live outside the repo. */
const FOREIGN = [/(?<![\w.])\/(?:work|home|Users|root)\//, /\bshared\/fixtures\b/, /icloud-protocol\.md/]

export interface Escape {
  line: number
  text: string
  why: string
}

/** Relative references in `source` (a file at `file`, absolute) that resolve outside `root`. */
export function escapes(source: string, file: string, root: string, allowed: string[] = []): Escape[] {
  const found: Escape[] = []
  const inside = (ref: string): boolean => {
    const target = resolve(dirname(file), ref.replace(/[?#].*$/, ''))
    return target === root || target.startsWith(root + sep)
  }
  source.split('\n').forEach((text, i) => {
    const line = i + 1
    const refs: string[] = []
    // Quoted relative paths: import specifiers, URL and path arguments.
    for (const m of text.matchAll(/(['"`])(\.\.?\/[^'"`$\s]*)\1/g)) refs.push(m[2]!)
    // join/resolve(import.meta.dirname, 'a', 'b', …) with literal segments.
    for (const m of text.matchAll(
      /(?:join|resolve)\(\s*import\.meta\.dirname\s*((?:,\s*(['"])[^'"]*\2\s*)+)\)/g,
    ))
      refs.push(
        [...m[1]!.matchAll(/(['"])([^'"]*)\1/g)]
          .map((s) => s[2]!)
          .join('/')
          .replace(/^(?!\.)/, './'),
      )
    // Markdown links.
    for (const m of text.matchAll(/\]\((\.\.?\/[^)\s#]*)/g)) refs.push(m[1]!)
    for (const ref of refs)
      if (!allowed.includes(ref) && !inside(ref))
        found.push({ line, text: ref, why: 'resolves outside the repository' })
    for (const re of FOREIGN) {
      const m = re.exec(text)
      if (m) found.push({ line, text: m[0], why: 'names a file outside the repository' })
    }
  })
  return found
}

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* walk(p)
    else if (TEXT.test(e.name)) yield p
  }
}

const rel = (f: string): string => relative(ROOT, f).split(sep).join('/')
const files = SCANNED.flatMap((d) => [...walk(join(ROOT, d))]).filter((f) => rel(f) !== SELF)

describe('self-contained repository', () => {
  it('the checker flags escaping references and passes ones that stay inside', () => {
    const file = join(ROOT, '__tests__', 'x.test.ts')
    // Built from parts so that this file itself does not read like a reference outside the repo.
    const up = '../'.repeat(2)
    const bad = [
      `const u = new URL('${up}shared/fixtures/srp-vectors.json', import.meta.url)`,
      `const d = join(import.meta.dirname, '..', '..', 'shared')`,
      `import x from '../../other-repo/index.js'`,
      `const DIR = '/work/shared/fixtures/pyicloud-session/'`,
      `// see the [reference](../../notes.md)`,
      `// protocol details: icloud-protocol.md §3`,
    ]
    for (const line of bad) expect(escapes(line, file, ROOT), line).not.toEqual([])
    const good = [
      `const u = new URL('./fixtures/srp-vectors.json', import.meta.url)`,
      `const d = join(import.meta.dirname, 'fixtures/pyicloud-session')`,
      `const root = resolve(import.meta.dirname, '..')`,
      `import { x } from '../src/cli.js'`,
      `// see [docs/protocol.md](../docs/protocol.md#3-sign-in)`,
      `const tmp = join(tmpdir(), 'x')`,
    ]
    for (const line of good) expect(escapes(line, file, ROOT), line).toEqual([])
  })

  it('no file under src/, __tests__/, scripts/ or bench/ refers outside the repository', () => {
    expect(files.length).toBeGreaterThan(50)
    const problems = files.flatMap((f) =>
      escapes(readFileSync(f, 'utf8'), f, ROOT, DATA_LITERALS[rel(f)] ?? []).map(
        (e) => `${rel(f)}:${e.line}: ${e.text} ${e.why}`,
      ),
    )
    expect(problems).toEqual([])
  })

  it('protocol citations (§N) name docs/protocol.md and sections it has', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8')
    const sections = new Set([...doc.matchAll(/^#{2,3} (\d+(?:\.\d+)?)[. ]/gm)].map((m) => m[1]!))
    expect(sections).toContain('8.6')
    const problems: string[] = []
    for (const f of files) {
      const text = readFileSync(f, 'utf8')
      // RFC citations (RFC 6265 §5.2.2) are not ours.
      const cited = [...text.matchAll(/(?<!RFC \d+ )§(\d+(?:\.\d+)?)/g)].map((m) => m[1]!)
      if (cited.length === 0) continue
      if (!text.includes('docs/protocol.md'))
        problems.push(`${rel(f)}: cites §${cited[0]} without naming docs/protocol.md`)
      for (const n of cited)
        if (!sections.has(n)) problems.push(`${rel(f)}: §${n} is not a section of docs/protocol.md`)
    }
    expect(problems).toEqual([])
  })
})
