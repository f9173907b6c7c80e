// Quality gates for every published workspace package: publint, arethetypeswrong (ESM, CJS and
// types under node10/node16/bundler) and the tarball's contents. Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^CHANGELOG\.md$/, /^dist\/[^/]+\.(c?js|d\.c?ts|c?js\.map)$/];

let failures = 0;
function check(label, fn) {
  try {
    fn();
    console.log(`ok   ${label}`);
  } catch (error) {
    failures += 1;
    console.log(`FAIL ${label}\n${error.stdout?.toString() ?? ''}${error.stderr?.toString() ?? ''}${error.message}`);
  }
}

const run = (cwd, cmd, args) => execFileSync(cmd, args, { cwd, stdio: 'pipe', encoding: 'utf8' });

for (const dir of readdirSync('packages').map((d) => join('packages', d))) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  const name = pkg.name;
  check(`${name}: publint`, () => run(dir, 'npx', ['publint', '--strict']));
  check(`${name}: arethetypeswrong`, () => run(dir, 'npx', ['attw', '--pack', '.', '--format', 'ascii']));
  check(`${name}: tarball holds only dist, README, LICENSE, CHANGELOG`, () => {
    const [{ files }] = JSON.parse(run(dir, 'npm', ['pack', '--dry-run', '--json', '--ignore-scripts']));
    const stray = files.map((f) => f.path).filter((path) => !ALLOWED.some((re) => re.test(path)) || /\.test\./.test(path));
    if (stray.length > 0) throw new Error(`unexpected files: ${stray.join(', ')}`);
    for (const required of ['README.md', 'LICENSE', 'package.json']) {
      if (!files.some((f) => f.path === required)) throw new Error(`missing ${required}`);
    }
  });
  check(`${name}: dependency ranges`, () => {
    const internal = Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@stable-adamw/'));
    if (name !== '@stable-adamw/core' && !internal.includes('@stable-adamw/core')) {
      throw new Error('adapters depend on @stable-adamw/core');
    }
    const backends = ['@tensorflow/tfjs-core', 'gpu.js'];
    for (const backend of backends) {
      if (pkg.dependencies?.[backend]) throw new Error(`${backend} must be a peer dependency, not a dependency`);
      if (pkg.peerDependencies?.[backend] && !pkg.devDependencies?.[backend])
        throw new Error(`${backend} peer needs a devDependency to test against`);
    }
  });
}
console.log(failures === 0 ? 'all package checks passed' : `${failures} package checks failed`);
process.exitCode = failures === 0 ? 0 : 1;
