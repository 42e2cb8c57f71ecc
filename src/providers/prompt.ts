/** Terminal prompts: hidden input for passwords, plain input for codes and yes/no. */
import { createInterface } from 'node:readline'

export async function promptHidden(
  question: string,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): Promise<string> {
  return ask(question, input, output, true)
}

export async function promptLine(
  question: string,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): Promise<string> {
  return ask(question, input, output, false)
}

function ask(
  question: string,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  hidden: boolean,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, output, terminal: (input as { isTTY?: boolean }).isTTY === true })
    if (hidden) {
      // Echo nothing after the question (getpass behaviour).
      const rlo = rl as unknown as { _writeToOutput: (s: string) => void }
      let asked = false
      rlo._writeToOutput = (s: string) => {
        if (!asked) {
          output.write(s)
          asked = true
        }
      }
    }
    rl.question(question, (answer) => {
      // Resolve before close(): the 'close' handler below would otherwise win with ''.
      resolve(answer)
      rl.close()
      if (hidden) output.write('\n')
    })
    rl.on('close', () => resolve(''))
    rl.on('error', reject)
  })
}
