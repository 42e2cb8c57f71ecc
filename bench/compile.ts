/**
 * Transpiles a TypeScript entry and every relative module it reaches to plain JavaScript (no type
 * check), so measured child processes run as the shipped code does. Running them through the TS
 * loader instead would add its own ~50–90 MiB to the peak RSS being measured.
 *
 * Output goes under node_modules/.cache (ignored by git, eslint and prettier) with the same
 * layout, so the `.js` import suffixes resolve and bare imports find the repo's node_modules.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

const root = resolve(import.meta.dirname, '..')
export const COMPILED_DIR = join(root, 'node_modules/.cache/icloud-photos-bench')

/** Returns the path of the compiled entry. */
export async function compileEntry(entry: string): Promise<string> {
  await rm(COMPILED_DIR, { recursive: true, force: true })
  const queue = [resolve(root, entry)]
  const done = new Set<string>()
  while (queue.length) {
    const file = queue.pop()!
    if (done.has(file)) continue
    done.add(file)
    const out = join(COMPILED_DIR, relative(root, file))
    await mkdir(dirname(out), { recursive: true })
    const source = await readFile(file, 'utf8')
    if (file.endsWith('.json')) {
      await writeFile(out, source)
      continue
    }
    for (const { fileName } of ts.preProcessFile(source, true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue
      const target = resolve(dirname(file), fileName)
      const ts_ = target.replace(/\.js$/, '.ts')
      if (target.endsWith('.json')) queue.push(target)
      else if (existsSync(ts_)) queue.push(ts_)
    }
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2023,
        verbatimModuleSyntax: false,
        sourceMap: false,
      },
    })
    await writeFile(out.replace(/\.ts$/, '.js'), outputText)
  }
  await writeFile(join(COMPILED_DIR, 'package.json'), '{ "type": "module" }\n')
  return join(COMPILED_DIR, relative(root, resolve(root, entry)).replace(/\.ts$/, '.js'))
}
