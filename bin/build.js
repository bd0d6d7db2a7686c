#!/usr/bin/env node
// `npm run build`, and the `prepare` script, so `npm install` and `npm ci` run
// it: compile the sources into dist/ (tsconfig.build.json), from scratch, and
// stamp it. bin/recon.js runs dist/ only while that stamp is newer than every
// source. A failed build leaves no stamp and does not fail the install: recon
// then runs its TypeScript through tsx, and `npm test` names the type errors.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DIST, ROOT, STAMP } from './dist.js';

const started = new Date();
rmSync(DIST, { recursive: true, force: true });

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  process.stderr.write('recon build: typescript is not installed (a production install?); recon runs its sources through tsx\n');
  process.exit(0);
}
const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) {
  rmSync(DIST, { recursive: true, force: true });
  process.stderr.write('recon build: tsc failed (above); recon runs its sources through tsx until `npm run build` succeeds\n');
  process.exit(0);
}
mkdirSync(DIST, { recursive: true });
writeFileSync(STAMP, `built from the sources as they were at ${started.toISOString()}\n`);
utimesSync(STAMP, started, started);
