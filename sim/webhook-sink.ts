/**
 * An HTTP endpoint on 127.0.0.1:0 that records every request (method, path, headers, raw body)
 * and answers with queued statuses (then `defaultStatus`), like a Discord/Slack/ntfy webhook would.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface CapturedRequest {
  method: string
  path: string
  headers: http.IncomingHttpHeaders
  body: string
  json(): unknown
}

export interface WebhookSink {
  /** Base URL; any path under it is accepted. */
  url: string
  requests: CapturedRequest[]
  /** Statuses for the next requests, in order. */
  respondWith(...statuses: number[]): void
  defaultStatus: number
  close(): Promise<void>
}

export async function startWebhookSink(o: { defaultStatus?: number } = {}): Promise<WebhookSink> {
  const requests: CapturedRequest[] = []
  const queue: number[] = []
  const sockets = new Set<Socket>()
  const sink = { defaultStatus: o.defaultStatus ?? 204 }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '/',
        headers: req.headers,
        body,
        json: () => JSON.parse(body) as unknown,
      })
      const status = queue.shift() ?? sink.defaultStatus
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(status >= 400 ? JSON.stringify({ message: `status ${status}` }) : '')
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(sink, {
    url,
    requests,
    respondWith: (...statuses: number[]) => void queue.push(...statuses),
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}
