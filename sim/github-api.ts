/**
 * A fake GitHub REST API (the issue endpoints notifications and re-auth use) on 127.0.0.1:0.
 * Faithful where clients depend on it: Bearer auth (401 "Bad credentials"), 403 "Resource not
 * accessible by integration" for a read-only token, the `labels` filter (all must match), page /
 * per_page pagination with a Link header, `since` on comments, PR items in the issues list,
 * collaborator permission with both `permission` and `role_name`. Timestamps come from a virtual
 * clock that ticks one second per write, so `since` is deterministic. Every request is recorded.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type Permission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none'

export interface FakeIssue {
  id: number
  number: number
  title: string
  body: string | null
  state: 'open' | 'closed'
  state_reason: string | null
  labels: Array<{ id: number; name: string }>
  assignees: Array<{ login: string }>
  user: { login: string }
  comments: number
  html_url: string
  created_at: string
  updated_at: string
  closed_at: string | null
  pull_request?: { url: string }
}

export interface FakeComment {
  id: number
  issue_number: number
  body: string
  user: { login: string }
  created_at: string
  updated_at: string
  html_url: string
}

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  headers: http.IncomingHttpHeaders
  body: unknown
  status: number
}

/** A workflow run attempt as `GET /actions/runs/{id}/attempts/{n}` answers it (the fields we read). */
export interface FakeRunAttempt {
  status: 'queued' | 'in_progress' | 'completed'
  conclusion: 'success' | 'failure' | 'cancelled' | 'timed_out' | 'skipped' | 'neutral' | null
}

export interface FakeFault {
  method?: string
  path?: RegExp
  status: number
  times?: number
}

export interface FakeGitHubOptions {
  token?: string
  owner?: string
  repo?: string
  permissions?: Record<string, Permission>
  /** Logins that may be assigned; others get 422 like GitHub. Default: users in `permissions` with write or more. */
  assignable?: string[]
}

export interface FakeGitHub {
  url: string
  token: string
  repository: string
  issues: FakeIssue[]
  comments: FakeComment[]
  labels: Array<{ id: number; name: string; color: string }>
  requests: RecordedRequest[]
  setReadOnly(readOnly: boolean): void
  /** Simulate a user's comment on an issue. */
  addComment(issueNumber: number, user: string, body: string): FakeComment
  /** Put an issue (or a PR, with `pullRequest`) in place without going through the API. */
  seedIssue(o: {
    title: string
    body?: string
    labels?: string[]
    state?: 'open' | 'closed'
    pullRequest?: boolean
  }): FakeIssue
  /** Answer the next matching request(s) with an error status. */
  inject(fault: FakeFault): void
  /** Record how a workflow run attempt went (unknown runs answer 404, as for another repository). */
  setRun(runId: number | string, attempt: number | string, run: FakeRunAttempt): void
  /** Requests that change something (anything but GET). */
  writes(): RecordedRequest[]
  now(): string
  close(): Promise<void>
}

const ROLE_TO_LEGACY: Record<Permission, string> = {
  admin: 'admin',
  maintain: 'write',
  write: 'write',
  triage: 'read',
  read: 'read',
  none: 'none',
}

