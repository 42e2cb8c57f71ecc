/**
 * A live iCloud session: the HTTP client with its cookie jar, the pyicloud `.session` data that
 * response headers keep updating, and the headers Apple expects on each host.
 */
import type { CookieJar } from 'tough-cookie'
import { HttpClient, type HttpResponse } from './http.js'
import { WIDGET_KEY, type Endpoints } from './endpoints.js'
import { captureSessionHeaders, ensureClientId, saveSession } from './session-store.js'

export class ICloudSession {
  readonly http: HttpClient
  /** Set whenever a response changed a persisted header or the caller changed data. */
  dirty = false

  constructor(
    readonly username: string,
    readonly cookieDirectory: string,
    readonly endpoints: Endpoints,
    readonly data: Record<string, string>,
    jar: CookieJar,
    timeoutMs?: number,
  ) {
    ensureClientId(this.data)
    this.http = new HttpClient({ jar, timeoutMs })
    // icloudpd copies these headers from every response, whatever the host or status.
    this.http.onResponse((res: HttpResponse) => {
      if (captureSessionHeaders(this.data, res.headers)) this.dirty = true
    })
  }

  get jar(): CookieJar {
    return this.http.jar
  }

  get clientId(): string {
    return this.data.client_id!
  }

  /**
   * Headers for `{auth}` calls (docs/protocol.md §2); `origin` is the auth root on signin/init and complete.
   */
  authHeaders(
    origin: string = this.endpoints.home,
    accept = 'application/json, text/javascript',
  ): Record<string, string> {
    const h: Record<string, string> = {
      Origin: origin,
      Referer: `${origin}/`,
      Accept: accept,
      'Content-Type': 'application/json',
      'X-Apple-OAuth-Client-Id': WIDGET_KEY,
      'X-Apple-Widget-Key': WIDGET_KEY,
      'X-Apple-OAuth-Client-Type': 'firstPartyAuth',
      'X-Apple-OAuth-Redirect-URI': this.endpoints.home,
      'X-Apple-OAuth-Require-Grant-Code': 'true',
      'X-Apple-OAuth-Response-Mode': 'web_message',
      'X-Apple-OAuth-Response-Type': 'code',
      'X-Apple-OAuth-State': this.clientId,
    }
    if (this.data.scnt) h.scnt = this.data.scnt
    if (this.data.session_id) h['X-Apple-ID-Session-Id'] = this.data.session_id
    return h
  }

  /** Headers for setup and CloudKit calls. */
  homeHeaders(): Record<string, string> {
    return { Origin: this.endpoints.home, Referer: `${this.endpoints.home}/`, Accept: '*/*' }
  }

  /** Forgets everything but the named `.session` keys: cookies, tokens, scnt (a fresh start). */
  async reset(keep: string[]): Promise<void> {
    for (const k of Object.keys(this.data)) if (!keep.includes(k)) delete this.data[k]
    await this.jar.removeAllCookies()
    this.dirty = true
  }

  async save(): Promise<void> {
    await saveSession(this.cookieDirectory, this.username, this.data, this.jar)
    this.dirty = false
  }

  async close(): Promise<void> {
    await this.http.close()
  }
}
