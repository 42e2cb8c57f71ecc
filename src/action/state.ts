/**
 * What main hands to post (actions/cache's StateProvider pattern): paths and flags only, never
 * secrets. The real provider wraps core.saveState/getState; tests pass a Map-backed one.
 */
import * as core from '@actions/core'

export interface StateProvider {
  set(name: string, value: string): void
  get(name: string): string
}

export const actionsState: StateProvider = {
  set: (name, value) => core.saveState(name, value),
  get: (name) => core.getState(name),
}
