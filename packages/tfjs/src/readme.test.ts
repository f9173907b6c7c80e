import { describeReadmeExamples } from '../../../tooling/readme-examples.js';

describeReadmeExamples(new URL('../', import.meta.url));
