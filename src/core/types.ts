/** Vocabulary every layer shares: the config names it and icloud, providers and the adapters act on it. */

export type { MfaProviderName, PasswordProviderName } from './config.generated.js'
