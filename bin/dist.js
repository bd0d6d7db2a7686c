// Whether dist/ (the compiled JavaScript bin/build.js writes) may stand in for
// the TypeScript sources: only when no source changed since that build began.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(ROOT, 'dist');
/** Written by a successful build, with the time the build started as its mtime. */
export const STAMP = join(DIST, '.built');
/** What tsconfig.build.json compiles. */
export const SOURCE_DIRS = ['core', 'db', 'streaming', 'reconcile', 'batch', 'cli', 'services'];
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json'];

/**
 * True when dist/ was built from the sources as they are: no file and no
 * folder under SOURCE_DIRS (a folder's mtime moves when a file in it is
 * added, removed or renamed), nor a tsconfig, is as new as the build's start.
 * About a hundred stat calls: a millisecond or two.
 */
export function distIsFresh() {
  let built;
  try {
    built = statSync(STAMP).mtimeMs;
  } catch {
    return false;
  }
  const changed = (path) => statSync(path).mtimeMs >= built;
  const changedUnder = (dir) => {
    if (changed(dir)) return true;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() ? changedUnder(path) : changed(path)) return true;
    }
    return false;
  };
  try {
    return !CONFIG_FILES.some((f) => changed(join(ROOT, f))) && !SOURCE_DIRS.some((d) => changedUnder(join(ROOT, d)));
  } catch {
    // A folder or file vanished while we looked: the sources are changing.
    return false;
  }
}
