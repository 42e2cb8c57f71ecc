/**
 * A thin GitHub REST client for the few issue calls notifications and re-auth need. Retries
 * 5xx and network errors with backoff; 4xx are answers, not glitches, and surface at once as
 * GitHubApiError (status + GitHub's message; never the token).
 */
import { request, type Dispatcher } from 'undici'
import pRetry, { AbortError } from 'p-retry'

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com'
export const GITHUB_API_VERSION = '2022-11-28'
const USER_AGENT = 'icloud-photos-action'

export type RepoPermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none'

export interface GitHubIssue {
  number: number
  title: string
  body?: string | null
  state: 'open' | 'closed'
  state_reason?: string | null
  labels: Array<{ name: string } | string>
  assignees?: Array<{ login: string }>
  html_url: string
  created_at: string
  updated_at?: string
  /** Present when the "issue" is a pull request (the issues API lists both). */
  pull_request?: unknown
}

export interface GitHubComment {
  id: number
  body: string
  user: { login: string } | null
  created_at: string
  updated_at: string
  html_url: string
}

export interface NewIssue {
  title: string
  body: string
  labels?: string[]
  assignees?: string[]
}

export interface GitHubClientOptions {
  token: string
  /** `owner/name`, as in GITHUB_REPOSITORY. */
  repository: string
  /** GITHUB_API_URL; GitHub Enterprise Server uses `https://host/api/v3`. */
  apiUrl?: string
  /** Retries after the first attempt for 5xx and network errors (default 3). */
  retries?: number
  /** First backoff delay in ms (default 1000; doubled each time, with jitter). */
  minRetryDelayMs?: number
  timeoutMs?: number
  dispatcher?: Dispatcher
}

export class GitHubApiError extends Error {
  readonly status: number
  readonly method: string
  readonly path: string
  constructor(method: string, path: string, status: number, githubMessage: string) {
    super(`GitHub API ${method} ${path} returned ${status}${githubMessage ? `: ${githubMessage}` : ''}`)
    this.name = 'GitHubApiError'
    this.method = method
    this.path = path
    this.status = status
  }
}

export interface GitHubResponse<T> {
  status: number
  data: T
  headers: Record<string, string | string[] | undefined>
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'

export class GitHubClient {
  readonly owner: string
  readonly repo: string
  private readonly apiUrl: string
  private readonly token: string
  private readonly retries: number
  private readonly minRetryDelayMs: number
  private readonly timeoutMs: number
  private readonly dispatcher?: Dispatcher

  constructor(o: GitHubClientOptions) {
    const m = /^([^/\s]+)\/([^/\s]+)$/.exec(o.repository.trim())
    if (!m) throw new Error(`Invalid repository "${o.repository}": expected owner/name.`)
    this.owner = m[1]!
    this.repo = m[2]!
    this.apiUrl = (o.apiUrl?.trim() || DEFAULT_GITHUB_API_URL).replace(/\/+$/, '')
    this.token = o.token
    this.retries = o.retries ?? 3
    this.minRetryDelayMs = o.minRetryDelayMs ?? 1000
    this.timeoutMs = o.timeoutMs ?? 30_000
    this.dispatcher = o.dispatcher
  }

  get repoPath(): string {
    return `/repos/${encodeURIComponent(this.owner)}/${encodeURIComponent(this.repo)}`
  }

