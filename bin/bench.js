#!/usr/bin/env node
// `npm run bench [-- NAME...]`: see bench/index.ts.
import { register } from 'tsx/esm/api';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
register();
const { main } = await import('../bench/index.ts');
await main(process.argv.slice(2));
