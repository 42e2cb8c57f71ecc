/**
 * The GitHub issue channel: one open issue per account and kind group, found by label plus a
 * hidden marker in its body. A problem opens it once, repeats comment on it, and a healthy run
 * closes it with a comment. A token that cannot write issues (fork pull requests, missing
 * `issues: write`) yields a warning result, never an exception.
 */
import { accountHash, kindGroup, type NotificationEvent, type NotificationKind } from './event.js'
import { renderMarkdown, subjectOf } from './messages.js'
import type { Channel, ChannelResult } from './dispatch.js'
import { GitHubApiError, GitHubClient } from '../github/client.js'
import { createWithFallback, DEFAULT_ISSUE_LABEL, issueLabels } from '../github/issues.js'

export interface GitHubIssueSettings {
  /** The `github-token` input. */
  token: string
  /** `owner/name`; default GITHUB_REPOSITORY. */
  repository?: string
  /** Default GITHUB_API_URL, then https://api.github.com. */
  apiUrl?: string
  /** Labels added on creation, besides `icloud-photos`. */
  labels?: string[]
  assignees?: string[]
  /** Client options for tests (fast retries). */
  retries?: number
  minRetryDelayMs?: number
}

export interface IssueOptions {
  labels?: string[]
  assignees?: string[]
}

/** `<!-- icloud-photos-action:health:<hash> -->`: invisible in the rendered issue, stable across runs. */
export function issueMarker(kind: NotificationKind, username: string): string {
  return `<!-- icloud-photos-action:${kindGroup(kind)}:${accountHash(username)} -->`
}

/** Create, comment on, or close the account's issue for this event. */
export async function notifyViaIssue(
  client: GitHubClient,
  event: NotificationEvent,
  o: IssueOptions = {},
): Promise<ChannelResult> {
  try {
    const marker = issueMarker(event.kind, event.username)
    const open = await client.findOpenIssue([DEFAULT_ISSUE_LABEL], marker)
    const markdown = renderMarkdown(event)
    if (event.kind === 'recovered') {
      if (!open) return result(true, 'No open issue to close.')
      await client.closeIssue(open.number, markdown)
      return result(true, `Closed issue #${open.number}.`)
    }
    const title = subjectOf(event)
    if (open) {
      await client.commentOnIssue(open.number, markdown)
      // The title says the current state (e.g. "expiring" became "sign-in needed").
      if (open.title !== title) await client.updateIssue(open.number, { title })
      return result(true, `Commented on issue #${open.number}.`)
    }
    const created = await createWithFallback(client, {
      title,
      body: `${marker}\n${markdown}`,
      labels: issueLabels(o.labels),
      assignees: o.assignees?.filter((a) => a.trim() !== ''),
    })
    return result(true, `Opened issue #${created.number}.`)
  } catch (err) {
    return failure(err)
  }
}

export function githubIssueChannel(s: GitHubIssueSettings): Channel {
  return {
    name: 'github-issue',
    async send(event) {
      const repository = s.repository ?? process.env.GITHUB_REPOSITORY
      if (!s.token || !repository) {
        return result(false, 'GitHub issue notification skipped: no github-token or repository.')
      }
      const client = new GitHubClient({
        token: s.token,
        repository,
        apiUrl: s.apiUrl ?? process.env.GITHUB_API_URL,
        retries: s.retries,
        minRetryDelayMs: s.minRetryDelayMs,
      })
      return notifyViaIssue(client, event, { labels: s.labels, assignees: s.assignees })
    },
  }
}

function result(ok: boolean, detail: string, warning?: string): ChannelResult {
  return warning === undefined
    ? { channel: 'github-issue', ok, detail }
    : { channel: 'github-issue', ok, detail, warning }
}

function failure(err: unknown): ChannelResult {
  if (!(err instanceof GitHubApiError)) {
    return result(false, `GitHub issue notification failed: ${(err as Error)?.message ?? 'unknown error'}`)
  }
  const detail = `GitHub issue notification failed: ${err.message}`
  if (err.status === 403) {
    return result(
      false,
      detail,
      'The github-token cannot write issues (403). Give the workflow `permissions: issues: write`; ' +
        'runs for pull requests from forks only get a read-only token.',
    )
  }
  if (err.status === 404 || err.status === 410) {
    return result(
      false,
      detail,
      `The repository's issues are not reachable with this token (${err.status}): issues may be disabled, ` +
        'or the token has no access to the repository.',
    )
  }
  if (err.status === 401) {
    return result(false, detail, 'The github-token was rejected (401); it may have expired.')
  }
  return result(false, detail)
}
