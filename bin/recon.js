#!/usr/bin/env node
// The package bin. `npm install` compiles the TypeScript into dist/ (the
// `prepare` script, bin/build.js); while no source has changed since, recon
// runs that JavaScript and starts quickly. Otherwise (a source edited, no
// build) it runs the sources through tsx's loader: an out-of-date build is
// never run, and a fresh clone needs nothing beyond `npm install`.
import { distIsFresh } from './dist.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
let main;
if (distIsFresh()) {
  // Stack traces name the TypeScript lines.
  process.setSourceMapsEnabled(true);
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
await main(process.argv);
