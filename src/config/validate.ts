/** The config JSON Schema and its compiled ajv validator (draft 2020-12). */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import schemaJson from '../../schemas/config.schema.json' with { type: 'json' }

/** The subset of JSON Schema the config schema uses; enough to walk it for defaults and hints. */
export interface JsonSchema {
  description?: string
  type?: string
  enum?: unknown[]
  default?: unknown
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  minimum?: number
  maximum?: number
  pattern?: string
  examples?: unknown[]
}

export const configSchema = schemaJson as JsonSchema

let compiled: ValidateFunction | undefined

/** Compiled on first use; `verbose` gives each error its schema and data for the messages. */
function validator(): ValidateFunction {
  compiled ??= new Ajv2020({ allErrors: true, verbose: true, strict: true }).compile(schemaJson)
  return compiled
}

/** Schema errors for a parsed YAML value; empty when it is valid. */
export function validateAgainstSchema(value: unknown): ErrorObject[] {
  const validate = validator()
  return validate(value) ? [] : [...(validate.errors ?? [])]
}
