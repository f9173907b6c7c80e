/// <reference types="vite/client" />
import { runBrowserExamples } from '../../../tooling/run-example.js';
import { checkExampleOutput } from './testing/readme-checks.js';

// Every README example in Chromium, where `new GPU()` picks webgl2 (readme.test.ts runs them in Node).
runBrowserExamples(import.meta.glob('../examples/*.mjs'), (logged, file) => checkExampleOutput(file, logged.at(-1)));
