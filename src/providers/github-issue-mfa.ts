/**
 * The `github-issue` MFA provider: renew the 2FA trust from a phone. It asks for the code in the
 * account's re-auth issue, polls the comments, and takes a code only from users who may push to the
 * repository (write, maintain, admin). Others are ignored and logged by name — never their text.
 * The code is registered as a secret the moment it is read, and the comment carrying it is
 * deleted once it was submitted.
 */
import { AppError } from '../core/errors.js'
import { MAX_CODE_ATTEMPTS } from '../icloud/ports.js'
import { canWrite, GitHubApiError, type GitHubClient, type GitHubComment } from '../github/client.js'
import { createWithFallback, DEFAULT_ISSUE_LABEL, issueLabels } from '../github/issues.js'
import { issueMarker } from '../notify/github-issue.js'
import { maskAppleId, type NotificationEvent } from '../notify/event.js'
import { formatInstant, renderMarkdown, subjectOf } from '../notify/messages.js'
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
  log: { info(m: string): void; warning(m: string): void; debug(m: string): void }
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

/** `10 minutes`, `1 minute`, `30 seconds`, `1 minute 30 seconds`. */
export function formatWait(ms: number): string {
  const total = Math.max(1, Math.round(ms / 1000))
  const m = Math.floor(total / 60)
  const s = total % 60
  const part = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`
  if (m && s) return `${part(m, 'minute')} ${part(s, 'second')}`
  return m ? part(m, 'minute') : part(s, 'second')
}

export function githubIssueMfa(o: GitHubIssueMfaOptions): GitHubIssueMfa {
  const now = o.now ?? Date.now
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const timeoutMs = o.timeoutMs ?? DEFAULT_REAUTH_TIMEOUT_MS
  const pollMs = o.pollMs ?? DEFAULT_REAUTH_POLL_MS
  const account = maskAppleId(o.username)
  const permissions = new Map<string, ReturnType<ReauthIssueApi['getPermission']>>()
  /** Comments already looked at (ours, ignored ones, answers). */
  const seen = new Set<number>()
  /** Comments with a code that was read, to delete once it was used. */
  const toDelete = new Map<number, string>()
  let issue: { number: number } | undefined
  /** Only comments created at or after our request count: older ones belong to earlier runs. */
  let since = ''
  let lastAnswer: MfaAnswer | undefined

  const event = (message: string, remediation: string[]): NotificationEvent => ({
    kind: 'reauth-request',
    username: o.username,
    message,
    remediation,
    runUrl: o.runUrl,
    repository: o.repository,
  })

  const requestText = (c: MfaChallenge): string => {
    const until = formatInstant(new Date(now() + timeoutMs).toISOString())
    const body = renderMarkdown(
      event(
        `This workflow run signed in with the password and Apple sent a ${c.codeLength}-digit code to the devices trusted for this Apple ID.`,
        [
          'Find the code on your iPhone, iPad or Mac (allow the "Apple Account Sign-In Requested" prompt to see it).',
          `Reply to this issue with a comment holding only the ${c.codeLength}-digit code. Only replies from people with write, maintain or admin permission on this repository are read.`,
          `This run waits ${formatWait(timeoutMs)} for the reply (until ${until}). The comment is deleted as soon as the code was used, and this issue closes itself when the session is trusted again.`,
        ],
      ),
    )
    const lines = [body, '']
    if (c.phones.length) {
      lines.push('**No code on a device?** Reply `sms` to get it by text message instead:', '')
      for (const p of c.phones) lines.push(`- \`sms ${p.id}\`: ${phoneText(p)}`)
      lines.push('')
    }
    lines.push(
      '**About safety.** The code alone cannot sign in to the account: it only completes this sign-in, which already used the password, and it expires within minutes. ' +
        'Still, in a public repository anyone can read this issue; keep the backup in a private repository.',
    )
    return lines.join('\n')
  }

  const post = async (number: number, body: string): Promise<void> => {
    const c = await o.client.commentOnIssue(number, body)
    seen.add(c.id)
  }

  /** Opens the issue, or asks again on the one a previous run left open. */
  const openRequest = async (c: MfaChallenge): Promise<void> => {
    const marker = issueMarker('reauth-request', o.username)
    const text = requestText(c)
    const open = await o.client.findOpenIssue([DEFAULT_ISSUE_LABEL], marker)
    if (open) {
      const comment = await o.client.commentOnIssue(
        open.number,
        `A new sign-in started; earlier codes no longer work.\n\n${text}`,
      )
      seen.add(comment.id)
      since = comment.created_at
      issue = { number: open.number }
      o.log.info(
        `Asked for the verification code again on the open issue #${open.number} (${open.html_url}).`,
      )
      return
    }
    const fields = {
      title: subjectOf(event('', [])),
      body: `${marker}\n${text}`,
      labels: issueLabels(o.labels),
      assignees: o.assignees?.filter((a) => a.trim() !== '') ?? [],
    }
    const created = await createWithFallback(o.client, fields)
    since = created.created_at
    issue = { number: created.number }
    o.log.info(`Opened issue #${created.number} asking for the verification code: ${created.html_url}`)
  }

  const permissionOf = (login: string) => {
    let p = permissions.get(login)
    if (!p) {
      p = o.client.getPermission(login)
      permissions.set(login, p)
      // A failed lookup is asked again on the next poll rather than remembered.
      p.catch(() => permissions.delete(login))
    }
    return p
  }

  /** One read of the comments: the newest answer from someone allowed to give it. */
  const poll = async (c: MfaChallenge): Promise<Reply | undefined> => {
    const comments = await o.client.listComments(issue!.number, since || undefined)
    let answer: { reply: Reply; comment: GitHubComment } | undefined
    for (const comment of comments) {
      if (seen.has(comment.id) || (since && Date.parse(comment.created_at) < Date.parse(since))) continue
      const login = comment.user?.login
      if (!login) {
        seen.add(comment.id)
        continue
      }
      const permission = await permissionOf(login)
      seen.add(comment.id)
      if (!canWrite(permission)) {
        o.log.warning(
          `Ignored a comment on issue #${issue!.number} by @${login}: their permission on the repository is ${permission}; only write, maintain or admin can answer.`,
        )
        continue
      }
      const reply = parseReply(comment.body ?? '', c.codeLength)
      if (!reply) {
        o.log.info(
          `A comment by @${login} on issue #${issue!.number} holds no ${c.codeLength}-digit code; still waiting.`,
        )
        continue
      }
      if (reply.kind === 'code') {
        o.registerSecret?.(reply.code)
        toDelete.set(comment.id, comment.html_url)
      }
      answer = { reply, comment }
    }
    if (answer) o.log.info(`Read the reply by @${answer.comment.user!.login} on issue #${issue!.number}.`)
    return answer?.reply
  }

  const waitForReply = async (c: MfaChallenge): Promise<Reply> => {
    const deadline = now() + timeoutMs
    o.log.info(`Waiting up to ${formatWait(timeoutMs)} for a reply on issue #${issue!.number}.`)
    for (;;) {
      await sleep(Math.max(0, Math.min(pollMs, deadline - now())))
      let reply: Reply | undefined
      try {
        reply = await poll(c)
      } catch (err) {
        // A GitHub hiccup (5xx, network) costs one poll; a refusal (4xx) will not go away.
        if (!(err instanceof GitHubApiError) || (err.status !== 0 && err.status < 500)) throw issueError(err)
        o.log.warning(`Reading issue #${issue!.number} failed (${err.message}); trying again.`)
      }
      if (reply) return reply
      if (now() >= deadline) break
    }
    const run = o.runUrl ? ` ([workflow run](${o.runUrl}))` : ''
    await post(
      issue!.number,
      `**No code arrived within ${formatWait(timeoutMs)}, so this run stopped**${run}.\n\n` +
        'To try again, run the re-auth workflow again: Apple sends a new code and this issue asks for it. ' +
        'Or renew the session on a computer (`icloud-photos-action login`, then `session export`) and update the ICLOUD_SESSION secret.',
    ).catch((err: unknown) =>
      o.log.warning(`Could not comment on issue #${issue!.number}: ${(err as Error).message}`),
    )
    throw new AppError(
      'MFA_REQUIRED',
      `No verification code was posted on issue #${issue!.number} within ${formatWait(timeoutMs)}; the issue stays open.`,
      'Run the re-auth workflow again and reply with the new code from an account with write access, or renew the session on your computer (`icloud-photos-action login` then `session export`) and update the ICLOUD_SESSION secret.',
    )
  }

  const deleteUsed = async (): Promise<void> => {
    for (const [id, url] of [...toDelete]) {
      toDelete.delete(id)
      try {
        await o.client.deleteComment(id)
        o.log.info('Deleted the comment that held the code.')
      } catch (err) {
        if (err instanceof GitHubApiError && err.status === 404) continue
        o.log.warning(
          `Could not delete the comment that held the code (${(err as Error).message}); delete it by hand: ${url}`,
        )
      }
    }
  }

  return {
    name: 'github-issue',
    // Needs a human, but not a terminal: it works in CI.
    interactive: false,
    get issueNumber() {
      return issue?.number
    },

    async ask(c: MfaChallenge): Promise<MfaAnswer> {
      try {
        await deleteUsed()
        if (!issue) await openRequest(c)
        else if (lastAnswer?.kind === 'sms' && !c.previousError) {
          const phone = c.phones.find((p) => p.id === (lastAnswer as { phoneId: number }).phoneId)
          await post(
            issue.number,
            `Apple sent the code by text message${phone ? ` to ${phoneText(phone)}` : ''}. Reply with it; this run waits ${formatWait(timeoutMs)}.`,
          )
        } else if (c.previousError) {
          const what = lastAnswer?.kind === 'sms' ? 'That did not work' : 'That code was not accepted'
          await post(
            issue.number,
            `${what} (${c.previousError.replace(/\.$/, '')}). Send the newest code shown on your device; this run waits ${formatWait(timeoutMs)} (attempt ${c.attempt} of ${MAX_CODE_ATTEMPTS}).`,
          )
        }
      } catch (err) {
        throw issueError(err)
      }
      const reply = await waitForReply(c)
      lastAnswer =
        reply.kind === 'code'
          ? { kind: 'code', code: reply.code }
          : { kind: 'sms', phoneId: reply.phoneId ?? c.phones[0]?.id ?? 0 }
      return lastAnswer
    },

    async done(ok: boolean): Promise<void> {
      await deleteUsed()
      if (!issue) return
      try {
        if (ok) {
          await o.client.closeIssue(
            issue.number,
            `**Done.** Apple accepted the code and the iCloud session for \`${account}\` is trusted again; the scheduled backups use it from now on.${o.runUrl ? ` ([workflow run](${o.runUrl}))` : ''}`,
          )
          o.log.info(`Closed issue #${issue.number}.`)
        } else {
          await post(
            issue.number,
            'No code was accepted, so this run stopped. Wait a few minutes, then run the re-auth workflow again and reply with the newest code.',
          )
        }
      } catch (err) {
        o.log.warning(`Could not update issue #${issue.number}: ${(err as Error).message}`)
      }
    },

    async cleanup(): Promise<void> {
      await deleteUsed().catch(() => undefined)
    },
  }
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
