import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startFakeGitHub, type FakeGitHub } from '../sim/github-api.js'
import { GitHubApiError, GitHubClient, canWrite } from '../src/github/client.js'
import { githubIssueChannel, issueMarker, notifyViaIssue } from '../src/notify/github-issue.js'
import type { NotificationEvent } from '../src/notify/event.js'

const APPLE_ID = 'jane.doe@example.org'

const failure: NotificationEvent = {
  kind: 'mfa-required',
  username: APPLE_ID,
  daysRemaining: 0,
  trustExpiresAt: '2026-05-01T08:00:00Z',
  errorCode: 'MFA_REQUIRED',
  message: 'Apple asks for a two-factor code, which a scheduled run cannot type.',
  remediation: [
    'Run `icloud-photos-action login` locally and update the ICLOUD_SESSION secret',
    'or run the re-auth workflow',
  ],
  runUrl: 'https://github.com/octo/photos/actions/runs/1',
  repository: 'octo/photos',
}
const recovered: NotificationEvent = {
  kind: 'recovered',
  username: APPLE_ID,
  message: 'The session is valid again.',
  remediation: [],
  runUrl: 'https://github.com/octo/photos/actions/runs/4',
}

let gh: FakeGitHub
beforeEach(async () => {
  gh = await startFakeGitHub({ permissions: { alice: 'admin', bob: 'maintain', carol: 'triage' } })
})
afterEach(async () => {
  await gh.close()
})

const channel = (extra: { labels?: string[]; assignees?: string[] } = {}) =>
  githubIssueChannel({
    token: gh.token,
    repository: gh.repository,
    apiUrl: gh.url,
    retries: 2,
    minRetryDelayMs: 1,
    ...extra,
  })