export async function startFakeGitHub(o: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const token = o.token ?? 'ghs_faketoken0123456789'
  const owner = o.owner ?? 'octo'
  const repo = o.repo ?? 'photos'
  const permissions = o.permissions ?? {}
  const assignable =
    o.assignable ??
    Object.entries(permissions)
      .filter(([, p]) => p === 'admin' || p === 'maintain' || p === 'write')
      .map(([u]) => u)
  const issues: FakeIssue[] = []
  const comments: FakeComment[] = []
  const labels: Array<{ id: number; name: string; color: string }> = []
  const requests: RecordedRequest[] = []
  const faults: FakeFault[] = []
  const runs = new Map<string, FakeRunAttempt>()
  const sockets = new Set<Socket>()
  let readOnly = false
  let nextId = 1000
  let clock = Date.parse('2026-01-01T00:00:00Z')
  let base = ''

  const tick = (): string => {
    clock += 1000
    return new Date(clock).toISOString().replace(/\.\d{3}Z$/, 'Z')
  }
  const now = (): string => new Date(clock).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const htmlBase = (): string => `https://github.example/${owner}/${repo}`

  const ensureLabel = (name: string): { id: number; name: string } => {
    let l = labels.find((x) => x.name.toLowerCase() === name.toLowerCase())
    if (!l) {
      l = { id: nextId++, name, color: 'ededed' }
      labels.push(l)
    }
    return { id: l.id, name: l.name }
  }

  const newIssue = (
    title: string,
    body: string | null,
    labelNames: string[],
    assignees: string[],
    pr = false,
  ) => {
    const at = tick()
    const number = issues.length + 1
    const issue: FakeIssue = {
      id: nextId++,
      number,
      title,
      body,
      state: 'open',
      state_reason: null,
      labels: labelNames.map(ensureLabel),
      assignees: assignees.map((login) => ({ login })),
      user: { login: 'github-actions[bot]' },
      comments: 0,
      html_url: `${htmlBase()}/${pr ? 'pull' : 'issues'}/${number}`,
      created_at: at,
      updated_at: at,
      closed_at: null,
      ...(pr ? { pull_request: { url: `${base}/repos/${owner}/${repo}/pulls/${number}` } } : {}),
    }
    issues.push(issue)
    return issue
  }

  const addComment = (issueNumber: number, user: string, body: string): FakeComment => {
    const issue = issues.find((i) => i.number === issueNumber)
    if (!issue) throw new Error(`fake GitHub: no issue #${issueNumber}`)
    const at = tick()
    const id = nextId++
    const c: FakeComment = {
      id,
      issue_number: issueNumber,
      body,
      user: { login: user },
      created_at: at,
      updated_at: at,
      html_url: `${issue.html_url}#issuecomment-${id}`,
    }
    comments.push(c)
    issue.comments++
    issue.updated_at = at
    return c
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base)
      const raw = Buffer.concat(chunks).toString('utf8')
      let body: unknown
      try {
        body = raw === '' ? undefined : JSON.parse(raw)
      } catch {
        body = raw
      }
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
        status: 0,
      }
      requests.push(rec)
      const send = (status: number, data?: unknown, headers: Record<string, string> = {}): void => {
        rec.status = status
        res.writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'x-github-api-version-selected': '2022-11-28',
          ...headers,
        })
        res.end(data === undefined ? '' : JSON.stringify(data))
      }
      const error = (status: number, message: string): void =>
        send(status, { message, documentation_url: 'https://docs.github.com/rest', status: String(status) })
      route(rec, url, send, error)
    })
  })

  type Send = (status: number, data?: unknown, headers?: Record<string, string>) => void
  type Fail = (status: number, message: string) => void

  function route(rec: RecordedRequest, url: URL, send: Send, error: Fail): void {
    const fault = faults.find(
      (f) => (!f.method || f.method === rec.method) && (!f.path || f.path.test(rec.path)),
    )
    if (fault) {
      fault.times = (fault.times ?? 1) - 1
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1)
      return error(fault.status, fault.status >= 500 ? 'Server Error' : 'Injected error')
    }
    if (rec.headers.authorization !== `Bearer ${token}`) return error(401, 'Bad credentials')
    const prefix = `/repos/${owner}/${repo}`
    if (!rec.path.startsWith(prefix + '/') && rec.path !== prefix) return error(404, 'Not Found')
    const rest = rec.path.slice(prefix.length)
    const write = rec.method !== 'GET'
    if (write && readOnly) return error(403, 'Resource not accessible by integration')
    const b = (rec.body ?? {}) as Record<string, unknown>
    let m: RegExpExecArray | null

    if (rest === '/issues' && rec.method === 'GET') {
      const state = url.searchParams.get('state') ?? 'open'
      const want = (url.searchParams.get('labels') ?? '')
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean)
      const list = issues
        .filter((i) => state === 'all' || i.state === state)
        .filter((i) => want.every((w) => i.labels.some((l) => l.name.toLowerCase() === w)))
        .sort((a, b2) => b2.number - a.number) // GitHub's default: newest first
      return paginate(url, list, send)
    }
    if (rest === '/issues' && rec.method === 'POST') {
      if (typeof b.title !== 'string' || b.title === '') return error(422, 'Validation Failed')
      const wanted = Array.isArray(b.assignees) ? (b.assignees as string[]) : []
      if (wanted.some((a) => !assignable.includes(a))) return error(422, 'Validation Failed')
      const issue = newIssue(
        b.title,
        typeof b.body === 'string' ? b.body : null,
        Array.isArray(b.labels) ? (b.labels as string[]) : [],
        wanted,
      )
      return send(201, issue)
    }
    if ((m = /^\/issues\/(\d+)$/.exec(rest))) {
      const issue = issues.find((i) => i.number === Number(m![1]))
      if (!issue) return error(404, 'Not Found')
      if (rec.method === 'GET') return send(200, issue)
      if (rec.method === 'PATCH') {
        const at = tick()
        if (typeof b.title === 'string') issue.title = b.title
        if (typeof b.body === 'string') issue.body = b.body
        if (Array.isArray(b.labels)) issue.labels = (b.labels as string[]).map(ensureLabel)
        if (b.state === 'closed' && issue.state === 'open') {
          issue.state = 'closed'
          issue.closed_at = at
          issue.state_reason = typeof b.state_reason === 'string' ? b.state_reason : 'completed'
        } else if (b.state === 'open' && issue.state === 'closed') {
          issue.state = 'open'
          issue.closed_at = null
          issue.state_reason = 'reopened'
        }
        issue.updated_at = at
        return send(200, issue)
      }
    }
    if ((m = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
      const n = Number(m[1])
      if (!issues.some((i) => i.number === n)) return error(404, 'Not Found')
      if (rec.method === 'POST') {
        if (typeof b.body !== 'string' || b.body === '') return error(422, 'Validation Failed')
        return send(201, stripInternal(addComment(n, 'github-actions[bot]', b.body)))
      }
      if (rec.method === 'GET') {
        const since = url.searchParams.get('since')
        const list = comments
          .filter((c) => c.issue_number === n)
          .filter((c) => !since || Date.parse(c.updated_at) >= Date.parse(since))
          .map(stripInternal)
        return paginate(url, list, send)
      }
    }
    if ((m = /^\/issues\/comments\/(\d+)$/.exec(rest)) && rec.method === 'DELETE') {
      const i = comments.findIndex((c) => c.id === Number(m![1]))
      if (i < 0) return error(404, 'Not Found')
      const [c] = comments.splice(i, 1)
      const issue = issues.find((x) => x.number === c!.issue_number)
      if (issue) issue.comments--
      return send(204)
    }
    if ((m = /^\/collaborators\/([^/]+)\/permission$/.exec(rest)) && rec.method === 'GET') {
      const login = decodeURIComponent(m[1]!)
      const role = permissions[login] ?? 'none'
      return send(200, { permission: ROLE_TO_LEGACY[role], role_name: role, user: { login } })
    }
    // Workflow runs: the latest attempt, or one attempt (needs `actions: read`).
    if ((m = /^\/actions\/runs\/(\d+)(?:\/attempts\/(\d+))?$/.exec(rest)) && rec.method === 'GET') {
      const id = Number(m[1])
      const attempts = [...runs.keys()]
        .filter((k) => k.startsWith(`${id}/`))
        .map((k) => Number(k.split('/')[1]))
        .sort((a, b2) => a - b2)
      const attempt = m[2] ? Number(m[2]) : attempts.at(-1)
      const run = attempt === undefined ? undefined : runs.get(`${id}/${attempt}`)
      if (!run) return error(404, 'Not Found')
      return send(200, {
        id,
        name: 'iCloud Photos backup',
        run_attempt: attempt,
        event: 'schedule',
        status: run.status,
        conclusion: run.conclusion,
        html_url: `${htmlBase()}/actions/runs/${id}/attempts/${attempt}`,
      })
    }
    if (rest === '/labels' && rec.method === 'GET') return paginate(url, labels, send)
    if (rest === '/labels' && rec.method === 'POST') {
      if (
        typeof b.name !== 'string' ||
        labels.some((l) => l.name.toLowerCase() === String(b.name).toLowerCase())
      ) {
        return error(422, 'Validation Failed')
      }
      const l = { id: nextId++, name: b.name, color: typeof b.color === 'string' ? b.color : 'ededed' }
      labels.push(l)
      return send(201, l)
    }
    return error(404, 'Not Found')
  }

  function paginate(url: URL, list: unknown[], send: Send): void {
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30))
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1)
    const last = Math.max(1, Math.ceil(list.length / perPage))
    const headers: Record<string, string> = {}
    const link = (p: number, rel: string): string => {
      const u = new URL(url)
      u.searchParams.set('page', String(p))
      u.searchParams.set('per_page', String(perPage))
      return `<${u.toString()}>; rel="${rel}"`
    }
    const links: string[] = []
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'))
    if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'))
    if (links.length) headers.link = links.join(', ')
    send(200, list.slice((page - 1) * perPage, page * perPage), headers)
  }

  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url: base,
    token,
    repository: `${owner}/${repo}`,
    issues,
    comments,
    labels,
    requests,
    setReadOnly: (v) => void (readOnly = v),
    addComment,
    seedIssue: (s) => {
      const issue = newIssue(s.title, s.body ?? null, s.labels ?? [], [], s.pullRequest)
      if (s.state === 'closed') {
        issue.state = 'closed'
        issue.closed_at = issue.created_at
        issue.state_reason = 'completed'
      }
      return issue
    },
    inject: (f) => void faults.push({ times: 1, ...f }),
    setRun: (runId, attempt, run) => void runs.set(`${runId}/${attempt}`, run),
    writes: () => requests.filter((r) => r.method !== 'GET'),
    now,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function stripInternal(c: FakeComment): Omit<FakeComment, 'issue_number'> {
  const { issue_number: _n, ...rest } = c
  return rest
}
