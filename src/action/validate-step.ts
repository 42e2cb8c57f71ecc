/** `mode: validate-config`: check the file (and what a sync would trip over) without signing in. */
import { isS3 } from '../destinations/open.js'
import { relative } from 'node:path'
import { Inputs } from './constants.js'
import type { Settings } from './inputs.js'
import type { ActionLog } from './log.js'
import { channelProblems } from './channels.js'
import type { RunReport } from './report.js'
import {
  applyInputOverrides,
  findConfigIssues,
  parseConfig,
  readConfigText,
  type ConfigIssue,
} from '../config/index.js'
import { annotate } from './failure.js'
import { hostedRunnerWarning } from './state-step.js'

export async function validateOnly(
  settings: Settings,
  report: RunReport,
  log: ActionLog,
): Promise<RunReport> {
  // A missing or unreadable file is a ConfigError naming the path (and the checkout / `config` hint).
  const text = await readConfigText(settings.configPath)
  const issues = findConfigIssues(text, settings.configPath)
  if (!issues.length) {
    // What a sync would trip over, checked against the inputs this step was given.
    const config = applyInputOverrides(parseConfig(text, settings.configPath), {
      directory: settings.directory,
      handOff: settings.handOff,
    })
    for (const p of channelProblems(config, settings)) log.warning(p, { title: 'Notification not set up' })
    const hosted = hostedRunnerWarning(config, settings)
    if (hosted) log.warning(hosted, { title: 'Not a backup' })
    if (!config.photos.directory && !isS3(config.photos))
      issues.push(missingDirectoryIssue(text, settings.configPath))
  }
  if (issues.length) {
    annotate(issues, log, settings)
    report.status = 'failed'
    report.errorCode = 'CONFIG_INVALID'
    report.message = `${issues.length} problem${issues.length === 1 ? '' : 's'} in ${relative(settings.workspace, settings.configPath)}.`
    log.fail(report.message)
  } else log.info(`${relative(settings.workspace, settings.configPath)} is valid.`)
  return report
}

/** `mode: sync` needs somewhere to put the photos; positioned at `photos` when the file has it. */
function missingDirectoryIssue(text: string, file: string): ConfigIssue {
  const line = text.split('\n').findIndex((l) => /^photos:/.test(l)) + 1
  return {
    file,
    line: line || 1,
    column: 1,
    path: line ? 'photos' : '',
    message: `no download directory: \`mode: sync\` needs \`photos.directory\` in this file or the \`${Inputs.Directory}\` input (give this step the same \`${Inputs.Directory}\` as the backup step)`,
  }
}
