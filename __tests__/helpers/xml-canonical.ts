/** XML compared as a tree (tests of xmp-sidecar against icloudpd's reference sidecars). */
import type { Element, Node } from '@xmldom/xmldom'
import { parseXml } from '../../src/photos/xmp-sidecar.js'

export interface Canon {
  name: string
  attrs: string[]
  text?: string
  children: Canon[]
}

/**
 * An XML document as a tree of namespace-qualified names, attributes and texts: prefixes,
 * namespace declarations, quoting and the declaration's form do not count; `x:xmptk` names the
 * writing tool and is compared on its own.
 */
export function canonical(xml: string): Canon {
  const walk = (el: Element): Canon => {
    const attrs: string[] = []
    for (const a of Array.from(el.attributes)) {
      if (a.namespaceURI === 'http://www.w3.org/2000/xmlns/') continue
      if (a.namespaceURI === 'adobe:ns:meta/' && a.localName === 'xmptk') continue
      attrs.push(`{${a.namespaceURI ?? ''}}${a.localName}=${a.value}`)
    }
    const kids: Node[] = Array.from(el.childNodes)
    const elements = kids.filter((k): k is Element => k.nodeType === 1)
    const c: Canon = {
      name: `{${el.namespaceURI}}${el.localName}`,
      attrs: attrs.sort(),
      children: elements.map(walk),
    }
    if (elements.length === 0) c.text = kids.map((k) => k.textContent ?? '').join('')
    return c
  }
  return walk(parseXml(xml).documentElement!)
}
