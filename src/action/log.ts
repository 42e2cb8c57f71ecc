/** The logger every module gets in the action: @actions/core underneath. */
import * as core from '@actions/core'
import type { Log } from '../core/log.js'
import { maskAppleId } from '../notify/event.js'

export type { Log }
export type Annotation = core.AnnotationProperties

/** The common Log plus what only a workflow step has: annotations, the step's failure, masking. */
export interface ActionLog extends Log {
  warning(message: string, annotation?: Annotation): void
  error(message: string, annotation?: Annotation): void
  /** Fails the step (core.setFailed); a run calls it at most once. */
  fail(message: string): void
  /** Masks the value in everything printed from now on (core.setSecret). */
  secret(value: string): void
}

export const actionsLog: ActionLog = {
  info: (m) => core.info(m),
  notice: (m) => core.notice(m),
  warning: (m, a) => core.warning(m, a),
  debug: (m) => core.debug(m),
  error: (m, a) => core.error(m, a),
  fail: (m) => core.setFailed(m),
  secret: (v) => core.setSecret(v),
}

/** Replaces the full Apple ID with its masked form (messages built deep in the sign-in code). */
export function redactAppleId(text: string, appleId: string | undefined): string {
  const id = appleId?.trim()
  if (!id || id.length < 3) return text
  return text.split(id).join(maskAppleId(id))
}

export function redactingLog(log: ActionLog, appleId: () => string | undefined): ActionLog {
  const r = (m: string) => redactAppleId(m, appleId())
  return {
    info: (m) => log.info(r(m)),
    notice: (m) => log.notice(r(m)),
    warning: (m, a) => log.warning(r(m), a),
    debug: (m) => log.debug(r(m)),
    error: (m, a) => log.error(r(m), a),
    fail: (m) => log.fail(r(m)),
    // A value to mask is passed on as it is: masked, it would mask nothing.
    secret: (v) => log.secret(v),
  }
}
