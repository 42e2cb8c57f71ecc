/** Finds where a key path lives in the parsed YAML, so every message can name a line and column. */
import { isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type Document } from 'yaml'

export type Segment = string | number

export interface Span {
  line: number
  column: number
  endLine: number
  endColumn: number
}

export interface Source {
  file: string
  doc: Document.Parsed
  lineCounter: LineCounter
  /** The text parsed, for hints that quote what was written. */
  text?: string
}

export function spanOf(lineCounter: LineCounter, start: number, end: number): Span {
  const a = lineCounter.linePos(start)
  const b = lineCounter.linePos(Math.max(start, end))
  return { line: a.line, column: a.col, endLine: b.line, endColumn: b.col }
}

const FILE_START: Span = { line: 1, column: 1, endLine: 1, endColumn: 1 }

function nodeSpan(source: Source, node: Node | null | undefined): Span | undefined {
  const range = node?.range
  return range ? spanOf(source.lineCounter, range[0], range[1]) : undefined
}

/**
 * The span of the key (`part: 'key'`) or value at `path`. When the path goes further than the
 * document (a missing key), the deepest key that exists is used instead, so there is always a line.
 */
export function locate(source: Source, path: readonly Segment[], part: 'key' | 'value'): Span {
  let node: unknown = source.doc.contents
  // The key node of the deepest pair walked through, the best place to point for anything below it.
  let keyNode: Node | undefined
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]
    const last = i === path.length - 1
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment))
      if (!pair) break
      if (last && part === 'key') return nodeSpan(source, pair.key as Node) ?? FILE_START
      keyNode = pair.key as Node
      node = pair.value
      if (node === null || node === undefined) return nodeSpan(source, keyNode) ?? FILE_START
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      node = node.items[segment]
      if (isPair(node)) node = node.key
    } else {
      break
    }
    if (last) return nodeSpan(source, node as Node) ?? nodeSpan(source, keyNode) ?? FILE_START
  }
  if (path.length === 0) return nodeSpan(source, source.doc.contents as Node) ?? FILE_START
  return nodeSpan(source, keyNode) ?? FILE_START
}

/** `['auth', 'password-providers', 2]` → `auth.password-providers[2]`. */
export function formatPath(path: readonly Segment[]): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out ? `.${segment}` : segment
  }
  return out
}
