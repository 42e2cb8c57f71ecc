/**
 * Core of the fake iCloud: one node:http server on 127.0.0.1:0 that hosts Apple's several hosts
 * under path prefixes (idmsa, setup, CloudKit, content), a virtual clock, a request log and
 * per-endpoint fault injection. Route modules (auth, setup, cloudkit, downloads) mount on it.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export class Clock {
  private offset = 0
  /** Virtual epoch ms; starts at real time and moves only when a test moves it. */
  now(): number {
    return Date.now() + this.offset
  }
  advance(ms: number): void {
    this.offset += ms
  }
  set(epochMs: number): void {
    this.offset = epochMs - Date.now()
  }
}

export interface FakeRequest {
  method: string
  url: URL
  /** Path below the mount prefix, without a leading slash, e.g. `signin/init`. */
  rest: string
  headers: http.IncomingHttpHeaders
  body: Buffer
  /** Set by a handler to log the request under a clearer name than `rest`. */
  endpoint?: string
}

export interface LoggedRequest {
  method: string
  /** `<mount>:<endpoint>`, e.g. `auth:signin/init`, `setup:accountLogin`. */
  endpoint: string
  path: string
  status: number
  at: number
}

/** A handler answers the request (returns true) or passes (false → 404). */
export type Handler = (req: FakeRequest, res: http.ServerResponse) => Promise<boolean> | boolean

export interface Fault {
  status?: number
  headers?: Record<string, string>
  body?: string
  /** Destroy the socket before answering. */
  reset?: boolean
  /** Answer 200 with a body that is not JSON. */
  malformedJson?: boolean
  /** Answer after this delay. */
  delayMs?: number
  /** How many requests the fault hits; default 1, Infinity = persistent. */
  times?: number
}

interface Mount {
  name: string
  prefix: string
  handler: Handler
}

export class FakeServer {
  readonly clock = new Clock()
  readonly log: LoggedRequest[] = []
  /** Latency added to every request (benchmarks, slow-network tests). */
  latencyMs = 0
  private server?: http.Server
  private readonly mounts: Mount[] = []
  private readonly faults = new Map<string, Fault[]>()
  private periodic?: { every: number; mounts: Set<string>; fault: Fault; seen: number }
  private readonly sockets = new Set<Socket>()
  private port = 0

  mount(name: string, prefix: string, handler: Handler): void {
    this.mounts.push({ name, prefix: prefix.replace(/\/$/, ''), handler })
    // Longest prefix first so `/a/b` wins over `/a`.
    this.mounts.sort((x, y) => y.prefix.length - x.prefix.length)
  }

  /** Inject a fault for `<mount>:<endpoint>` (e.g. `auth:signin/complete`). */
  inject(endpoint: string, fault: Fault): void {
    const list = this.faults.get(endpoint) ?? []
    list.push({ times: 1, ...fault })
    this.faults.set(endpoint, list)
  }

  /**
   * Deterministic background throttling: every `every`-th request to the given mounts (counted
   * together, default CloudKit and downloads) gets `fault` (default a bare 503), e.g.
   * `injectEvery(5)` = Apple answering 503 to one request in five. Off with `clearFaults()`.
   */
  injectEvery(every: number, fault: Fault = { status: 503, body: '' }, mounts = ['ck', 'content']): void {
    this.periodic = { every, mounts: new Set(mounts), fault, seen: 0 }
  }

  clearFaults(): void {
    this.faults.clear()
    this.periodic = undefined
  }

  count(endpoint: string | RegExp): number {
    return this.log.filter((r) =>
      typeof endpoint === 'string' ? r.endpoint === endpoint : endpoint.test(r.endpoint),
    ).length
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.dispatch(req, res))
    this.server.keepAliveTimeout = 5_000
    this.server.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const url = new URL(req.url ?? '/', this.url)
    const mount = this.mounts.find(
      (m) => url.pathname === m.prefix || url.pathname.startsWith(m.prefix + '/'),
    )
    const fr: FakeRequest = {
      method: req.method ?? 'GET',
      url,
      rest: mount ? url.pathname.slice(mount.prefix.length).replace(/^\//, '') : url.pathname,
      headers: req.headers,
      body: Buffer.concat(chunks),
    }
    const entry: LoggedRequest = {
      method: fr.method,
      endpoint: `${mount?.name ?? 'none'}:${fr.rest}`,
      path: url.pathname,
      status: 0,
      at: this.clock.now(),
    }
    this.log.push(entry)
    res.on('finish', () => (entry.status = res.statusCode))
    if (this.latencyMs > 0) await sleep(this.latencyMs)
    try {
      if (!mount) {
        notFound(res)
        return
      }
      const p = this.periodic
      if (p && p.mounts.has(mount.name) && ++p.seen % p.every === 0) {
        if (await this.applyFault(p.fault, req, res)) return
      }
      // Faults are matched on the raw endpoint name; handlers may rename it for the log.
      const fault = this.takeFault(entry.endpoint)
      if (fault && (await this.applyFault(fault, req, res))) return
      const handled = await mount.handler(fr, res)
      if (fr.endpoint) entry.endpoint = `${mount.name}:${fr.endpoint}`
      if (!handled) notFound(res)
    } catch (err) {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' })
        res.end(`fake iCloud error: ${(err as Error).stack ?? String(err)}`)
      } else res.destroy()
    }
  }

  /** Handlers that rename endpoints (CloudKit) call this to honour faults under the new name. */
  takeFault(endpoint: string): Fault | undefined {
    const list = this.faults.get(endpoint)
    if (!list?.length) return undefined
    const f = list[0]!
    f.times = (f.times ?? 1) - 1
    if (f.times <= 0) list.shift()
    return f
  }

  /** Returns true when the fault answered the request itself. */
  async applyFault(f: Fault, req: http.IncomingMessage | null, res: http.ServerResponse): Promise<boolean> {
    if (f.delayMs) await sleep(f.delayMs)
    if (f.reset) {
      ;(req?.socket ?? res.socket)?.destroy()
      return true
    }
    if (f.malformedJson) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"this is": not json')
      return true
    }
    if (f.status !== undefined) {
      res.writeHead(f.status, { 'content-type': 'application/json', ...f.headers })
      res.end(f.body ?? '')
      return true
    }
    return false
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export function notFound(res: http.ServerResponse): true {
  res.writeHead(404, { 'content-type': 'text/plain' })
  res.end('not found')
  return true
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): true {
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', ...headers })
  res.end(body === undefined ? '' : JSON.stringify(body))
  return true
}

export function parseJsonBody(req: FakeRequest): unknown {
  const text = req.body.toString('utf8')
  if (text === '') return undefined
  return JSON.parse(text) as unknown
}
