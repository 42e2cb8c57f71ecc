/**
 * A fault proxy in front of the local S3 server: requests pass through unchanged (the Host header
 * too, so SigV4 still verifies) unless a rule picks them, then the proxy answers as S3 does when it
 * is in trouble: `503 SlowDown` and `500 InternalError` with S3's XML error body, or the connection
 * is reset after part of the request body was read (a network failure mid-part), or one byte of
 * the body is flipped on the way (`corrupt`: the server's digest check must catch it).
 *
 * `refuseChecksums` imitates an S3-compatible store that does not take S3's flexible checksums: any
 * request with an `x-amz-checksum-*` or `x-amz-sdk-checksum-algorithm` header, or an `aws-chunked`
 * body, is refused with the store's own answer — Backblaze B2's `400 InvalidArgument` ("Unsupported
 * header '<name>' received for this API call.") or Cloudflare R2's former `501 NotImplemented`
 * ("Header '<name>' with value '<value>' not implemented").
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export type S3Fault = 'slowdown' | 'internal' | 'reset' | 'corrupt'

export interface S3RequestInfo {
  method: string
  /** Path without the query, decoded (`/bucket/key`). */
  path: string
  query: URLSearchParams
  /** The request's headers as received (to check what a client sent). */
  headers: http.IncomingHttpHeaders
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
  /** Requests refused for their checksums (`refuseChecksums`). */
  refused: S3RequestInfo[]
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

/** The first header a store without flexible checksums refuses, with its value. */
export function checksumHeader(headers: http.IncomingHttpHeaders): [string, string] | undefined {
  for (const [name, value] of Object.entries(headers)) {
    const v = String(value)
    if (name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm') return [name, v]
    if (name === 'content-encoding' && v.includes('aws-chunked')) return [name, v]
    if (name === 'x-amz-content-sha256' && v.startsWith('STREAMING-')) return [name, v]
    if (name === 'x-amz-trailer') return [name, v]
  }
  return undefined
}

export async function startS3FaultProxy(
  target: string,
  o: { refuseChecksums?: 'b2' | 'r2' } = {},
): Promise<S3FaultProxy> {
  const upstream = new URL(target)
  const rules: { rule: S3FaultRule; seen: number; fired: number }[] = []
  const log: S3RequestInfo[] = []
  const refused: S3RequestInfo[] = []

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://proxy')
    const info: S3RequestInfo = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(u.pathname),
      query: u.searchParams,
      headers: { ...req.headers },
    }
    log.push(info)
    const offending = o.refuseChecksums && checksumHeader(req.headers)
    if (offending) {
      refused.push(info)
      const [name, value] = offending
      req.resume()
      req.on('end', () =>
        o.refuseChecksums === 'b2'
          ? s3Error(res, 400, 'InvalidArgument', `Unsupported header '${name}' received for this API call.`)
          : s3Error(res, 501, 'NotImplemented', `Header '${name}' with value '${value}' not implemented`),
      )
      return
    }
    let hit = rules.find((r) => {
      if (!r.rule.match(info) || r.fired >= (r.rule.times ?? 1)) return false
      r.seen++
      return r.seen > (r.rule.skip ?? 0)
    })
    const corrupt = hit?.rule.fault === 'corrupt' ? hit : undefined
    if (corrupt) {
      corrupt.fired++
      hit = undefined
    }
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
    if (!corrupt) {
      req.pipe(fwd)
      return
    }
    // Same length, one byte flipped in the first chunk: the local server does not compare the body
    // with x-amz-content-sha256, so only its checksum / Content-MD5 check can notice.
    let flipped = false
    req.on('data', (c: Buffer) => {
      if (!flipped && c.length > 0) {
        c = Buffer.from(c)
        c[c.length >> 1] = c[c.length >> 1]! ^ 0xff
        flipped = true
      }
      fwd.write(c)
    })
    req.on('end', () => fwd.end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    refused,
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
