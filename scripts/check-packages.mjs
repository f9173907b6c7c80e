// Quality gates for every published workspace package: publint, arethetypeswrong (ESM, CJS and
// types under node10/node16/bundler), the tarball's contents and size budget, dependency ranges,
// and the adapters' public surface. Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const DIST = /^dist\/[^/]+\.(c?js|d\.c?ts|c?js\.map)$/;
const COMMON = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^CHANGELOG\.md$/, DIST];
/** What each tarball may hold beyond COMMON: the conformance suite ships optimi's golden JSON. */
const EXTRA_FILES = { '@stable-adamw/conformance': [/^fixtures\/golden\/(extra\/)?[\w-]+\.(json|md)$/] };
/** Unpacked tarball budgets in bytes: what users install with an adapter stays small. */
const BUDGETS = {
  // The device-kept counters' API (readCounters/reconcileCounters) took it to 330 kB.
  '@stable-adamw/core': 340_000,
  // Four embedded WASM kernel builds (plain and relaxed SIMD, shared and unshared memory) at 354 kB;
  // the 16-bit phase 2 compiled twice (decay idle or applied, ~5 % faster than a branch) at 403 kB.
  '@stable-adamw/cpu': 410_000,
  // WebGPU and WebGL device-skip kernels and the wasm SIMD loops at 297 kB, with CJS chunks shared
  // between the entries (testing.cjs no longer carries a second copy of the adapter); the WebGL2
  // multi-tensor step (atlas planner, four GLSL programs, GL state save/restore) took it to 360 kB.
  '@stable-adamw/tfjs': 370_000,
  // The device-side skip (control kernel, betas table) and the fused multi-tensor WebGPU step (WGSL
  // pipelines on gpu.js's device) at 248 kB, testing.cjs importing the adapter by name; the WebGL2
  // step's own GLSL programs (two render targets, texture pool) took it to 283 kB; gradient
  // release's device-decided 'skip' (per-call control kernel, per-param counts) to ~296 kB; the
  // packed WebGL2 step (atlas layout, four more GLSL programs, copies) to ~328 kB.
  '@stable-adamw/gpujs': 335_000,
  '@stable-adamw/conformance': 10_000_000,
};
/** Adapters: each re-exports core's user entry and adds these. */
const ADAPTER_REQUIRED = ['StableAdamW', 'VERSION', 'paramGroupsWeightDecay'];
const BACKEND_FACTORY = /^create\w+Backend$/;

let failures = 0;
async function check(label, fn) {
  try {
    const note = await fn();
    console.log(`ok   ${label}${note ? ` — ${note}` : ''}`);
  } catch (error) {
    failures += 1;
    console.log(`FAIL ${label}\n${error.stdout?.toString() ?? ''}${error.stderr?.toString() ?? ''}${error.message}`);
  }
}

const run = (cwd, cmd, args) => execFileSync(cmd, args, { cwd, stdio: 'pipe', encoding: 'utf8' });
const kb = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;

const packages = readdirSync('packages')
  .map((d) => join('packages', d))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private);
const coreDir = packages.find(({ pkg }) => pkg.name === '@stable-adamw/core')?.dir;
const userSet = Object.keys(await import(pathToFileURL(resolve(coreDir, 'dist/index.js')).href));
const isAdapter = (pkg) => pkg.name !== '@stable-adamw/core' && pkg.name !== '@stable-adamw/conformance';
const sizes = [];

