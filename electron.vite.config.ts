import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

/**
 * Three builds: main (Electron main, CLI, browser-mode server and the engine worker — all
 * Node code from src-main/), the sandboxed preload (one CommonJS file), and the renderer.
 */
export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      // Packages stay external (loaded from node_modules at run time), except tfjs-core's gradient
      // registrations: that entry is extensionless ESM that Node cannot import, so it is bundled.
      // tfjs keeps its kernel and gradient registries on globalThis, so the bundled copy registers
      // into the same engine as the external @tensorflow/tfjs-core.
      externalizeDeps: false,
      target: 'node20',
      rollupOptions: {
        // Bare specifiers (packages) except tfjs-core's dist files; relative/absolute ids are bundled.
        external: [/^(?![./\\\0])(?![A-Za-z]:)(?!@tensorflow\/tfjs-core\/dist\/)(@[\w.-]+\/)?[\w.-]+(\/.*)?$/],
        input: {
          electron: resolve(__dirname, 'src-main/electron/main.ts'),
          cli: resolve(__dirname, 'src-main/cli/main.ts'),
          worker: resolve(__dirname, 'src-main/host/worker.ts'),
        },
        // Chunks sit beside the entries so `new URL('./worker.js', import.meta.url)` resolves from any of them.
        output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rollupOptions: {
        input: { preload: resolve(__dirname, 'src-main/electron/preload.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src-renderer'),
    plugins: [svelte()],
    build: {
      outDir: resolve(__dirname, 'out/renderer'),
      rollupOptions: { input: resolve(__dirname, 'src-renderer/index.html') },
    },
  },
});
