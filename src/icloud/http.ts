/**
 * The one HTTP client every iCloud call goes through: undici for transport, a tough-cookie jar for
 * Apple's cookies, timeouts, and response-header capture for the pyicloud `.session` file.
 * No TLS shortcuts: certificate checks stay on; plain http is only reachable through the
 * documented endpoint overrides (tests, demo).
 */
import { Agent, request as undiciRequest, type Dispatcher } from 'undici'
import { CookieJar } from 'tough-cookie'
import type { Readable } from 'node:stream'
import { AppError } from '../core/errors.js'

export const USER_AGENT =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36'

export const DEFAULT_TIMEOUT_MS = 30_000

/**
 * Largest body `text()`/`json()` will read. Apple's biggest answers (a CloudKit page of 200 records)
 * are well under 1 MiB; a hostile or broken server must not make us buffer without limit (an
 * endless body would otherwise grow until the process is killed). Streamed downloads (`body`)
 * are bounded by the downloader instead.
 */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  url: string
  headers?: Record<string, string>
  body?: string | Buffer
  timeoutMs?: number
  signal?: AbortSignal
  /** Skip the cookie jar (download hosts get no cookies; the signed URL is the credential). */
  noCookies?: boolean
}

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** Streams the body; call exactly one of body/text/json. */
  body: Readable
  text(): Promise<string>
  json(): Promise<unknown>
  /** Drops the body so the connection can be reused. */
  discard(): Promise<void>
  header(name: string): string | undefined
}

/** Called with every response, whatever host or status (icloudpd copies headers from all of them). */
export type ResponseObserver = (res: HttpResponse, req: HttpRequest) => void

export interface HttpClientOptions {
  jar?: CookieJar
  timeoutMs?: number
  /** Concurrent connections per origin; downloads raise it to the thread count. */
  connections?: number
  dispatcher?: Dispatcher
  /** Cap for `text()`/`json()` bodies (default MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number
}

export class HttpClient {
  readonly jar: CookieJar
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  private readonly dispatcher: Dispatcher
  private readonly observers: ResponseObserver[] = []

  constructor(options: HttpClientOptions = {}) {
    this.jar = options.jar ?? new CookieJar()
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.maxResponseBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES
    this.dispatcher =
      options.dispatcher ??
      new Agent({
        connections: options.connections ?? 16,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        keepAliveTimeout: 10_000,
      })
  }

  onResponse(observer: ResponseObserver): void {
    this.observers.push(observer)
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...lowerKeys(req.headers ?? {}) }
    if (!req.noCookies) {
      const cookie = await this.jar.getCookieString(req.url)
      if (cookie) headers.cookie = cookie
    }
    const timeout = req.timeoutMs ?? this.timeoutMs
    let raw: Dispatcher.ResponseData
    try {
      raw = await undiciRequest(req.url, {
        method: req.method ?? 'GET',
        headers,
        body: req.body,
        dispatcher: this.dispatcher,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: req.signal,
      })
    } catch (err) {
      throw networkError(req.url, err)
    }
    if (!req.noCookies) {
      const setCookie = raw.headers['set-cookie']
      for (const c of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
        // A cookie the jar refuses (bad domain) is ignored, as a browser would.
        await this.jar.setCookie(c, req.url, { ignoreError: true })
      }
    }
    const res = wrap(raw, req.url, this.maxResponseBytes)
    for (const o of this.observers) o(res, req)
    return res
  }

  async close(): Promise<void> {
    await this.dispatcher.close()
  }
}

function wrap(raw: Dispatcher.ResponseData, url: string, maxBytes: number): HttpResponse {
  const headers = raw.headers as Record<string, string | string[] | undefined>
  const readText = async (): Promise<string> => {
    const declared = Number(headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBytes) {
      raw.body.destroy()
      throw tooLarge(url, raw.statusCode, maxBytes)
    }
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of raw.body as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > maxBytes) {
          raw.body.destroy()
          throw tooLarge(url, raw.statusCode, maxBytes)
        }
        chunks.push(chunk)
      }
    } catch (err) {
      if (err instanceof AppError) throw err
      throw networkError(url, err)
    }
    return Buffer.concat(chunks, size).toString('utf8')
  }
  return {
    status: raw.statusCode,
    headers,
    body: raw.body,
    text: readText,
    async json() {
      const text = await readText()
      try {
        return JSON.parse(text) as unknown
      } catch {
        throw new AppError(
          'PROTOCOL_ERROR',
          `Apple returned a response that is not JSON (HTTP ${raw.statusCode} from ${hostOf(url)}).`,
          'This is usually a temporary fault at Apple; try again later.',
        )
      }
    },
    async discard() {
      await raw.body.dump().catch(() => undefined)
    },
    header(name: string) {
      const v = headers[name.toLowerCase()]
      return Array.isArray(v) ? v[0] : v
    },
  }
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v
  return out
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return 'unknown host'
  }
}

function tooLarge(url: string, status: number, maxBytes: number): AppError {
  return new AppError(
    'PROTOCOL_ERROR',
    `Apple sent a response larger than ${Math.round(maxBytes / 1024 / 1024)} MiB (HTTP ${status} from ${hostOf(url)}); it was not read.`,
    'No iCloud answer is this large: this is a fault on the server side or in the network. The next run will try again; if it persists, please report it.',
  )
}

export function networkError(url: string, err: unknown): AppError {
  const code = (err as { code?: string } | null)?.code ?? (err as Error | null)?.name ?? 'unknown'
  return new AppError(
    'NETWORK',
    `Cannot connect to Apple iCloud service (${hostOf(url)}: ${code}).`,
    'Check the network connection; the run can simply be retried.',
    { cause: err },
  )
}
