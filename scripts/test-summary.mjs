// Prints vitest's JSON report as the plain closing line CI reads: "N passed, N failed[, N skipped]".
import { readFileSync } from 'node:fs'

const file = process.argv[2] ?? 'test-results.json'
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  console.error(`cannot read ${file}: ${err.message}`)
  console.log('0 passed, 1 failed')
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
const failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0)
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
for (const suite of report.testResults ?? []) {
  for (const t of suite.assertionResults ?? [])
    if (t.status === 'failed') console.log(`FAILED: ${t.fullName}`)
  if (suite.status === 'failed' && !(suite.assertionResults ?? []).length)
    console.log(`FAILED suite: ${suite.name}`)
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
