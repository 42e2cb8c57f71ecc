/** The logger every module gets in the action: @actions/core underneath. */
import * as core from '@actions/core'

export interface Log {
  info(m: string): void
  notice(m: string): void
  warning(m: string): void
  debug(m: string): void
}

export const actionsLog: Log = {
  info: (m) => core.info(m),
  notice: (m) => core.notice(m),
  warning: (m) => core.warning(m),
  debug: (m) => core.debug(m),
}
