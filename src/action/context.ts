/** What the steps after loading the config report to. */
import type { Config } from '../config/index.js'
import type { Channel } from '../notify/dispatch.js'
import type { Settings } from './inputs.js'
import type { ActionLog } from './log.js'
import type { RunReport } from './report.js'

/** The run's config and inputs, its notification channels, the report it fills and its log. */
export interface RunContext {
  config: Config
  settings: Settings
  channels: Channel[]
  report: RunReport
  log: ActionLog
}
