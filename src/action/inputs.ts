/**
 * The one place that reads action inputs (actions/checkout's pattern): a typed Settings object
 * for the rest of the code. Secret inputs are registered with the log masker before anything else.
 */
import * as core from '@actions/core'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { Inputs, Modes, type Mode } from './constants.js'
import { AppError } from '../core/errors.js'
import { parseDuration } from '../util/duration.js'

export interface Settings {
  configPath: string
  password?: string
  session?: string
  sessionKey?: string
  smtpPassword?: string
  webhookUrl?: string
  githubToken?: string
  mode: Mode
  directory?: string
  dryRun?: boolean
  /** The `hand-off` input, when given: overrides `photos.hand-off`. */
  handOff?: boolean
  /** The `max-duration` input, when given: overrides `photos.max-duration`. */
  maxDuration?: string
  /** `mode: verify`: move damaged files aside and download them again in the same run. */
  repair: boolean
  /** From the runner environment. */
  workspace: string
  repository: string
  runnerOs: string
  runId: string
  runAttempt: string
  runUrl?: string
  apiUrl?: string
  /** RUNNER_ENVIRONMENT: `github-hosted` or `self-hosted` (unset outside Actions). */
  runnerEnvironment?: string
  /** Same path on every run: it is part of the cache entry's version. */
  /** RUNNER_TEMP: where the report and the new-files list go. */
  runnerTemp: string
  cacheTmpDir: string
}

export type GetInput = (name: string) => string

/** A bad action input: a CONFIG_INVALID AppError, so the run reports it like any other. */
export class InputError extends AppError {
  constructor(message: string) {
    super('CONFIG_INVALID', message, '')
    this.name = 'InputError'
  }
}

const SECRET_INPUTS = [
  Inputs.Password,
  Inputs.Session,
  Inputs.SessionKey,
  Inputs.SmtpPassword,
  Inputs.WebhookUrl,
  Inputs.GithubToken,
]

export function readSettings(
  getInput: GetInput = (n) => core.getInput(n),
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  for (const name of SECRET_INPUTS) {
    const v = getInput(name)
    if (v) core.setSecret(v)
  }
  const mode = (getInput(Inputs.Mode) || 'sync') as Mode
  if (!Modes.includes(mode)) {
    throw new InputError(`Input \`mode\` must be one of ${Modes.join(', ')} (got "${mode}").`)
  }
  // '' = not given (the config decides); anything but true/false is a mistake worth naming.
  const flag = (name: string): boolean | undefined => {
    const text = getInput(name).trim().toLowerCase()
    if (text && !['true', 'false'].includes(text)) {
      throw new InputError(`Input \`${name}\` must be true or false (got "${text}").`)
    }
    return text ? text === 'true' : undefined
  }
  const duration = (name: string): string | undefined => {
    const text = getInput(name).trim()
    if (!text) return undefined
    try {
      parseDuration(text, name)
    } catch {
      throw new InputError(`Input \`${name}\` must be a duration such as \`90m\` or \`5h\` (got "${text}").`)
    }
    return text
  }
  const workspace = env.GITHUB_WORKSPACE || process.cwd()
  const server = env.GITHUB_SERVER_URL || 'https://github.com'
  const repository = env.GITHUB_REPOSITORY || 'local/repository'
  const opt = (name: string) => getInput(name) || undefined
  const runnerTemp = env.RUNNER_TEMP || tmpdir()
  return {
    configPath: join(workspace, getInput(Inputs.Config) || '.github/icloud-photos.yml'),
    password: opt(Inputs.Password),
    session: opt(Inputs.Session),
    sessionKey: opt(Inputs.SessionKey),
    smtpPassword: opt(Inputs.SmtpPassword),
    webhookUrl: opt(Inputs.WebhookUrl),
    githubToken: opt(Inputs.GithubToken),
    mode,
    directory: opt(Inputs.Directory),
    dryRun: flag(Inputs.DryRun),
    handOff: flag(Inputs.HandOff),
    maxDuration: duration(Inputs.MaxDuration),
    repair: flag(Inputs.Repair) === true,
    workspace,
    repository,
    runnerOs: env.RUNNER_OS || process.platform,
    runId: env.GITHUB_RUN_ID || '0',
    runAttempt: env.GITHUB_RUN_ATTEMPT || '1',
    runUrl: env.GITHUB_RUN_ID ? `${server}/${repository}/actions/runs/${env.GITHUB_RUN_ID}` : undefined,
    apiUrl: env.GITHUB_API_URL || undefined,
    runnerEnvironment: env.RUNNER_ENVIRONMENT || undefined,
    runnerTemp,
    cacheTmpDir: join(runnerTemp, 'icloud-photos-session'),
  }
}
