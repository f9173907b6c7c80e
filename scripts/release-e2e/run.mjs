// End-to-end release test: versions the packages with changesets in a scratch copy, publishes
// them to a throwaway verdaccio registry on loopback, installs them into a fresh project and runs
// ESM, CJS and TypeScript smoke tests, then runs every package's README examples (examples/*.mjs)
// there with plain `node`, each in its own process. Run after `npm run build`.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EXAMPLE_INSTALL, nodeExamples, runExample } from './examples.mjs';
import { SMOKE } from './smoke.mjs';

const root = resolve(import.meta.dirname, '../..');
const bin = (name) => join(root, 'node_modules/.bin', name);
const port = 4873 + Math.floor(Math.random() * 1000);
const registry = `http://127.0.0.1:${port}/`;
const work = mkdtempSync(join(tmpdir(), 'stable-adamw-release-'));

function sh(cwd, cmd, args, env = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  try {
    return execFileSync(cmd, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
  } catch (error) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${error.stdout ?? ''}`);
  }
}

function startRegistry() {
  const storage = join(work, 'storage');
  const config = join(work, 'verdaccio.yaml');
  writeFileSync(
    config,
    [
      `storage: ${storage}`,
      `auth: { htpasswd: { file: ${join(work, 'htpasswd')}, max_users: 10 } }`,
      'uplinks: { npmjs: { url: https://registry.npmjs.org/ } }',
      'packages:',
      "  '@stable-adamw/*': { access: $all, publish: $authenticated }",
      "  '**': { access: $all, proxy: npmjs }",
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  const child = spawn(
    process.execPath,
    [join(root, 'node_modules/verdaccio/bin/verdaccio'), '--config', config, '--listen', `127.0.0.1:${port}`],
    {
      stdio: 'inherit',
    },
  );
  return child;
}

async function waitForRegistry() {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${registry}-/ping`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`verdaccio did not start on ${registry}`);
}

async function token() {
  const res = await fetch(`${registry}-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ci', password: 'ci-password', email: 'ci@example.com' }),
  });
  const body = await res.json();
  if (!body.token) throw new Error(`could not create a registry user: ${JSON.stringify(body)}`);
  return body.token;
}

/** A scratch copy of what changesets and npm publish need: manifests, dist, docs, changesets. */
function scratchCopy() {
  const copy = join(work, 'repo');
  mkdirSync(copy);
  for (const file of ['package.json', 'package-lock.json', '.changeset'])
    cpSync(join(root, file), join(copy, file), { recursive: true });
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, group))) {
      const from = join(root, group, name);
      const to = join(copy, group, name);
      mkdirSync(to, { recursive: true });
      // What npm would pack: package.json plus the package's `files` (dist, docs, fixtures …).
      const { files = [] } = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
      for (const file of ['package.json', ...files]) {
        if (existsSync(join(from, file))) cpSync(join(from, file), join(to, file), { recursive: true });
      }
    }
  }
  return copy;
}

const registryChild = startRegistry();
let failed = false;
try {
  await waitForRegistry();
  const npmrc = join(work, '.npmrc');
  writeFileSync(npmrc, `registry=${registry}\n//127.0.0.1:${port}/:_authToken=${await token()}\n`);
  const npmEnv = { npm_config_userconfig: npmrc, npm_config_registry: registry };

  const copy = scratchCopy();
  sh(copy, bin('changeset'), ['version']);
  const published = [];
  for (const name of readdirSync(join(copy, 'packages'))) {
    const dir = join(copy, 'packages', name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (pkg.private) continue;
    if (!existsSync(join(dir, 'CHANGELOG.md'))) throw new Error(`${pkg.name}: changeset version wrote no CHANGELOG.md`);
    sh(dir, 'npm', ['publish', '--ignore-scripts', '--access', 'public'], npmEnv);
    published.push(`${pkg.name}@${pkg.version}`);
  }
  console.log(`published: ${published.join(', ')}`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'release-e2e-app', private: true, type: 'module' }));
  const adapters = published.filter((p) => !p.startsWith('@stable-adamw/core@'));
  const untested = adapters.filter((p) => !SMOKE[p.slice(0, p.lastIndexOf('@'))]);
  if (untested.length > 0) throw new Error(`no smoke test in smoke.mjs for ${untested.join(', ')}`);
  const extra = [...new Set([...adapters.flatMap((p) => SMOKE[p.slice(0, p.lastIndexOf('@'))].install), ...EXAMPLE_INSTALL])];
  // Core too: the examples import @stable-adamw/core/adapter, as a user names it in their install.
  sh(app, 'npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', ...published, ...extra], npmEnv);
  for (const spec of adapters) {
    const name = spec.slice(0, spec.lastIndexOf('@'));
    const smoke = SMOKE[name];
    const base = name.replace('@stable-adamw/', '');
    writeFileSync(join(app, `${base}.mjs`), smoke.esm);
    writeFileSync(join(app, `${base}.cjs`), smoke.cjs);
    writeFileSync(join(app, `${base}.ts`), smoke.ts);
    process.stdout.write(sh(app, process.execPath, [`${base}.mjs`]));
    process.stdout.write(sh(app, process.execPath, [`${base}.cjs`]));
  }
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        skipLibCheck: false,
        noEmit: true,
      },
      include: ['*.ts'],
    }),
  );
  sh(app, bin('tsc'), ['-p', '.']);
  const examples = nodeExamples(root, app);
  for (const example of examples) runExample(root, app, example);
  console.log(
    `release e2e: installed ${adapters.join(', ')} from ${registry}; ESM, CJS and tsc checks and ${examples.length} README examples passed`,
  );
} catch (error) {
  failed = true;
  console.error(error instanceof Error ? error.message : error);
} finally {
  registryChild.kill();
  rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
