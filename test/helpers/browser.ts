/**
 * A headless Chromium for the browser tests, found without apt-get.
 *
 * Tried in order: `CHROMIUM_PATH` (when set it must be there), Debian's
 * `/usr/bin/chromium`, `chromium` or `chromium-browser` on `PATH`, and last
 * the headless Chromium that the devDependency `@sparticuz/chromium` ships
 * inside its npm tarball (brotli-compressed), unpacked once into
 * `.cache/chromium-<version>/`. No browser at all is an error that lists what
 * was tried: a test that needs a browser fails, it never skips.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PACKAGED = '@sparticuz/chromium';

/**
 * Flags for every Chromium here, the system one and the packaged one alike.
 * Root needs `--no-sandbox`; the machine has no network beyond loopback, so
 * everything that phones home is switched off (otherwise Chromium opens
 * refused connections by the dozen and looks up Google's hosts at each start).
 * The packaged build's own `chromium.args` are not used: they disable web
 * security and force a single process, which the dashboard's cookie and
 * redirect checks must not run under, and this build starts without them.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface FoundChromium {
  executablePath: string;
  /** Where it came from, for messages: `CHROMIUM_PATH`, `/usr/bin/chromium`, `PATH (chromium)`, `@sparticuz/chromium 147.0.0`. */
  source: string;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Unpack the packaged Chromium into `.cache/chromium-<version>/` unless done
 * before. The package unpacks into the temporary directory, so a child
 * process does it with `TMPDIR` pointing at a staging folder, which is then
 * renamed into place: an interrupted unpack never leaves a half-written
 * binary where the next run would take it.
 */
async function unpackPackaged(): Promise<FoundChromium> {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`it ships a linux-x64 build only (this is ${process.platform}-${process.arch})`);
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(PACKAGED);
  } catch {
    throw new Error('not installed (npm install)');
  }
  // build/cjs/index.cjs → the package folder
  const packageDir = resolve(dirname(entry), '..', '..');
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const source = `${PACKAGED} ${version}`;
  const target = join(PROJECT_ROOT, '.cache', `chromium-${version}`);
  if (executable(join(target, 'chromium'))) return { executablePath: join(target, 'chromium'), source };

  const staging = `${target}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const esm = pathToFileURL(join(packageDir, 'build', 'esm', 'index.js')).href;
    const script = `const { default: c } = await import(${JSON.stringify(esm)}); process.stdout.write(await c.executablePath(${JSON.stringify(join(packageDir, 'bin'))}));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: staging },
      timeout: 120_000,
    });
    if (stdout.trim() !== join(staging, 'chromium')) throw new Error(`unpacked to ${stdout.trim()}, expected ${join(staging, 'chromium')}`);
    try {
      renameSync(staging, target);
    } catch (err) {
      // Another process unpacked it first: use theirs.
      if (!executable(join(target, 'chromium'))) throw err;
    }
  } catch (err) {
    throw new Error(`could not unpack it: ${(err as Error).message}`, { cause: err });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { executablePath: join(target, 'chromium'), source };
}

/** The first Chromium that can be had; throws naming every place it looked. */
export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<FoundChromium> {
  const configured = env.CHROMIUM_PATH;
  if (configured) {
    // Asked for by name: a wrong path is an error, not a reason to pick another browser.
    if (!executable(configured)) throw new Error(`Chromium is missing: CHROMIUM_PATH=${configured} is not an executable file`);
    return { executablePath: configured, source: 'CHROMIUM_PATH' };
  }
  const tried = ['CHROMIUM_PATH: unset'];
  if (executable('/usr/bin/chromium')) return { executablePath: '/usr/bin/chromium', source: '/usr/bin/chromium' };
  tried.push('/usr/bin/chromium: missing');
  for (const name of ['chromium', 'chromium-browser']) {
    const found = onPath(name, env);
    if (found) return { executablePath: found, source: `PATH (${name})` };
  }
  tried.push('chromium, chromium-browser: not on PATH');
  try {
    return await unpackPackaged();
  } catch (err) {
    tried.push(`${PACKAGED}: ${(err as Error).message}`);
  }
  throw new Error(
    `Chromium is missing; tried ${tried.join('; ')}. Run npm install (it brings ${PACKAGED}), set CHROMIUM_PATH, or install Debian's package: apt-get install -y chromium`,
  );
}

type ContextOptions = Omit<NonNullable<Parameters<typeof chromium.launchPersistentContext>[1]>, 'executablePath' | 'args' | 'headless'>;

/** Launch a headless Chromium with its own profile folder (which the caller removes). */
export async function launchChromium(profileDir: string, options: ContextOptions = {}): Promise<BrowserContext> {
  const found = await findChromium();
  try {
    return await chromium.launchPersistentContext(profileDir, { ...options, executablePath: found.executablePath, headless: true, args: CHROMIUM_ARGS });
  } catch (err) {
    throw new Error(`Chromium from ${found.source} (${found.executablePath}) did not start: ${(err as Error).message}`, { cause: err });
  }
}