for (const { dir, pkg } of packages) {
  const name = pkg.name;
  await check(`${name}: publint`, () => run(dir, 'npx', ['publint', '--strict']) && undefined);
  await check(`${name}: arethetypeswrong`, () => run(dir, 'npx', ['attw', '--pack', '.', '--format', 'ascii']) && undefined);
  await check(`${name}: tarball contents and size`, () => {
    const [{ files, size, unpackedSize }] = JSON.parse(run(dir, 'npm', ['pack', '--dry-run', '--json', '--ignore-scripts']));
    const allowed = [...COMMON, ...(EXTRA_FILES[name] ?? [])];
    const stray = files.map((f) => f.path).filter((path) => !allowed.some((re) => re.test(path)) || /\.test\./.test(path));
    if (stray.length > 0) throw new Error(`unexpected files: ${stray.join(', ')}`);
    for (const required of ['README.md', 'LICENSE', 'package.json']) {
      if (!files.some((f) => f.path === required)) throw new Error(`missing ${required}`);
    }
    const budget = BUDGETS[name];
    if (budget === undefined) throw new Error(`no size budget: add ${name} to BUDGETS in scripts/check-packages.mjs`);
    sizes.push({ name, size, unpackedSize, budget });
    if (unpackedSize > budget) throw new Error(`unpacked ${kb(unpackedSize)} is over its budget of ${kb(budget)}`);
    return `${files.length} files, packed ${kb(size)}, unpacked ${kb(unpackedSize)} (budget ${kb(budget)})`;
  });
  await check(`${name}: dependency ranges`, () => {
    const internal = Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@stable-adamw/'));
    if (name !== '@stable-adamw/core' && !internal.includes('@stable-adamw/core')) {
      throw new Error('every package but core depends on @stable-adamw/core');
    }
    if (internal.includes('@stable-adamw/conformance')) {
      throw new Error('@stable-adamw/conformance (megabytes of fixtures) may only be an optional peer dependency');
    }
    const conformancePeer = pkg.peerDependencies?.['@stable-adamw/conformance'];
    if (conformancePeer && pkg.peerDependenciesMeta?.['@stable-adamw/conformance']?.optional !== true) {
      throw new Error('the @stable-adamw/conformance peer dependency must be optional (only the ./testing entry uses it)');
    }
    for (const backend of ['@tensorflow/tfjs-core', 'gpu.js']) {
      if (pkg.dependencies?.[backend]) throw new Error(`${backend} must be a peer dependency, not a dependency`);
      if (pkg.peerDependencies?.[backend] && !pkg.devDependencies?.[backend])
        throw new Error(`${backend} peer needs a devDependency to test against`);
    }
  });
  if (!isAdapter(pkg)) continue;
  await check(
    `${name}: public surface (core's user entry + StableAdamW, create*Backend, VERSION; the rest documented)`,
    async () => {
      const exported = Object.keys(await import(pathToFileURL(resolve(dir, 'dist/index.js')).href));
      const missing = [...userSet, ...ADAPTER_REQUIRED].filter((n) => !exported.includes(n));
      if (!exported.some((n) => BACKEND_FACTORY.test(n))) missing.push('create<Name>Backend');
      if (missing.length > 0) throw new Error(`missing exports: ${missing.join(', ')}`);
      const { VERSION } = await import(pathToFileURL(resolve(dir, 'dist/index.js')).href);
      if (VERSION !== pkg.version) throw new Error(`VERSION is ${VERSION} but package.json says ${pkg.version}`);
      const readme = readFileSync(join(dir, 'README.md'), 'utf8');
      const own = exported.filter((n) => !userSet.includes(n));
      const undocumented = own.filter((n) => !readme.includes(n));
      if (undocumented.length > 0) throw new Error(`exported but not in README.md (internal?): ${undocumented.join(', ')}`);
      return `${userSet.length} shared + ${own.length} own: ${own.join(', ')}`;
    },
  );
}

console.log('\npackage sizes (npm pack):');
for (const { name, size, unpackedSize, budget } of sizes) {
  console.log(
    `  ${name.padEnd(28)} packed ${kb(size).padStart(10)}  unpacked ${kb(unpackedSize).padStart(10)}  budget ${kb(budget)}`,
  );
}
console.log(failures === 0 ? 'all package checks passed' : `${failures} package checks failed`);
process.exitCode = failures === 0 ? 0 : 1;
