import { version } from '../package.json';

/** The version of `@stable-adamw/gpujs` that is running, e.g. to record it beside a checkpoint. */
export const VERSION: string = version;
