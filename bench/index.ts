/**
 * `npm run bench [-- streaming stream-statements reconcile compensation debezium topic-evidence prune prune-partitions backfill]`: runs the named
 * benchmarks (all by default) against the real services, prints a markdown
 * table and writes `bench/results/<timestamp>.json` and `.md`.
 *
 * Each benchmark is a module `bench/<name>.ts` exporting `run(ctx)`. Figures
 * are medians of several repetitions or ratios measured in the same run: the
 * machines are shared and noisy, so absolute times alone say little.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../core/index.js';

export const BENCHMARKS = [
  'streaming',
  'stream-statements',
  'reconcile',
  'compensation',
  'debezium',
  'topic-evidence',
  'prune',
  'prune-partitions',
  'backfill',
] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface Metric {
  name: string;
  value: number;
  unit: string;
  /** What the issue asks for, e.g. `>= 10000` or `<= 3`. */
  aim?: string;
  /** Whether `value` meets `aim` (undefined when there is no aim). */
  met?: boolean;
}

export interface BenchResult {
  name: BenchmarkName;
  metrics: Metric[];
  /** Where the time goes, parameters used, anything a reader needs. */
  notes: string[];
}

export interface BenchContext {
  /** Base configuration (the environment); benchmarks make their own databases and namespaces from it. */
  config: Config;
  log: (line: string) => void;
}

/**
 * `base` on databases and a namespace of its own (`recon_b<id>_<tag>_<db>`,
 * `bench-<id>`), so a benchmark never meets another's rows, topics or queues,
 * nor what a test left; the writer URLs fall back to these databases.
 */
export function isolatedConfig(base: Config, tag?: string): Config {
  const id = randomUUID().replaceAll('-', '').slice(0, 10);
  const db = (url: string, name: string) => {
    const u = new URL(url);
    u.pathname = `/recon_b${id}_${tag ? `${tag}_` : ''}${name}`;
    return u.toString();
  };
  return {
    ...base,
    namespace: `bench-${id}`,
    databases: { users: db(base.databases.users, 'users'), points: db(base.databases.points, 'points'), recon: db(base.databases.recon, 'batch') },
    writerDatabases: {},
  };
}

/** Compare a value to an aim such as `>= 10000` or `<= 1.2`. */
export function meets(value: number, aim: string): boolean {
  const m = /^(<=|>=|<|>)\s*([\d.]+)$/.exec(aim.trim());
  if (!m) return false;
  const bound = Number(m[2]);
  return { '<=': value <= bound, '>=': value >= bound, '<': value < bound, '>': value > bound }[m[1] as '<=' | '>=' | '<' | '>'];
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function toMarkdown(results: BenchResult[], machine: string, at: string): string {
  const lines = [`# Benchmarks, ${at}`, '', `Machine: ${machine}`, '', '| benchmark | metric | value | unit | aim | met |', '|---|---|---:|---|---|---|'];
  for (const r of results) {
    for (const m of r.metrics) {
      const v = Math.abs(m.value) >= 100 ? m.value.toFixed(0) : m.value.toFixed(2);
      lines.push(`| ${r.name} | ${m.name} | ${v} | ${m.unit} | ${m.aim ?? ''} | ${m.met === undefined ? '' : m.met ? 'yes' : 'no'} |`);
    }
  }
  for (const r of results) if (r.notes.length) lines.push('', `**${r.name}**`, '', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}

export async function main(args: string[]): Promise<void> {
  const unknown = args.filter((a) => !(BENCHMARKS as readonly string[]).includes(a));
  if (unknown.length) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (choose from ${BENCHMARKS.join(', ')})\n`);
    process.exitCode = 2;
    return;
  }
  const selected = (args.length ? args : BENCHMARKS) as BenchmarkName[];
  const config = loadConfig();
  const ctx: BenchContext = { config, log: (line) => process.stderr.write(`${line}\n`) };
  const results: BenchResult[] = [];
  for (const name of selected) {
    ctx.log(`== ${name}`);
    const mod = (await import(`./${name}.ts`)) as { run(ctx: BenchContext): Promise<BenchResult> };
    const result = await mod.run(ctx);
    for (const m of result.metrics) if (m.aim) m.met = meets(m.value, m.aim);
    results.push(result);
  }
  const at = new Date().toISOString();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  const markdown = toMarkdown(results, machine, at);
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = at.replaceAll(':', '-');
  writeFileSync(join(dir, `${stamp}.json`), JSON.stringify({ at, machine, results }, null, 2));
  writeFileSync(join(dir, `${stamp}.md`), markdown);
  process.stdout.write(markdown);
  process.stderr.write(`results: ${join('bench', 'results', `${stamp}.json`)}\n`);
}
