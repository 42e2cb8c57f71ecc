// Lets a child `node` process run the TypeScript sources directly (tests that must kill a real
// process): Node 24 strips/transforms the types itself (--experimental-transform-types, needed for
// parameter properties); this hook maps the `.js` suffixes of our NodeNext imports to the `.ts` file
// beside them when no `.js` exists. Usage:
//   node --experimental-transform-types --import ./sim/ts-loader.mjs entry.ts
import { existsSync } from 'node:fs'
import { register } from 'node:module'
import { fileURLToPath } from 'node:url'
import { isMainThread } from 'node:worker_threads'

// This file is both the `--import` entry (main thread: register) and the hooks module (Node runs
// hooks on their own thread, where registering again would recurse).
if (isMainThread) register(import.meta.url, import.meta.url)

export async function resolve(specifier, context, next) {
  if (
    (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:')) &&
    specifier.endsWith('.js')
  ) {
    const url = new URL(specifier, context.parentURL)
    if (url.protocol === 'file:' && !existsSync(fileURLToPath(url))) {
      const ts = new URL(url.href.slice(0, -3) + '.ts')
      if (existsSync(fileURLToPath(ts))) return next(ts.href, context)
    }
  }
  return next(specifier, context)
}
