// Types for validator-lib.mjs, so the TypeScript tests can import it.
export declare const AJV_OPTIONS: { allErrors: boolean; verbose: boolean; strict: boolean }
export declare function generateValidator(schema: object): string
export declare const VALIDATOR_DTS: string
