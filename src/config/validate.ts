/**
 * The config JSON Schema (draft 2020-12) and its validator, compiled at build time by ajv
 * (scripts/gen-validator.mjs) so the action does not pay for compiling it at every start.
 */
import type { ErrorObject } from 'ajv/dist/2020.js'
import schemaJson from '../../schemas/config.schema.json' with { type: 'json' }
import { validate } from './config-validator.generated.js'

/** The subset of JSON Schema the config schema uses; enough to walk it for defaults and hints. */
export interface JsonSchema {
  description?: string
  type?: string | string[]
  enum?: unknown[]
  default?: unknown
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  minimum?: number
  maximum?: number
  pattern?: string
  format?: string
  anyOf?: JsonSchema[]
  examples?: unknown[]
}

export const configSchema = schemaJson as JsonSchema

/** Schema errors for a parsed YAML value; empty when it is valid (`verbose`: each error carries its schema and data). */
export function validateAgainstSchema(value: unknown): ErrorObject[] {
  return validate(value) ? [] : [...(validate.errors ?? [])]
}
