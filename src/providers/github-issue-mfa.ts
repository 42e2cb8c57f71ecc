/**
 * The `github-issue` MFA provider: renew the 2FA trust from a phone. It asks for the code in the
 * account's re-auth issue, polls the comments, and takes a code only from users who may push to the
 * repository (write, maintain, admin). Others are ignored and logged by name — never their text.
 * The code is registered as a secret the moment it is read, and the comment carrying it is
 * deleted once it was submitted.
 */
import { AppError } from '../core/errors.js'
import type { Log } from '../core/log.js'
import { MAX_CODE_ATTEMPTS } from '../icloud/ports.js'
import { canWrite, GitHubApiError, type GitHubClient, type GitHubComment } from '../github/client.js'
import { createWithFallback, DEFAULT_ISSUE_LABEL, issueLabels } from '../github/issues.js'
import { issueMarker } from '../notify/github-issue.js'
import { maskAppleId, type NotificationEvent } from '../notify/event.js'
import { formatWait, reauthText, renderMarkdown, subjectOf } from '../notify/messages.js'
import type { MfaAnswer, MfaChallenge, MfaProvider, TrustedPhone } from '../icloud/ports.js'

export const DEFAULT_REAUTH_TIMEOUT_MS = 10 * 60_000
export const DEFAULT_REAUTH_POLL_MS = 10_000

/** The issue calls the provider makes (GitHubClient has them all). */
export type ReauthIssueApi = Pick<
  GitHubClient,
  | 'findOpenIssue'
  | 'createIssue'
  | 'commentOnIssue'
  | 'closeIssue'
  | 'listComments'
  | 'getPermission'
  | 'deleteComment'
>

export interface GitHubIssueMfaOptions {
  client: ReauthIssueApi
  /** The Apple ID; the issue shows it masked. */
  username: string
  /** Added to `icloud-photos` on creation (notifications.github-issue.labels). */
  labels?: string[]
  /** Assigned on creation, so they get a notification (notifications.github-issue.assignees). */
  assignees?: string[]
  /** How long one request waits for a reply (default 10 minutes). */
  timeoutMs?: number
  /** Time between reads of the comments (default 10 s). */
  pollMs?: number
  runUrl?: string
  repository?: string
  log: Pick<Log, 'info' | 'warning' | 'debug'>
  /** core.setSecret in the action: called with the code before anything else sees it. */
  registerSecret?: (value: string) => void
  sleep?: (ms: number) => Promise<void>
  now?: () => number
}

export interface GitHubIssueMfa extends MfaProvider {
  /** Deletes the used code comments; closes the issue on success, says so on failure. */
  done(ok: boolean): Promise<void>
  /** Deletes code comments not yet deleted (a failed submit skips done()); never throws. */
  cleanup(): Promise<void>
  /** The issue asked on, once asked. */
  readonly issueNumber: number | undefined
}

/** What a reply asks for: a code, an SMS (to a phone id, or the first one), or nothing we read. */
export type Reply = { kind: 'code'; code: string } | { kind: 'sms'; phoneId?: number }

/**
 * Reads a reply: quoted lines (`> …`, a reply quoting the request) are skipped; `sms` or `sms 2`
 * alone asks for a text message; otherwise exactly one code of `length` digits (spaces or a dash
 * in the middle are fine, as people paste them), anywhere in the text. Two different codes are
 * ambiguous and read as nothing.
 */
