/**
 * The run's results in three forms: step outputs, the job summary and a JSON report
 * (schemas/report.schema.json). Everything here is built from non-secret values.
 */
import * as core from '@actions/core'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Outputs } from './constants.js'
import type { Settings } from './inputs.js'
import type { ChannelResult } from '../notify/dispatch.js'
import { maskAppleId } from '../notify/event.js'
import type { DeletedAsset } from '../photos/deletions.js'
import type { FileProblem } from '../photos/sync.js'

export interface PhotosSummary {
  downloaded: number
  skipped: number
  failed: number
  bytes: number
  throttled: boolean
  /** Every file not backed up this run (failed or left behind). */
  failures: FileProblem[]
  /** Files not backed up; a lower bound when `listingComplete` is false. */
  remaining: number
  /** False when the listing was cut short (more files may be missing than counted). */
  listingComplete: boolean
  /** Path of the file listing the files written this run, one per line. */
  newFilesList?: string
  directory: string
  /** The listing this run made, e.g. `no-change`, `full (change feed unavailable: …)`. */
  listing?: string
  /** Assets moved to Recently Deleted in iCloud (keep-icloud-recent-days; would be, in a dry run). */
  deleted?: DeletedAsset[]
  /** Deletes in iCloud refused or failed (those photos stay in iCloud). */
  deleteFailed?: number
  /** Backup files deleted because their asset is in Recently Deleted (auto-delete). */
  autoDeleted?: string[]
}

/** `mode: verify`: what the re-hash found (paths relative to the download directory). */
export interface VerifySummary {
  files: number
  hashed: number
  unhashed: number
  problems: string[]
  movedAside: string[]
}

/**
 * `ok`: everything backed up. `warning`: backed up, but something needs attention (trust expiring;
 * or files missing under `photos.allow-partial-backup`). `incomplete`: a planned stop (a run budget);
 * the next run continues. `failed`: files are missing or the run could not do its job.
 */
export type RunStatus = 'ok' | 'warning' | 'incomplete' | 'failed'

/** How many failed/left-behind files the job summary lists; the report has them all. */
export const SUMMARY_FILE_LIMIT = 20

export interface RunReport {
  version: 1
  status: RunStatus
  mode: string
  errorCode?: string
  message?: string
  account?: string
  session?: { source: string; method?: string; srpAttempts: number }
  trust?: { expiresAt?: string; daysRemaining?: number; source?: string }
  photos?: PhotosSummary
  verify?: VerifySummary
  /** `mode: list`: the account's libraries and the albums of `photos.library`. */
  catalog?: {
    libraries: Array<{ name: string; database: 'private' | 'shared' }>
    library: string
    albums: Array<{ name: string; kind: 'smart' | 'album' }>
  }
  notifications?: ChannelResult[]
  startedAt: string
  finishedAt?: string
}

export const REPORT_FILE = 'icloud-photos-report.json'

export async function writeReport(report: RunReport, settings?: Settings): Promise<string | undefined> {
  const out: RunReport = { ...report, account: report.account ? maskAppleId(report.account) : undefined }
  const dir = settings?.runnerTemp
  let reportPath: string | undefined
  if (dir) {
    await mkdir(dir, { recursive: true })
    reportPath = join(dir, REPORT_FILE)
    await writeFile(reportPath, JSON.stringify(out, null, 2) + '\n')
  }
  core.setOutput(Outputs.Status, out.status)
  core.setOutput(Outputs.ErrorCode, out.errorCode ?? '')
  core.setOutput(Outputs.DaysRemaining, out.trust?.daysRemaining ?? '')
  core.setOutput(Outputs.TrustExpiresAt, out.trust?.expiresAt ?? '')
  core.setOutput(Outputs.Downloaded, out.photos?.downloaded ?? 0)
  core.setOutput(Outputs.Skipped, out.photos?.skipped ?? 0)
  core.setOutput(Outputs.Failed, out.photos?.failed ?? 0)
  core.setOutput(Outputs.Remaining, out.photos?.remaining ?? 0)
  core.setOutput(Outputs.NewFiles, out.photos?.newFilesList ?? '')
  core.setOutput(Outputs.Report, reportPath ?? '')
  core.setOutput(Outputs.List, out.catalog ? JSON.stringify(out.catalog) : '')
  await summary(out).catch((err: unknown) => core.debug(`job summary not written: ${(err as Error).message}`))
  return reportPath
}

