/**
 * The issue conversation both the notifier and the re-auth provider hold: our label, and creating
 * an issue even when an assignee is refused.
 */
import { GitHubApiError, type GitHubClient, type GitHubIssue } from './client.js'

/** Every issue we open carries this label, and the search filters on it alone (config labels may change). */
export const DEFAULT_ISSUE_LABEL = 'icloud-photos'

export function issueLabels(extra: readonly string[] = []): string[] {
  const out = [DEFAULT_ISSUE_LABEL]
  for (const l of extra) {
    const t = l.trim()
    if (t && !out.includes(t)) out.push(t)
  }
  return out
}

/** GitHub answers 422 when an assignee cannot be assigned; the issue matters more than the assignee. */
export async function createWithFallback(
  client: Pick<GitHubClient, 'createIssue'>,
  issue: { title: string; body: string; labels: string[]; assignees?: string[] },
): Promise<GitHubIssue> {
  try {
    return await client.createIssue(issue)
  } catch (err) {
    if (err instanceof GitHubApiError && err.status === 422 && issue.assignees?.length) {
      return client.createIssue({ ...issue, assignees: [] })
    }
    throw err
  }
}
