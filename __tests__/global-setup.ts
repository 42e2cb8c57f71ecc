// Builds dist/ once before the suite so the end-to-end tests run the bundle the source makes
// (CI then checks that this build equals the committed dist/).
import { execFileSync } from 'node:child_process'

export default function setup(): void {
  if (process.env.SKIP_BUILD === '1') return
  execFileSync('npm', ['run', 'bundle', '--silent'], { stdio: 'inherit' })
}
