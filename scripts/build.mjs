// Compiles the TypeScript into dist/ (`npm run build`). With --if-stale (before `npm start`,
// `npm run cli`, …) it builds only when dist/ is missing, was left half-built, or is older
// than any of its inputs: an up-to-date check takes milliseconds, a build many seconds.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = join(ROOT, 'dist', '.build-stamp');
const INPUT_DIRS = ['apps', 'libs', 'migrations'];
const INPUT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.isFile()) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Why dist/ must be built, or undefined when it is up to date. */
function staleness() {
  // The image holds dist/ without the sources: nothing to rebuild from.
  if (!existsSync(join(ROOT, 'apps'))) return undefined;
  if (!existsSync(STAMP)) return 'dist/ is missing or incomplete';
  const built = statSync(STAMP).mtimeMs;
  const inputs = [...INPUT_DIRS.map((dir) => newestMtime(join(ROOT, dir))), ...INPUT_FILES.map((file) => statSync(join(ROOT, file)).mtimeMs)];
  return Math.max(...inputs) > built ? 'sources changed since the last build' : undefined;
}

function run(script, args) {
  const { status, signal } = spawnSync(process.execPath, [join(ROOT, 'node_modules', script), ...args], { cwd: ROOT, stdio: 'inherit' });
  if (status !== 0) {
    console.error(`build failed (${script}: ${signal ?? `exit ${status}`})`);
    process.exit(status || 1);
  }
}

if (process.argv.includes('--if-stale')) {
  const reason = staleness();
  if (!reason) process.exit(0);
  console.error(`building dist/: ${reason}`);
}
// The stamp goes first and comes back last, so an interrupted build is redone next time.
rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
// What `nest build` does with nest-cli.json's tsc builder, called directly: the Nest CLI
// (11, the line that runs on Node 20) rewrites the @berth/* aliases to the .ts sources,
// which Node's ESM loader cannot load; tsc-alias rewrites them to the built .js files.
run('typescript/bin/tsc', ['-p', 'tsconfig.build.json']);
run('tsc-alias/dist/bin/index.js', ['-p', 'tsconfig.build.json']);
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
