#!/usr/bin/env node
// The package bin. Sources are TypeScript run through tsx's loader, so a fresh
// `npm install` is all it takes: no build step stands between a clone and `recon`.
import { register } from 'tsx/esm/api';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