export function parseReply(body: string, length = 6): Reply | undefined {
  const text = body
    .split(/\r?\n/)
    .filter((l) => !l.trimStart().startsWith('>'))
    .join('\n')
    .replace(/`/g, ' ')
    .trim()
  const sms = /^sms(?:\s*[: ]\s*(\d+))?$/i.exec(text)
  if (sms) return sms[1] === undefined ? { kind: 'sms' } : { kind: 'sms', phoneId: Number(sms[1]) }
  const half = Math.floor(length / 2)
  const pattern = new RegExp(`(?<![\\d-])(\\d{${half}})[ -]?(\\d{${length - half}})(?![\\d-])`, 'g')
  const codes = new Set([...text.matchAll(pattern)].map((m) => `${m[1]}${m[2]}`))
  if (codes.size !== 1) return undefined
  return { kind: 'code', code: [...codes][0]! }
}

/** The provider: one conversation in the account's re-auth issue per run. */
export class GitHubIssueMfaProvider implements GitHubIssueMfa {
  readonly name = 'github-issue' as const
  // Needs a human, but not a terminal: it works in CI.
  readonly interactive = false
  private readonly now: () => number
  private readonly sleep: (ms: number) => Promise<void>
  private readonly timeoutMs: number
  private readonly pollMs: number
  private readonly permissions = new Map<string, ReturnType<ReauthIssueApi['getPermission']>>()
  /** Comments already looked at (ours, ignored ones, answers). */
  private readonly seen = new Set<number>()
  /** Comments with a code that was read, to delete once it was used. */
  private readonly toDelete = new Map<number, string>()
  private issue: { number: number } | undefined
  /** Only comments created at or after our request count: older ones belong to earlier runs. */
  private since = ''
  private lastAnswer: MfaAnswer | undefined

  constructor(private readonly o: GitHubIssueMfaOptions) {
    this.now = o.now ?? Date.now
    this.sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
    this.timeoutMs = o.timeoutMs ?? DEFAULT_REAUTH_TIMEOUT_MS
    this.pollMs = o.pollMs ?? DEFAULT_REAUTH_POLL_MS
  }

  get issueNumber(): number | undefined {
    return this.issue?.number
  }

  async ask(c: MfaChallenge): Promise<MfaAnswer> {
    try {
      await this.deleteUsed()
      if (!this.issue) await this.openRequest(c)
      else if (this.lastAnswer?.kind === 'sms' && !c.previousError) {
        const sms = this.lastAnswer
        const phone = c.phones.find((p) => p.id === sms.phoneId)
        await this.post(this.issue.number, reauthText.smsSent(phone && phoneText(phone), this.timeoutMs))
      } else if (c.previousError) {
        await this.post(
          this.issue.number,
          reauthText.notAccepted(
            this.lastAnswer?.kind === 'sms',
            c.previousError,
            this.timeoutMs,
            c.attempt,
            MAX_CODE_ATTEMPTS,
          ),
        )
      }
    } catch (err) {
      throw issueError(err)
    }
    const reply = await this.waitForReply(c)
    this.lastAnswer =
      reply.kind === 'code'
        ? { kind: 'code', code: reply.code }
        : { kind: 'sms', phoneId: reply.phoneId ?? c.phones[0]?.id ?? 0 }
    return this.lastAnswer
  }

  async done(ok: boolean): Promise<void> {
    await this.deleteUsed()
    if (!this.issue) return
    try {
      if (ok) {
        await this.o.client.closeIssue(
          this.issue.number,
          reauthText.accepted(maskAppleId(this.o.username), this.o.runUrl),
        )
        this.o.log.info(`Closed issue #${this.issue.number}.`)
      } else {
        await this.post(this.issue.number, reauthText.rejected)
      }
    } catch (err) {
      this.o.log.warning(`Could not update issue #${this.issue.number}: ${(err as Error).message}`)
    }
  }

  async cleanup(): Promise<void> {
    await this.deleteUsed().catch(() => undefined)
  }

  private event(message: string, remediation: string[]): NotificationEvent {
    return {
      kind: 'reauth-request',
      username: this.o.username,
      message,
      remediation,
      runUrl: this.o.runUrl,
      repository: this.o.repository,
    }
  }

  private requestText(c: MfaChallenge): string {
    const until = new Date(this.now() + this.timeoutMs).toISOString()
    return [
      renderMarkdown(
        this.event(
          reauthText.requestMessage(c.codeLength),
          reauthText.requestSteps(c.codeLength, this.timeoutMs, until),
        ),
      ),
      '',
      ...reauthText.smsOffer(c.phones.map((p) => ({ id: p.id, text: phoneText(p) }))),
      reauthText.safety,
    ].join('\n')
  }

  private async post(number: number, body: string): Promise<void> {
    const c = await this.o.client.commentOnIssue(number, body)
    this.seen.add(c.id)
  }

  /** Opens the issue, or asks again on the one a previous run left open. */
  private async openRequest(c: MfaChallenge): Promise<void> {
    const marker = issueMarker('reauth-request', this.o.username)
    const text = this.requestText(c)
    const open = await this.o.client.findOpenIssue([DEFAULT_ISSUE_LABEL], marker)
    if (open) {
      const comment = await this.o.client.commentOnIssue(open.number, reauthText.askedAgain(text))
      this.seen.add(comment.id)
      this.since = comment.created_at
      this.issue = { number: open.number }
      this.o.log.info(
        `Asked for the verification code again on the open issue #${open.number} (${open.html_url}).`,
      )
      return
    }
    const created = await createWithFallback(this.o.client, {
      title: subjectOf(this.event('', [])),
      body: `${marker}\n${text}`,
      labels: issueLabels(this.o.labels),
      assignees: this.o.assignees?.filter((a) => a.trim() !== '') ?? [],
    })
    this.since = created.created_at
    this.issue = { number: created.number }
    this.o.log.info(`Opened issue #${created.number} asking for the verification code: ${created.html_url}`)
  }

  private permissionOf(login: string): ReturnType<ReauthIssueApi['getPermission']> {
    let p = this.permissions.get(login)
    if (!p) {
      p = this.o.client.getPermission(login)
      this.permissions.set(login, p)
      // A failed lookup is asked again on the next poll rather than remembered.
      p.catch(() => this.permissions.delete(login))
    }
    return p
  }

  /** One read of the comments: the newest answer from someone allowed to give it. */
  private async poll(c: MfaChallenge): Promise<Reply | undefined> {
    const number = this.issue!.number
    const comments = await this.o.client.listComments(number, this.since || undefined)
    let answer: { reply: Reply; comment: GitHubComment } | undefined
    for (const comment of comments) {
      if (
        this.seen.has(comment.id) ||
        (this.since && Date.parse(comment.created_at) < Date.parse(this.since))
      )
        continue
      const login = comment.user?.login
      if (!login) {
        this.seen.add(comment.id)
        continue
      }
      const permission = await this.permissionOf(login)
      this.seen.add(comment.id)
      if (!canWrite(permission)) {
        this.o.log.warning(
          `Ignored a comment on issue #${number} by @${login}: their permission on the repository is ${permission}; only write, maintain or admin can answer.`,
        )
        continue
      }
      const reply = parseReply(comment.body ?? '', c.codeLength)
      if (!reply) {
        this.o.log.info(
          `A comment by @${login} on issue #${number} holds no ${c.codeLength}-digit code; still waiting.`,
        )
        continue
      }
      if (reply.kind === 'code') {
        this.o.registerSecret?.(reply.code)
        this.toDelete.set(comment.id, comment.html_url)
      }
      answer = { reply, comment }
    }
    if (answer) this.o.log.info(`Read the reply by @${answer.comment.user!.login} on issue #${number}.`)
    return answer?.reply
  }

  private async waitForReply(c: MfaChallenge): Promise<Reply> {
    const number = this.issue!.number
    const deadline = this.now() + this.timeoutMs
    this.o.log.info(`Waiting up to ${formatWait(this.timeoutMs)} for a reply on issue #${number}.`)
    for (;;) {
      await this.sleep(Math.max(0, Math.min(this.pollMs, deadline - this.now())))
      let reply: Reply | undefined
      try {
        reply = await this.poll(c)
      } catch (err) {
        // A GitHub hiccup (5xx, network) costs one poll; a refusal (4xx) will not go away.
        if (!(err instanceof GitHubApiError) || (err.status !== 0 && err.status < 500)) throw issueError(err)
        this.o.log.warning(`Reading issue #${number} failed (${err.message}); trying again.`)
      }
      if (reply) return reply
      if (this.now() >= deadline) break
    }
    await this.post(number, reauthText.timedOut(this.timeoutMs, this.o.runUrl)).catch((err: unknown) =>
      this.o.log.warning(`Could not comment on issue #${number}: ${(err as Error).message}`),
    )
    throw new AppError(
      'MFA_REQUIRED',
      `No verification code was posted on issue #${number} within ${formatWait(this.timeoutMs)}; the issue stays open.`,
      'Run the re-auth workflow again and reply with the new code from an account with write access, or renew the session on your computer (`icloud-photos-action login` then `session export`) and update the ICLOUD_SESSION secret.',
    )
  }

  private async deleteUsed(): Promise<void> {
    for (const [id, url] of [...this.toDelete]) {
      this.toDelete.delete(id)
      try {
        await this.o.client.deleteComment(id)
        this.o.log.info('Deleted the comment that held the code.')
      } catch (err) {
        if (err instanceof GitHubApiError && err.status === 404) continue
        this.o.log.warning(
          `Could not delete the comment that held the code (${(err as Error).message}); delete it by hand: ${url}`,
        )
      }
    }
  }
}

export function githubIssueMfa(o: GitHubIssueMfaOptions): GitHubIssueMfa {
  return new GitHubIssueMfaProvider(o)
}

function phoneText(p: TrustedPhone): string {
  return p.obfuscatedNumber.replace(/[`|]/g, '')
}

/** A GitHub refusal while asking: no one can be asked, so the sign-in cannot finish. */
function issueError(err: unknown): unknown {
  if (!(err instanceof GitHubApiError)) return err
  const fix =
    err.status === 403 || err.status === 404
      ? 'give the workflow `permissions: issues: write` (issues must be enabled in the repository)'
      : err.status === 401
        ? 'pass `github-token: ${{ github.token }}`'
        : 'try again later'
  return new AppError(
    'MFA_REQUIRED',
    `Apple asks for a two-factor code, and it could not be asked for in a GitHub issue: ${err.message}.`,
    `To ask in an issue, ${fix}. Or renew the session on your computer (\`icloud-photos-action login\` then \`session export\`) and update the ICLOUD_SESSION secret.`,
    { cause: err },
  )
}
