// @ts-check
/**
 * Lint: typescript-eslint's type-checked recommendations (a subset, see
 * below), import cycles, and the import boundaries between our folders.
 * `npm run lint` runs it after `tsc` and before `prettier --check`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const ROOT = import.meta.dirname;

/** Our top-level folders (README "Project layout"). */
const FOLDERS = ['core', 'db', 'streaming', 'reconcile', 'batch', 'services', 'cli', 'bench', 'test'];

/** Every top-level folder but `self` and the ones it may import: what `self` must not import. */
const allBut = (/** @type {string} */ self, /** @type {string[]} */ ...allowed) =>
  FOLDERS.filter((f) => f !== self && !allowed.includes(f)).map((f) => `./${f}`);

/**
 * The direction of dependencies, one zone per folder. Type-only imports count
 * too: a type is a dependency as much as a value is.
 */
const directionZones = [
  // core/: configuration, errors, ids, shared types. It imports nothing of ours.
  { target: './core', from: allBut('core'), message: 'core/ imports nothing of ours.' },
  // db/: the SQL. It depends on configuration and shared types only.
  { target: './db', from: allBut('db', 'core'), message: 'db/ imports only core/.' },
  // streaming/: producers, relay and consumers write through db/.
  { target: './streaming', from: allBut('streaming', 'db', 'core'), message: 'streaming/ imports only db/ and core/.' },
  // reconcile/: checks and compensations; producers and queues are passed in, never imported.
  {
    target: './reconcile',
    from: allBut('reconcile', 'db', 'core'),
    message: 'reconcile/ imports only db/ and core/ (producers and queues are passed in).',
  },
  // batch/: runs, queues, workers, reports and the API, on top of the three below it.
  {
    target: './batch',
    from: allBut('batch', 'reconcile', 'streaming', 'db', 'core'),
    message: 'batch/ imports only reconcile/, streaming/, db/ and core/.',
  },
  // services/: the local Kafka broker; it only needs to ask whether Kafka answers.
  { target: './services', from: allBut('services', 'streaming', 'core'), message: 'services/ imports only streaming/ and core/.' },
  // cli/ wires everything, so nothing imports it: bin/recon.js launches it and
  // tests run it as a child process (test/helpers/cli.ts).
  { target: allBut('cli', 'test'), from: './cli', message: 'nothing imports cli/: it wires everything; tests spawn it.' },
  // Tests spawn the command line too; the one exception is the program's
  // definition (cli/main.ts), which test/cli/lazy-commands.test.ts builds to
  // show that declaring the commands loads no database, Kafka or HTTP module.
  { target: './test', from: './cli', except: ['./main.ts'], message: 'nothing imports cli/: it wires everything; tests spawn it.' },
  // test/ and bench/ may import any folder but cli/ (the zones above).
];

/**
 * Deep imports that tests made before folders had to be imported through
 * their faces. They may stay; new imports go through the face.
 */
const TEST_DEEP_IMPORTS = {
  db: ['./shared/dead-letters.ts'], // test/streaming/dead-letter-text.test.ts
  services: ['./local-kafka.ts'], // the broker tests and the chaos suite
};

/** `dir` and every folder below it that has a face (an `index.ts`), relative to the root. */
function facedFolders(/** @type {string} */ dir) {
  const below = readdirSync(join(ROOT, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => facedFolders(`${dir}/${e.name}`));
  return existsSync(join(ROOT, dir, 'index.ts')) ? [dir, ...below] : below;
}

/**
 * A folder with a face is imported only through it: `../db/index.js`, never
 * `../db/recon/runs.js`. The zone's target is everything beside the folder
 * (its siblings, or the other top-level folders); inside it, files import
 * each other freely.
 */
function faceZones(/** @type {string} */ folder) {
  const parent = folder.includes('/') ? folder.slice(0, folder.lastIndexOf('/')) : '';
  const name = folder.slice(parent ? parent.length + 1 : 0);
  const siblings = parent
    ? readdirSync(join(ROOT, parent))
        .filter((n) => n !== name)
        .map((n) => `./${parent}/${n}`)
    : allBut(folder);
  const message = `import ${folder}/ through its face, ${folder}/index.ts.`;
  const testDeep = parent ? undefined : TEST_DEEP_IMPORTS[/** @type {keyof typeof TEST_DEEP_IMPORTS} */ (folder)];
  if (!testDeep) return [{ target: siblings, from: `./${folder}`, except: ['./index.ts'], message }];
  return [
    { target: siblings.filter((s) => s !== './test'), from: `./${folder}`, except: ['./index.ts'], message },
    { target: './test', from: `./${folder}`, except: ['./index.ts', ...testDeep], message },
  ];
}

/**
 * Inside a folder, files import each other, never the folder's own face (nor
 * a parent's): the face re-exports them, so that import is a cycle. This
 * catches the type-only cycles no-cycle does not follow.
 */
const ownFaceZone = (/** @type {string} */ folder) => ({
  target: `./${folder}`,
  from: `./${folder}/index.ts`,
  message: `inside ${folder}/, import the file that declares it, not ${folder}/index.ts (a cycle through the face).`,
});

// bench/index.ts is the benchmark runner, not a face; test/ has none.
const faced = FOLDERS.filter((f) => f !== 'bench' && f !== 'test').flatMap(facedFolders);
const faces = [...faced.flatMap(faceZones), ...faced.map(ownFaceZone)];

export default defineConfig([
  globalIgnores(['node_modules/', '.cache/', 'dist/', 'reports/', 'bench/results/', 'test-artifacts/']),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: ROOT },
    },
    plugins: { 'import-x': importX },
    settings: {
      // Which files import-x parses to follow imports (no-cycle), and how it resolves `./x.js` to `./x.ts`.
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: join(ROOT, 'tsconfig.json') })],
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // verbatimModuleSyntax keeps imports as written: a type-only import must say so.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // Same convention as tsc's noUnused*: a leading underscore marks a deliberate unused name.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],

      // Turned off: each would need changes the checks do not pay for.
      // - require-await: fastify plugins must be async functions (or take a callback),
      //   and test doubles implement async interfaces without awaiting anything.
      '@typescript-eslint/require-await': 'off',
      // - unbound-method: kafkajs (resolveOffset, heartbeat) and our own interfaces
      //   (RelayHandle.stats) declare closures with method syntax; destructuring
      //   them is safe and is how kafkajs documents them.
      '@typescript-eslint/unbound-method': 'off',
      // - no-unnecessary-type-assertion: tsc already checks these casts; most are on
      //   knex results, and removing them means typing each query instead.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',

      // No import cycles (see test/lint/boundaries.test.ts). eslint-plugin-import-x
      // skips type-only imports here; the zones below catch those between folders
      // and through a folder's own face.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // The zones only see imports that resolve: an unresolved one would slip past them.
      'import-x/no-unresolved': 'error',
      'import-x/no-restricted-paths': ['error', { basePath: ROOT, zones: [...directionZones, ...faces] }],
    },
  },
  {
    // knex builders are thenables: a callback that builds a subquery
    // (`.where((q) => q.whereNull(…))`) returns one, and knex ignores it.
    files: ['db/**/*.ts'],
    rules: { '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }] },
  },
  {
    // Tests read knex rows, JSON bodies and DOM results as `any`; typing each one
    // would add nothing the assertions do not already check.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (bin/, this file): no type information, Node's globals.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
]);
