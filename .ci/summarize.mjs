// Sums vitest's JSON results and the parity report into the "N passed, N failed" line CI reads.
// Arguments: names of CI steps that failed (each counts as one failure).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let passed = 0;
let failed = 0;
for (const root of ['packages', 'apps']) {
  for (const pkg of readdirSync(root)) {
    const dir = join(root, pkg, '.vitest-results');
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      const result = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      passed += result.numPassedTests;
      failed += result.numFailedTests;
      console.log(`${pkg} (${file}): ${result.numPassedTests} passed, ${result.numFailedTests} failed`);
      for (const suite of result.testResults) {
        for (const test of suite.assertionResults) {
          if (test.status !== 'failed') continue;
          // The first lines of the message: enough to tell a flaky timeout from a wrong value.
          const message = (test.failureMessages[0] ?? '').split('\n').slice(0, 6).join('\n    ');
          console.log(`  FAILED ${suite.name} > ${test.fullName}\n    ${message}`);
        }
        if (suite.status === 'failed' && suite.assertionResults.length === 0) {
          console.log(`  FAILED ${suite.name}: ${(suite.message ?? '').split('\n')[0]}`);
        }
      }
    }
  }
}
const report = 'parity-report/report.json';
if (existsSync(report)) {
  const { summary } = JSON.parse(readFileSync(report, 'utf8'));
  passed += summary.passed;
  failed += summary.failed + summary.unavailable;
  console.log(`parity: ${summary.passed} passed, ${summary.failed} failed, ${summary.unavailable} unavailable`);
}
const steps = process.argv.slice(2);
for (const step of steps) console.log(`failed step: ${step}`);
failed += steps.length;
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
