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

export interface PhotosSummary {
  downloaded: number
  skipped: number
  failed: number
  bytes: number
  throttled: boolean
  /** Path of the file listing the files written this run, one per line. */
  newFilesList?: string
  directory: string
  /** The listing this run made, e.g. `no-change`, `full (change feed unavailable: …)`. */
  listing?: string
}

/** `mode: verify`: what the re-hash found (paths relative to the download directory). */
export interface VerifySummary {
  files: number
  hashed: number
  unhashed: number
  problems: string[]
  movedAside: string[]
}

export interface RunReport {
  version: 1
  status: 'ok' | 'warning' | 'failed'
  mode: string
  errorCode?: string
  message?: string
  account?: string
  session?: { source: string; method?: string; srpAttempts: number }
  trust?: { expiresAt?: string; daysRemaining?: number; source?: string }
  photos?: PhotosSummary
  verify?: VerifySummary
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
  core.setOutput(Outputs.NewFiles, out.photos?.newFilesList ?? '')
  core.setOutput(Outputs.Report, reportPath ?? '')
  await summary(out).catch((err: unknown) => core.debug(`job summary not written: ${(err as Error).message}`))
  return reportPath
}

async function summary(r: RunReport): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  const icon = r.status === 'ok' ? '✅' : r.status === 'warning' ? '⚠️' : '❌'
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
    if (r.photos.throttled) rows.push(['Throttled', 'Apple throttled the run; the next run continues'])
  }
  const s = core.summary.addHeading('iCloud Photos backup', 2).addTable([
    [
      { data: 'Item', header: true },
      { data: 'Value', header: true },
    ],
    ...rows,
  ])
  if (r.message) s.addRaw(`\n\n${r.message}\n`)
  await s.write()
}
