import { adapterBuild } from '../../tooling/tsup-adapter.js';

export default adapterBuild('@stable-adamw/gpujs');
