// Lint, and the layering rules of DESIGN.md ("a folder is a room"), enforced per folder:
// - src-main/contract/** and src-renderer/** import no Node built-ins, no Electron, and nothing
//   under src-main except contract/ (the renderer runs in a sandboxed page);
// - src-main/engine/** never imports Electron, the browser-mode server or the renderer.
// Svelte files are checked too: their <script> blocks are linted as TypeScript by the small
// processor below (svelte-check does the type checking).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = [...new Set(builtinModules.map((m) => m.replace(/^node:/, '')))];

/** Keeps each <script> block's text at its original lines so reported positions stay right. */
const svelteScripts = {
  meta: { name: 'normlab-svelte-scripts' },
  preprocess(text) {
    const blocks = [];
    const re = /<script\b[^>]*>([\s\S]*?)<\/script>/g;
    let m;
    while ((m = re.exec(text))) {
      const before = text.slice(0, m.index + m[0].indexOf('>') + 1);
      const offsetLines = before.split('\n').length - 1;
      const lastLineStart = before.lastIndexOf('\n') + 1;
      const pad = ' '.repeat(before.length - lastLineStart);
      blocks.push({ text: '\n'.repeat(offsetLines) + pad + m[1], filename: `${blocks.length}.ts` });
    }
    return blocks;
  },
  postprocess(messages) {
    return messages.flat();
  },
  supportsAutofix: false,
};

const noNodeNoElectron = (extra = []) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: [
        { name: 'electron', message: 'Only src-main/electron may import Electron.' },
        ...nodeBuiltins.map((name) => ({ name, message: 'This room runs without Node: no Node built-ins.' })),
      ],
      patterns: [
        { regex: '^node:', message: 'This room runs without Node: no node:* imports.' },
        { regex: '^electron/', message: 'Only src-main/electron may import Electron.' },
        ...extra,
      ],
    },
  ],
});

export default tseslint.config(
  {
    ignores: ['out/**', 'dist/**', 'node_modules/**', 'resources/**', 'tests/artifacts/**', 'bench/results/**', 'normlab-workspace/**', 'reference/**', '**/*.py'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  { files: ['**/*.svelte'], processor: svelteScripts },
  {
    files: ['src-renderer/**/*.ts', 'src-renderer/**/*.svelte/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // Svelte's compiler supplies $props/$state/… and reads bindings from the markup, which this
    // processor does not see; unused-variable checks are svelte-check's job there.
    files: ['**/*.svelte/*.ts'],
    languageOptions: { globals: { $state: 'readonly', $derived: 'readonly', $effect: 'readonly', $props: 'readonly', $bindable: 'readonly', $inspect: 'readonly', $host: 'readonly' } },
    rules: { '@typescript-eslint/no-unused-vars': 'off', 'prefer-const': 'off', 'no-undef': 'off' },
  },
  {
    files: ['src-renderer/**/*.ts', 'src-renderer/**/*.svelte/*.ts'],
    rules: noNodeNoElectron([
      {
        regex: 'src-main/(?!contract/)',
        message: 'The renderer talks to the app only through src-main/contract (types and name lists) and a Host.',
      },
    ]),
  },
  {
    files: ['src-main/contract/*.ts'],
    rules: noNodeNoElectron([{ regex: '^\\.\\./', message: 'contract/ is self-contained: it imports nothing outside itself.' }]),
  },
  {
    // contract/math may use the contract's own modules one level up, nothing further.
    files: ['src-main/contract/math/**/*.ts'],
    rules: noNodeNoElectron([{ regex: '^\\.\\./\\.\\./', message: 'contract/ is self-contained: it imports nothing outside itself.' }]),
  },
  {
    // The layer table: pure data and shape rules, shared by both engines and the exporter.
    files: ['src-main/model/*.ts'],
    rules: noNodeNoElectron([{ regex: '^\\.\\./(?!contract/)', message: 'model/ imports only contract/ (engine/ and onnx/ lower from it, never the other way).' }]),
  },
  {
    files: ['src-main/model/ops/**/*.ts'],
    rules: noNodeNoElectron([{ regex: '^\\.\\./\\.\\./(?!contract/)', message: 'model/ imports only contract/ (engine/ and onnx/ lower from it, never the other way).' }]),
  },
  {
    files: ['src-main/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'The engine runs in a worker and in the CLI: no Electron.' }],
          patterns: [
            { regex: '^electron/', message: 'The engine runs in a worker and in the CLI: no Electron.' },
            { regex: '(^|/)(electron|server)(/|$)', message: 'engine/ must not import the Electron or browser-mode doors.' },
            { regex: 'src-renderer', message: 'engine/ must not import the renderer.' },
          ],
        },
      ],
    },
  },
  {
    // onnx/ (exporter, importer, training-step graph, sessions) lowers from model/; it never
    // imports engine/ (host/ composes the two).
    files: ['src-main/onnx/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'onnx/ runs in the worker and the CLI: no Electron.' }],
          patterns: [
            { regex: '^electron/', message: 'onnx/ runs in the worker and the CLI: no Electron.' },
            { regex: '(^|/)(electron|server|cli|host|services)(/|$)', message: 'onnx/ must not import the doors, host/ or services/.' },
            { regex: '(^|/)engine(/|$)', message: 'onnx/ never imports engine/: both lower from model/, host/ composes them.' },
            { regex: 'src-renderer', message: 'onnx/ must not import the renderer.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
