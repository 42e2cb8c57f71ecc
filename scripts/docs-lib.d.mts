// Types for docs-lib.mjs, so the TypeScript tests can import it.
export declare const MARKERS: readonly string[]
export declare function renderConfigReference(schema: object): string
export declare function renderActionReference(actionYmlText: string): string
export declare function updateReadme(readmeText: string, section: string, name?: string): string
export declare function extractSection(readmeText: string, name?: string): string | undefined
export declare function ensureMarkers(readmeText: string): string
export declare function renderReadme(readmeText: string, schema: object, actionYmlText: string): string
