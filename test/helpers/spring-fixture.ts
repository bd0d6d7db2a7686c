/**
 * The Spring for Apache Kafka neighbour of test/fixtures/spring-welcome-mail:
 * its jars fetched with Maven and its source compiled with javac into
 * `.cache/spring-fixture/<hash of pom and sources>/`, once per version of the
 * sources, then run as a child process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './env.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'spring-welcome-mail');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** Build the fixture unless this version of it is cached; returns its Java class path. */
export function buildSpringFixture(): string {
  const sources = files(join(FIXTURE, 'src')).filter((f) => f.endsWith('.java'));
  const hash = createHash('sha256');
  for (const f of [join(FIXTURE, 'pom.xml'), ...sources]) hash.update(relative(FIXTURE, f)).update('\0').update(readFileSync(f)).update('\0');
  const out = join(ROOT, '.cache', 'spring-fixture', hash.digest('hex').slice(0, 16));
  const classPath = `${join(out, 'classes')}:${join(out, 'lib')}/*`;
  if (existsSync(join(out, '.complete'))) return classPath;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} failed building the Spring fixture (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  };
  run('mvn', ['-q', '-B', '-f', join(FIXTURE, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${join(out, 'lib')}`, '-DincludeScope=runtime']);
  run('javac', ['-d', join(out, 'classes'), '--release', '17', '-nowarn', '-cp', `${join(out, 'lib')}/*`, ...sources]);
  writeFileSync(join(out, '.complete'), new Date().toISOString());
  return classPath;
}

export interface SpringProcess {
  child: ChildProcess;
  /** Lines it printed on stdout so far. */
  lines(): string[];
  /** Wait until `count` printed lines match `pattern`; returns them. */
  waitForLines(pattern: RegExp, count: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<void>;
}

/** Start `WelcomeMail <args>` (see its javadoc for the modes). */
export function startSpring(classPath: string, args: string[]): SpringProcess {
  const child = spawn('java', ['-Xmx192m', '-XX:TieredStopAtLevel=1', '-cp', classPath, 'recon.fixture.WelcomeMail', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let partial = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    out.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  return {
    child,
    lines: () => [...out],
    async waitForLines(pattern, count, timeoutMs = 120_000) {
      await waitFor(
        `${count} lines matching ${pattern} from the Spring fixture`,
        () => {
          if (child.exitCode !== null) throw new Error(`the Spring fixture exited (${child.exitCode}):\n${out.join('\n')}\n${err}`);
          return out.filter((l) => pattern.test(l)).length >= count;
        },
        { timeoutMs, intervalMs: 200 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\nstdout:\n${out.slice(-20).join('\n')}\nstderr:\n${err.slice(-2500)}`);
      });
      return out.filter((l) => pattern.test(l));
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(timer);
    },
  };
}
