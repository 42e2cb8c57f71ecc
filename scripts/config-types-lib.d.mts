// Types for config-types-lib.mjs, so the TypeScript tests can import it.
export function generateConfigTypes(schema: unknown): string
