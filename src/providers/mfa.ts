/**
 * MFA providers for the interactive paths. `console` asks in the terminal; `webui` lives with the
 * CLI's local page; `github-issue` with the re-auth feature. In CI none of the interactive ones
 * exist: the caller passes no provider and the sign-in ends with MFA_REQUIRED.
 */
import type { MfaAnswer, MfaChallenge, MfaProvider } from '../icloud/ports.js'
import { promptLine } from './prompt.js'

export function consoleMfa(
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): MfaProvider {
  return {
    name: 'console',
    interactive: true,
    async ask(c: MfaChallenge): Promise<MfaAnswer> {
      if (c.previousError) output.write(`${c.previousError}\n`)
      if (c.attempt === 1 && c.phones.length) {
        output.write('Apple pushed a code to your trusted devices. To get it by SMS instead, type sms:<n>:\n')
        for (const p of c.phones) output.write(`  sms:${p.id}  ${p.obfuscatedNumber}\n`)
      }
      const answer = (await promptLine(`Enter the ${c.codeLength}-digit code: `, input, output)).trim()
      const sms = /^sms(?::(\d+))?$/i.exec(answer)
      if (sms) return { kind: 'sms', phoneId: Number(sms[1] ?? c.phones[0]?.id ?? 0) }
      return { kind: 'code', code: answer }
    },
  }
}
