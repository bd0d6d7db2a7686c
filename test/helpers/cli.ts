/** Environment for running `node bin/recon.js ...` as a child process against a test's databases and namespace. */
import { spawn, type ChildProcess } from 'node:child_process';
import { configEnv, type Config } from '../../core/index.js';

export function cliEnv(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...configEnv(config), LOG_LEVEL: 'warn', KAFKAJS_NO_PARTITIONER_WARNING: '1', ...extra };
}

/** Run `recon <args>` to completion; resolves with its exit code and output. */
export function runCli(
  config: Config,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/recon.js', ...args], { env: cliEnv(config, extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Start a long-running `recon <args>` (relay, consume); the caller kills it. */
export function spawnCli(config: Config, args: string[], extraEnv: Record<string, string> = {}): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['bin/recon.js', ...args], { env: cliEnv(config, extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return Object.assign(child, { output: () => output });
}

/** Resolve when the child has exited (with its code and signal). */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