describe('GitHub issue channel', () => {
  it('opens one issue for three failing runs and comments on the repeats', async () => {
    const ch = channel({ labels: ['backup'], assignees: ['alice'] })
    const results = []
    for (const run of [1, 2, 3]) {
      results.push(
        await ch.send({ ...failure, runUrl: `https://github.com/octo/photos/actions/runs/${run}` }),
      )
    }
    expect(results.map((r) => r.detail)).toEqual([
      'Opened issue #1.',
      'Commented on issue #1.',
      'Commented on issue #1.',
    ])
    expect(results.every((r) => r.ok && r.warning === undefined)).toBe(true)

    expect(gh.issues).toHaveLength(1)
    const issue = gh.issues[0]!
    expect(issue.state).toBe('open')
    expect(issue.title).toBe('iCloud Photos: two-factor sign-in needed for j***@e******.org')
    expect(issue.labels.map((l) => l.name)).toEqual(['icloud-photos', 'backup'])
    expect(issue.assignees).toEqual([{ login: 'alice' }])
    expect(issue.body).toContain(issueMarker('mfa-required', APPLE_ID))
    expect(issue.body).toContain('`j***@e******.org`')
    expect(issue.body).toContain('[view the workflow run](https://github.com/octo/photos/actions/runs/1)')
    expect(issue.body).toContain('2. or run the re-auth workflow')
    expect(issue.body).not.toContain(APPLE_ID)

    const comments = gh.comments.filter((c) => c.issue_number === 1)
    expect(comments).toHaveLength(2)
    expect(comments[0]!.body).toContain('actions/runs/2')
    expect(comments[1]!.body).toContain('actions/runs/3')

    // Every call authenticated, versioned and identified.
    for (const r of gh.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${gh.token}`)
      expect(r.headers['x-github-api-version']).toBe('2022-11-28')
      expect(r.headers['user-agent']).toBe('icloud-photos-action')
    }
  })

  it('closes the open issue with a comment when the backup recovers', async () => {
    const ch = channel()
    await ch.send(failure)
    const res = await ch.send(recovered)
    expect(res).toEqual({ channel: 'github-issue', ok: true, detail: 'Closed issue #1.' })
    expect(gh.issues[0]).toMatchObject({ state: 'closed', state_reason: 'completed' })
    const last = gh.comments.at(-1)!
    expect(last.issue_number).toBe(1)
    expect(last.body).toContain('is working again')
    // The comment comes before the close, so it is part of the issue's story.
    const writes = gh.writes().map((r) => `${r.method} ${r.path}`)
    expect(writes.slice(-2)).toEqual([
      'POST /repos/octo/photos/issues/1/comments',
      'PATCH /repos/octo/photos/issues/1',
    ])

    // A new problem after recovery opens a fresh issue rather than reviving the closed one.
    await ch.send(failure)
    expect(gh.issues.map((i) => [i.number, i.state])).toEqual([
      [1, 'closed'],
      [2, 'open'],
    ])
  })

  it('does nothing but search when the backup is healthy and no issue is open', async () => {
    const res = await channel().send(recovered)
    expect(res).toEqual({ channel: 'github-issue', ok: true, detail: 'No open issue to close.' })
    expect(gh.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /repos/octo/photos/issues'])
    expect(gh.requests[0]!.query).toMatchObject({ state: 'open', labels: 'icloud-photos' })
  })

  it('turns a read-only token (403) into a warning result', async () => {
    gh.setReadOnly(true)
    const res = await channel().send(failure)
    expect(res.ok).toBe(false)
    expect(res.warning).toMatch(/cannot write issues \(403\).*issues: write/)
    expect(res.detail).toContain('Resource not accessible by integration')
    expect(gh.issues).toEqual([])
    expect(JSON.stringify(res)).not.toContain(gh.token)
  })

  it('keeps one issue per account and finds its own past the first page', async () => {
    // 150 unrelated open issues with the same label, newer than ours after we create it.
    const ch = channel()
    await ch.send(failure)
    for (let i = 0; i < 150; i++) gh.seedIssue({ title: `other ${i}`, body: 'x', labels: ['icloud-photos'] })
    // A pull request carrying the marker must not be mistaken for the issue.
    gh.seedIssue({
      title: 'pr',
      body: issueMarker('failure', APPLE_ID),
      labels: ['icloud-photos'],
      pullRequest: true,
    })

    const res = await ch.send(failure)
    expect(res.detail).toBe('Commented on issue #1.')
    expect(
      gh.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/issues')).length,
    ).toBeGreaterThanOrEqual(3)

    const other = await ch.send({ ...failure, username: 'someone.else@example.org' })
    expect(other.detail).toBe('Opened issue #153.')
  })

  it('retitles the issue when the situation changes, and falls back when an assignee is refused', async () => {
    const ch = channel({ assignees: ['mallory'] }) // not assignable → GitHub answers 422
    const first = await ch.send({
      ...failure,
      kind: 'trust-expiring',
      daysRemaining: 3,
      errorCode: undefined,
    })
    expect(first.detail).toBe('Opened issue #1.')
    expect(gh.issues[0]!.assignees).toEqual([])
    expect(gh.issues[0]!.title).toBe('iCloud Photos: sign-in for j***@e******.org expires in 3 days')
    await ch.send(failure)
    expect(gh.issues).toHaveLength(1)
    expect(gh.issues[0]!.title).toBe('iCloud Photos: two-factor sign-in needed for j***@e******.org')
  })

  it('reports a rejected token (401) without the token', async () => {
    const res = await githubIssueChannel({
      token: 'ghs_wrongtoken',
      repository: gh.repository,
      apiUrl: gh.url,
      retries: 0,
    }).send(failure)
    expect(res.ok).toBe(false)
    expect(res.warning).toContain('401')
    expect(JSON.stringify(res)).not.toContain('ghs_wrongtoken')
  })
})

describe('GitHubClient', () => {
  const client = () =>
    new GitHubClient({
      token: gh.token,
      repository: gh.repository,
      apiUrl: gh.url,
      retries: 2,
      minRetryDelayMs: 1,
    })

  it('retries a 5xx and then succeeds', async () => {
    gh.inject({ method: 'POST', path: /\/issues$/, status: 502 })
    const issue = await client().createIssue({ title: 't', body: 'b' })
    expect(issue.number).toBe(1)
    expect(gh.requests.map((r) => r.status)).toEqual([502, 201])
  })

  it('gives up after the retries with the status, and does not retry a 4xx', async () => {
    gh.inject({ method: 'GET', status: 503, times: 10 })
    const err = await client()
      .findOpenIssue(['icloud-photos'], 'm')
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GitHubApiError)
    expect((err as GitHubApiError).status).toBe(503)
    expect(gh.requests).toHaveLength(3)

    gh.requests.length = 0
    const missing = await client()
      .commentOnIssue(99, 'hello')
      .catch((e: unknown) => e)
    expect((missing as GitHubApiError).status).toBe(404)
    expect(gh.requests).toHaveLength(1)
  })

  it('lists comments since a time, deletes one, and reads permissions', async () => {
    const c = client()
    const issue = await c.createIssue({ title: 'Re-auth', body: 'code please' })
    gh.addComment(issue.number, 'carol', 'early')
    const since = gh.now()
    gh.addComment(issue.number, 'alice', '123456')
    gh.addComment(issue.number, 'bob', '654321')

    const all = await c.listComments(issue.number)
    expect(all.map((x) => x.body)).toEqual(['early', '123456', '654321'])
    const recent = await c.listComments(issue.number, new Date(Date.parse(since) + 1000).toISOString())
    expect(recent.map((x) => [x.user?.login, x.body])).toEqual([
      ['alice', '123456'],
      ['bob', '654321'],
    ])
    expect(gh.requests.at(-1)!.query.since).toBeDefined()

    await c.deleteComment(recent[0]!.id)
    expect(gh.comments.map((x) => x.body)).toEqual(['early', '654321'])

    expect(await c.getPermission('alice')).toBe('admin')
    expect(await c.getPermission('bob')).toBe('maintain')
    expect(await c.getPermission('carol')).toBe('triage')
    expect(await c.getPermission('stranger')).toBe('none')
    expect([canWrite('maintain'), canWrite('triage'), canWrite('none')]).toEqual([true, false, false])
  })

  it('sends the token only to the API origin (absolute pagination links are checked)', async () => {
    const c = client()
    await expect(
      c.request('GET', 'https://elsewhere.example/repos/octo/photos/issues?page=2'),
    ).rejects.toThrow(/outside the API URL/)
    const page = await c.request<unknown[]>('GET', `${gh.url}/repos/octo/photos/issues?page=1`)
    expect(page.status).toBe(200)
  })
})

describe('issue channel against a client built elsewhere', () => {
  it('works with a caller-provided client (the re-auth feature shares one)', async () => {
    const c = new GitHubClient({ token: gh.token, repository: gh.repository, apiUrl: gh.url, retries: 0 })
    const res = await notifyViaIssue(c, { ...failure, kind: 'reauth-request' })
    expect(res.detail).toBe('Opened issue #1.')
    expect(gh.issues[0]!.body).toContain(issueMarker('reauth-request', APPLE_ID))
    // A health problem for the same account is a separate thread.
    expect((await notifyViaIssue(c, failure)).detail).toBe('Opened issue #2.')
  })
})
