// Lint, and the layering rules of DESIGN.md ("a folder is a room"), enforced per folder:
// - every folder of src-main imports only the rooms ROOMS below allows it (rule normlab/rooms);
// - src-main/contract/**, src-main/model/** and src-renderer/** import no Node built-ins and no
//   Electron, and the renderer nothing under src-main except contract/ (it runs in a sandboxed page).
// Svelte files are checked too: their <script> blocks are linted as TypeScript by the small
// processor below (svelte-check does the type checking).
import { builtinModules } from 'node:module';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * The rooms of src-main and what each may import (DESIGN.md "Layout"): rooms only look down.
 * `code`: rooms it may import anything from; `types`: rooms it may import types from only
 * (`import type`), e.g. the store writes the engine's checkpoint shapes without loading tfjs.
 * A room imports itself freely; nothing imports the doors (electron/, server/, cli/) but a door;
 * a relative import never leaves src-main; only electron/ imports the electron package.
 */
export const ROOMS = {
  contract: { code: [] },
  model: { code: ['contract'] },
  data: { code: ['contract'] },
  engine: { code: ['contract', 'model', 'data'] },
  onnx: { code: ['contract', 'model', 'data'] },
  store: { code: ['contract', 'model'], types: ['engine'] },
  analysis: { code: ['contract', 'model', 'data', 'engine', 'onnx'], types: ['store'] },
  host: { code: ['contract', 'model', 'data', 'engine', 'onnx', 'analysis', 'store'] },
  services: { code: ['contract', 'model', 'data', 'engine', 'onnx', 'analysis', 'store', 'host'] },
  server: { code: ['contract', 'services'] },
  electron: { code: ['contract', 'services'] },
  cli: { code: ['contract', 'model', 'analysis', 'services', 'server'] },
};

const SRC_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), 'src-main');

/** The room a path is in: the first folder under src-main, or the folder itself (null outside src-main). */
function roomOf(path) {
  const rel = relative(SRC_MAIN, path);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return null;
  return rel.split(sep)[0];
}

const roomsRule = {
  meta: {
    type: 'problem',
    docs: { description: 'A folder of src-main imports only the rooms ROOMS allows it (DESIGN.md).' },
    schema: [],
  },
  create(context) {
    const from = roomOf(context.filename);
    if (!from || !relative(SRC_MAIN, context.filename).includes(sep)) return {};
    const rules = ROOMS[from];
    if (!rules) {
      return { Program: (node) => context.report({ node, message: `src-main/${from}/ is not a room in eslint.config.js ROOMS: add it with the rooms it may import.` }) };
    }
    const allowed = (to, typeOnly) => to === from || rules.code.includes(to) || (typeOnly && (rules.types ?? []).includes(to));
    const check = (node, source, typeOnly) => {
      if (typeof source !== 'string') return;
      if (source === 'electron' || source.startsWith('electron/')) {
        if (from !== 'electron') context.report({ node, message: `${from}/ may not import Electron: only src-main/electron does.` });
        return;
      }
      if (!source.startsWith('.')) return;
      const target = resolve(dirname(context.filename), source);
      const to = roomOf(target);
      if (!to) {
        context.report({ node, message: `${from}/ may not import ${source}: a relative import never leaves src-main (the renderer, tests and scripts are not rooms of the app).` });
        return;
      }
      if (allowed(to, typeOnly)) return;
      const may = [...rules.code, ...(rules.types ?? []).map((t) => `${t} (types)`)].join(', ') || 'nothing';
      context.report({
        node,
        message: (rules.types ?? []).includes(to)
          ? `${from}/ may import ${to}/ only for its types (use import type).`
          : `${from}/ may not import ${to}/ (rooms only look down; ${from}/ may import: ${may}).`,
      });
    };
    const typeOnlyImport = (node) =>
      node.importKind === 'type' || (node.specifiers.length > 0 && node.specifiers.every((sp) => sp.importKind === 'type'));
    return {
      ImportDeclaration: (node) => check(node, node.source.value, typeOnlyImport(node)),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, node.exportKind === 'type'),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value, false),
    };
  },
};

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
    files: ['src-main/**/*.ts'],
    plugins: { normlab: { rules: { rooms: roomsRule } } },
    rules: { 'normlab/rooms': 'error' },
  },
  {
    // contract/ (the one typed API, also the renderer's) and model/ (the layer table) are pure:
    // no Node, no Electron; ROOMS keeps them from importing anything but contract/.
    files: ['src-main/contract/**/*.ts', 'src-main/model/**/*.ts'],
    rules: noNodeNoElectron(),
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
