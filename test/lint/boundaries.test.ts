/**
 * The lint guards can fail: ESLint's Node API, with the project's own
 * eslint.config.js, reports a boundary crossing, a deep import past a face
 * and import cycles in probe files, and passes imports that are allowed.
 */
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ESLint, type Linter } from 'eslint';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * ESLint with the project's eslint.config.js, running only `rules` and
 * without type information: the zones and the cycle check are the config's
 * own, and type-aware parsing would only cost seconds.
 */
const eslintWith = (...rules: string[]) =>
  new ESLint({
    cwd: ROOT,
    ruleFilter: ({ ruleId }) => rules.includes(ruleId),
    overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
  });

// no-cycle follows every import it meets, so it gets an instance of its own.
const eslint = eslintWith('import-x/no-restricted-paths', 'import-x/no-unresolved');
const cycles = eslintWith('import-x/no-cycle');

/** Lint `code` as if it were the file `path` (relative to the root); nothing is written. */
async function lintAs(path: string, code: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return result!.messages;
}

const probe = `lint-probe-${randomUUID().slice(0, 8)}`;
const written: string[] = [];
afterAll(() => {
  for (const file of written) rmSync(file, { force: true });
});

describe('import boundaries', () => {
  it('report db/ importing batch/', async () => {
    const messages = await lintAs(`db/${probe}.ts`, "export { executeRun } from '../batch/index.js';\n");
    expect(messages.map((m) => [m.ruleId, m.message])).toEqual([
      ['import-x/no-restricted-paths', 'Unexpected path "../batch/index.js" imported in restricted zone. db/ imports only core/.'],
    ]);
  });

  it('report a type-only import across a boundary too', async () => {
    const messages = await lintAs(`reconcile/${probe}.ts`, "export type { Producer } from '../streaming/index.js';\n");
    expect(messages.map((m) => m.message)).toEqual([expect.stringContaining('reconcile/ imports only db/ and core/')]);
  });

  it('report a deep import past a face, between folders and between siblings', async () => {
    const fromStreaming = await lintAs(`streaming/${probe}.ts`, "export { insertRun } from '../db/recon/runs.js';\n");
    expect(fromStreaming.map((m) => m.message)).toEqual([expect.stringContaining('import db/ through its face, db/index.ts.')]);
    const fromSibling = await lintAs(`batch/http/${probe}.ts`, "export { executeRun } from '../runs/execute.js';\n");
    expect(fromSibling.map((m) => m.message)).toEqual([expect.stringContaining('import batch/runs/ through its face, batch/runs/index.ts.')]);
  });

  it('report tests importing cli/ beyond the program definition', async () => {
    const messages = await lintAs(`test/cli/${probe}.test.ts`, "export { runDemo } from '../../cli/demo-scenario.js';\n");
    expect(messages.map((m) => m.message)).toEqual([expect.stringContaining('nothing imports cli/')]);
  });

  it('pass imports that follow the direction through faces', async () => {
    expect(await lintAs(`db/${probe}.ts`, "export { ReconError } from '../core/index.js';\n")).toEqual([]);
    expect(await lintAs(`batch/http/${probe}.ts`, "export { executeRun } from '../runs/index.js';\n")).toEqual([]);
  });
});

describe('import cycles', () => {
  it("report a file importing its own folder's face, even for types only", async () => {
    const messages = await lintAs(`streaming/${probe}.ts`, "export type { Admin } from './index.js';\n");
    expect(messages.map((m) => m.message)).toEqual([expect.stringContaining('not streaming/index.ts (a cycle through the face)')]);
  });

  it('report two files that import each other', async () => {
    // import-x follows imports on disk, so this probe is two real files (removed after the tests).
    const a = join(ROOT, 'core', `${probe}-a.ts`);
    const b = join(ROOT, 'core', `${probe}-b.ts`);
    written.push(a, b);
    writeFileSync(a, `import { b } from './${probe}-b.js';\nexport const a = (): number => b() + 1;\n`);
    writeFileSync(b, `import { a } from './${probe}-a.js';\nexport const b = (): number => a() - 1;\n`);
    const [result] = await cycles.lintFiles([a]);
    expect(result!.messages.map((m) => [m.ruleId, m.message])).toEqual([['import-x/no-cycle', 'Dependency cycle detected']]);
  });
});
