import { describeReadmeExamples } from '../../../tooling/readme-examples.js';
import { checkExampleOutput } from './testing/readme-checks.js';

describeReadmeExamples(new URL('../', import.meta.url), (logged, file) => checkExampleOutput(file, logged.at(-1)));