  /** One call, retried on 5xx/network errors. `path` is relative to the API root or an absolute API URL. */
  async request<T>(method: Method, path: string, body?: unknown): Promise<GitHubResponse<T>> {
    const url = this.resolve(path)
    const shownPath = new URL(url).pathname.slice(new URL(this.apiUrl).pathname.replace(/\/$/, '').length)
    return pRetry(
      async () => {
        const res = await request(url, {
          method,
          headers: {
            accept: 'application/vnd.github+json',
            authorization: `Bearer ${this.token}`,
            'user-agent': USER_AGENT,
            'x-github-api-version': GITHUB_API_VERSION,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          dispatcher: this.dispatcher,
        })
        const text = await res.body.text()
        if (res.statusCode >= 500)
          throw new GitHubApiError(method, shownPath, res.statusCode, messageOf(text))
        if (res.statusCode >= 400) {
          throw new AbortError(new GitHubApiError(method, shownPath, res.statusCode, messageOf(text)))
        }
        let data: T
        try {
          data = (text === '' ? undefined : JSON.parse(text)) as T
        } catch {
          throw new AbortError(
            new GitHubApiError(method, shownPath, res.statusCode, 'the response is not JSON'),
          )
        }
        return { status: res.statusCode, data, headers: res.headers }
      },
      {
        retries: this.retries,
        minTimeout: this.minRetryDelayMs,
        maxTimeout: 10_000,
        factor: 2,
        randomize: true,
      },
    ).catch((err: unknown) => {
      if (err instanceof GitHubApiError) throw err
      // Network failures: name the host and the system code only.
      const code = (err as { code?: string } | null)?.code ?? (err as Error | null)?.name ?? 'error'
      throw new GitHubApiError(method, shownPath, 0, `cannot reach ${new URL(url).host} (${code})`)
    })
  }

  /** Follows `Link: rel="next"` and yields item by item, so a search can stop at the first hit. */
  async *paginate<T>(path: string): AsyncGenerator<T> {
    let next: string | undefined = path
    while (next) {
      const res: GitHubResponse<T[]> = await this.request<T[]>('GET', next)
      for (const item of res.data ?? []) yield item
      next = nextLink(res.headers.link)
    }
  }

  /** The open issue (not PR) carrying every one of `labels` whose body contains `marker`. */
  async findOpenIssue(labels: string[], marker: string): Promise<GitHubIssue | undefined> {
    const q = new URLSearchParams({ state: 'open', per_page: '100' })
    if (labels.length > 0) q.set('labels', labels.join(','))
    for await (const issue of this.paginate<GitHubIssue>(`${this.repoPath}/issues?${q}`)) {
      if (issue.pull_request === undefined && issue.body?.includes(marker)) return issue
    }
    return undefined
  }

  async createIssue(issue: NewIssue): Promise<GitHubIssue> {
    return (await this.request<GitHubIssue>('POST', `${this.repoPath}/issues`, issue)).data
  }

  async updateIssue(
    number: number,
    patch: Partial<Pick<GitHubIssue, 'title' | 'body' | 'state'>> & {
      state_reason?: string
      labels?: string[]
    },
  ): Promise<GitHubIssue> {
    return (await this.request<GitHubIssue>('PATCH', `${this.repoPath}/issues/${number}`, patch)).data
  }

  async commentOnIssue(number: number, body: string): Promise<GitHubComment> {
    return (await this.request<GitHubComment>('POST', `${this.repoPath}/issues/${number}/comments`, { body }))
      .data
  }

  /** Closes as completed, after an optional comment explaining why. */
  async closeIssue(number: number, comment?: string): Promise<GitHubIssue> {
    if (comment) await this.commentOnIssue(number, comment)
    return this.updateIssue(number, { state: 'closed', state_reason: 'completed' })
  }

  /** Comments in creation order; `since` (ISO) keeps those updated at or after it. */
  async listComments(number: number, since?: string): Promise<GitHubComment[]> {
    const q = new URLSearchParams({ per_page: '100' })
    if (since) q.set('since', since)
    const out: GitHubComment[] = []
    for await (const c of this.paginate<GitHubComment>(`${this.repoPath}/issues/${number}/comments?${q}`))
      out.push(c)
    return out
  }

  async deleteComment(commentId: number): Promise<void> {
    await this.request<void>('DELETE', `${this.repoPath}/issues/comments/${commentId}`)
  }

  /**
   * The user's role on the repository (`role_name` distinguishes maintain/triage, which the legacy
   * `permission` field folds into write/read). Not a collaborator / unknown user → `none`.
   */
  async getPermission(username: string): Promise<RepoPermission> {
    try {
      const res = await this.request<{ permission?: string; role_name?: string }>(
        'GET',
        `${this.repoPath}/collaborators/${encodeURIComponent(username)}/permission`,
      )
      const role = res.data?.role_name ?? res.data?.permission
      return isPermission(role) ? role : 'none'
    } catch (err) {
      if (err instanceof GitHubApiError && err.status === 404) return 'none'
      throw err
    }
  }

  private resolve(path: string): string {
    if (!/^https?:\/\//i.test(path)) return this.apiUrl + (path.startsWith('/') ? path : `/${path}`)
    // Pagination links are absolute; the token goes to the API origin and nowhere else.
    if (new URL(path).origin !== new URL(this.apiUrl).origin) {
      throw new Error('GitHub pagination link points outside the API URL; refusing to follow it.')
    }
    return path
  }
}

/** True for roles that may push (and so may answer a re-auth request or manage issues). */
export function canWrite(p: RepoPermission): boolean {
  return p === 'admin' || p === 'maintain' || p === 'write'
}

function isPermission(s: string | undefined): s is RepoPermission {
  return s === 'admin' || s === 'maintain' || s === 'write' || s === 'triage' || s === 'read' || s === 'none'
}

function messageOf(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message
    return typeof m === 'string' ? m.slice(0, 200) : ''
  } catch {
    return ''
  }
}

export function nextLink(link: string | string[] | undefined): string | undefined {
  const value = Array.isArray(link) ? link.join(',') : link
  if (!value) return undefined
  for (const part of value.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part)
    if (m) return m[1]
  }
  return undefined
}
