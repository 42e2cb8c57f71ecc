/** The logger every module gets in the action: @actions/core underneath. */
import * as core from '@actions/core'
import type { Log } from '../core/log.js'

export type { Log }

export const actionsLog: Log = {
  info: (m) => core.info(m),
  notice: (m) => core.notice(m),
  warning: (m) => core.warning(m),
  debug: (m) => core.debug(m),
}
