#!/usr/bin/env node
// Fails when a test was skipped (skipped, pending, todo) without being listed, with its reason, in
// .ci/allowed-skips.json, or when a listed skip no longer happens (so the list stays true).
// Reads the vitest JSON results CI writes: packages/*/.vitest-results/*.json, apps/*/.vitest-results/*.json.
//
//   node scripts/check-skips.mjs [allow-list]     (default .ci/allowed-skips.json)
//
// An entry { results, test, reason } allows the skipped tests of that results file (a path from the
// repository root) whose full name (describe titles and title joined by " > ") is `test` or starts
// with `test > `.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every skipped test of one vitest JSON results object, by full name. */
function skippedTests(results) {
  return results.testResults.flatMap((file) =>
    file.assertionResults
      .filter((t) => t.status !== 'passed' && t.status !== 'failed')
      .map((t) => ({ name: [...t.ancestorTitles, t.title].join(' > '), status: t.status })),
  );
}

const covers = (entry, name) => name === entry.test || name.startsWith(`${entry.test} > `);

const allowList = process.argv[2] ?? '.ci/allowed-skips.json';
const allowed = JSON.parse(readFileSync(allowList, 'utf8')).skips;
for (const entry of allowed) {
  if (!entry.results || !entry.test || !entry.reason)
    throw new Error(`${allowList}: every entry needs results, test and reason: ${JSON.stringify(entry)}`);
}

const problems = [];
const used = new Set();
let files = 0;
for (const root of ['packages', 'apps']) {
  for (const pkg of readdirSync(root)) {
    const dir = join(root, pkg, '.vitest-results');
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const path = `${dir}/${name}`;
      files++;
      for (const test of skippedTests(JSON.parse(readFileSync(path, 'utf8')))) {
        const entry = allowed.find((e) => e.results === path && covers(e, test.name));
        if (entry) used.add(entry);
        else problems.push(`${path}: "${test.name}" was ${test.status}, and ${allowList} does not list it with a reason`);
      }
    }
  }
}
for (const entry of allowed) {
  if (!used.has(entry) && existsSync(entry.results)) {
    problems.push(`${allowList}: "${entry.test}" is no longer skipped in ${entry.results}: remove the entry`);
  }
}
if (files === 0) problems.push('no vitest results found (.vitest-results/*.json): run the tests with the json reporter first');
for (const p of problems) console.error(p);
console.log(`${files} results files checked: ${used.size} allowed skips, ${problems.length} problems`);
process.exitCode = problems.length > 0 ? 1 : 0;
