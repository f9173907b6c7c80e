// Every kernel reaches gpu.js as JavaScript source text, never as a function. gpu.js compiles a
// kernel from its source (`fn.toString()` for a function) into GLSL, WGSL or wasm, and its
// translators take a narrow subset of JavaScript. A bundler rewrites function bodies as it likes:
// Vite 8's tree-shaking turned `for (…) { if (…) { const gj = …; … } }` into `for (…) if (…) { … }`
// and gpu.js's webgl2 shader failed ("'user_gj' : undeclared identifier"); it also drops calls it
// deems pure (a kernel map's outputs), and a minifier renames and folds. String contents are the
// one thing no bundler touches. `kernel-sources.test.ts` bundles the adapter with tree-shaking and
// minification on and checks that every kernel handed to gpu.js is a string.

/**
 * The JavaScript source of one gpu.js kernel, `function name(args) { … }`: only `this.thread`,
 * `this.constants`, the arguments and `Math`; no closures over module values, no TypeScript.
 */
export type KernelSource = string;
