// Types for docs-icloudpd.mjs, so the TypeScript tests can import it.
export interface IcloudpdOption {
  option: string
  short?: string
  config?: string
  input?: string
  cli?: string[]
  notes?: string
  unsupported?: string
}
export interface IcloudpdTable {
  source: string
  options: IcloudpdOption[]
}
export declare function renderIcloudpdOptions(table: IcloudpdTable): string