/** `12 files left; the next run continues` (a lower bound when the listing was cut short). */
export function remainingLine(remaining: number, listingComplete = true): string {
  const n = `${listingComplete ? '' : 'at least '}${remaining} file${remaining === 1 ? '' : 's'}`
  return `${n} left; the next run continues`
}

/** File names and messages go into the summary's HTML tables as text, never as markup. */
function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

async function summary(r: RunReport): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  const icon = { ok: '✅', warning: '⚠️', incomplete: '⏸️', failed: '❌' }[r.status]
  const rows: [string, string][] = [
    ['Status', `${icon} ${r.status}${r.errorCode ? ` (${r.errorCode})` : ''}`],
    ['Mode', r.mode],
  ]
  if (r.account) rows.push(['Account', r.account])
  if (r.session) {
    rows.push([
      'Session',
      `${r.session.source}${r.session.method ? `, signed in by ${r.session.method}` : ''}`,
    ])
  }
  if (r.trust?.expiresAt)
    rows.push(['2FA trust expires', `${r.trust.expiresAt} (${r.trust.daysRemaining} days)`])
  if (r.verify) {
    rows.push(['Verified', `${r.verify.files} files, ${r.verify.problems.length} missing or damaged`])
  }
  if (r.photos) {
    rows.push(['Downloaded', String(r.photos.downloaded)], ['Skipped', String(r.photos.skipped)])
    rows.push(['Failed', String(r.photos.failed)], ['Bytes', String(r.photos.bytes)])
    if (r.photos.listing) rows.push(['Listing', r.photos.listing])
    if (r.photos.throttled) rows.push(['Throttled', 'Apple throttled the run'])
    if (r.photos.remaining > 0 || !r.photos.listingComplete)
      rows.push(['Left', remainingLine(r.photos.remaining, r.photos.listingComplete)])
    if (r.photos.deleted?.length || r.photos.deleteFailed)
      rows.push([
        'Moved to Recently Deleted in iCloud',
        `${r.photos.deleted?.length ?? 0}${r.photos.deleteFailed ? ` (${r.photos.deleteFailed} refused or failed, kept in iCloud)` : ''}`,
      ])
    if (r.photos.autoDeleted?.length)
      rows.push(['Deleted from the backup (auto-delete)', String(r.photos.autoDeleted.length)])
  }
  const s = core.summary.addHeading('iCloud Photos backup', 2).addTable([
    [
      { data: 'Item', header: true },
      { data: 'Value', header: true },
    ],
    ...rows,
  ])
  if (r.message) s.addRaw(`\n\n${escapeHtml(r.message)}\n`)
  if (r.catalog) catalogSummary(s, r.catalog)
  const failures = r.photos?.failures ?? []
  if (failures.length) {
    s.addHeading('Files not backed up', 3)
    s.addTable([
      ['File', 'Reason', 'Attempts', 'Size'].map((data) => ({ data, header: true })),
      ...failures
        .slice(0, SUMMARY_FILE_LIMIT)
        .map((f) => [
          escapeHtml(f.relPath || `(asset ${f.assetId})`),
          escapeHtml(f.detail ? `${f.reason}: ${f.detail}` : f.reason),
          String(f.attempts),
          f.size === undefined ? '' : String(f.size),
        ]),
    ])
    if (failures.length > SUMMARY_FILE_LIMIT)
      s.addRaw(`\n…and ${failures.length - SUMMARY_FILE_LIMIT} more (all are in the JSON report).\n`)
  }
  await s.write()
}

/** `mode: list`: the libraries, then the albums of the selected library, as tables. */
function catalogSummary(s: typeof core.summary, c: NonNullable<RunReport['catalog']>): void {
  s.addHeading('Libraries', 3)
  s.addTable([
    ['Library (`photos.library`)', 'Database'].map((data) => ({ data, header: true })),
    ...c.libraries.map((l) => [escapeHtml(l.name), l.database]),
  ])
  if (!c.albums.length) return
  s.addHeading(`Albums of ${escapeHtml(c.library)}`, 3)
  s.addTable([
    ['Album (`photos.albums`)', 'Kind'].map((data) => ({ data, header: true })),
    ...c.albums.map((a) => [escapeHtml(a.name), a.kind === 'smart' ? 'smart folder' : 'album']),
  ])
}
