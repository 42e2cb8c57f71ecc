/** Vocabulary every layer shares: the config names it and icloud, providers and the adapters act on it. */

export type PasswordProviderName = 'parameter' | 'env' | 'keyring' | 'command' | 'console' | 'webui'
export type MfaProviderName = 'console' | 'webui' | 'github-issue' | 'none'
