// @ts-check
/**
 * Lint: typescript-eslint's type-checked recommendations (a subset, see
 * below) and import cycles.
 * `npm run lint` runs it after `tsc` and before `prettier --check`.
 */
import { join } from 'node:path';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const ROOT = import.meta.dirname;

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

      // No import cycles. eslint-plugin-import-x
      // skips type-only imports here.
      'import-x/no-cycle': 'error',
      'import-x/no-unresolved': 'error',
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
