/**
 * A fault proxy in front of the local S3 server: requests pass through unchanged (the Host header
 * too, so SigV4 still verifies) unless a rule picks them, then the proxy answers as S3 does when it
 * is in trouble: `503 SlowDown` and `500 InternalError` with S3's XML error body, or the connection
 * is reset after part of the request body was read (a network failure mid-part).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export type S3Fault = 'slowdown' | 'internal' | 'reset'

export interface S3RequestInfo {
  method: string
  /** Path without the query, decoded (`/bucket/key`). */
  path: string
  query: URLSearchParams
}

export interface S3FaultRule {
  /** Which requests: e.g. UploadPart is `PUT` with `partNumber` in the query. */
  match: (r: S3RequestInfo) => boolean
  fault: S3Fault
  /** How many matching requests get the fault (default 1); later ones pass. */
  times?: number
  /** Let this many matching requests pass before the first fault (default 0). */
  skip?: number
}

export interface S3FaultProxy {
  url: string
  /** Add a rule; returns a counter of the faults it produced. */
  inject(rule: S3FaultRule): { fired: () => number }
  /** Every request seen, in order. */
  log: S3RequestInfo[]
  close(): Promise<void>
}

/** Operation predicates for rules. */
export const isUploadPart = (r: S3RequestInfo): boolean =>
  r.method === 'PUT' && r.query.has('partNumber') && r.query.has('uploadId')
export const isPutObject = (r: S3RequestInfo): boolean =>
  r.method === 'PUT' && !r.query.has('uploadId') && r.path.split('/').length > 2

function s3Error(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
    `<RequestId>fault-proxy</RequestId></Error>`
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const upstream = new URL(target)
  const rules: { rule: S3FaultRule; seen: number; fired: number }[] = []
  const log: S3RequestInfo[] = []

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://proxy')
    const info: S3RequestInfo = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(u.pathname),
      query: u.searchParams,
    }
    log.push(info)
    const hit = rules.find((r) => {
      if (!r.rule.match(info) || r.fired >= (r.rule.times ?? 1)) return false
      r.seen++
      return r.seen > (r.rule.skip ?? 0)
    })
    if (hit) {
      hit.fired++
      if (hit.rule.fault === 'reset') {
        // Read some of the body (the upload is under way), then drop the connection.
        let got = 0
        req.on('data', (c: Buffer) => {
          got += c.length
          if (got >= 64 * 1024) req.socket.destroy()
        })
        req.on('end', () => req.socket.destroy())
        return
      }
      // Drain the body first, as S3 does, so the client reads the answer rather than an EPIPE.
      req.resume()
      req.on('end', () =>
        hit.rule.fault === 'slowdown'
          ? s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.')
          : s3Error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.'),
      )
      return
    }
    const fwd = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      },
    )
    fwd.on('error', () => req.socket.destroy())
    req.pipe(fwd)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    inject(rule) {
      const entry = { rule, seen: 0, fired: 0 }
      rules.push(entry)
      return { fired: () => entry.fired }
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
