/**
 * The one logger interface. The action passes @actions/core underneath, the CLI its stderr, tests a
 * recorder. A module that needs only some levels asks for `Pick<Log, ...>`, so any Log fits.
 */
export interface Log {
  info(message: string): void
  notice(message: string): void
  warning(message: string): void
  debug(message: string): void
}
