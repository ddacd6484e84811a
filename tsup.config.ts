import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Library: dual ESM/CJS with types.
    entry: {
      index: 'src/index.ts',
      'testing/index': 'src/testing/index.ts',
      // The inference worker is loaded by path at runtime, so it is its own entry.
      'engine/worker': 'src/engine/worker.ts',
    },
    format: ['esm', 'cjs'],
    dts: { entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' } },
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    shims: true,
    external: ['onnxruntime-node'],
  },
  {
    // Command-line tools and scripts: ESM only.
    entry: {
      'cli/main': 'src/cli/main.ts',
      'bench/main': 'bench/main.ts',
      'bench/soak': 'bench/soak.ts',
      'bench/adaptive': 'bench/adaptive.ts',
      'bench/finite-check': 'bench/finite-check.ts',
    },
    format: ['esm'],
    sourcemap: true,
    clean: false,
    target: 'node20',
    splitting: false,
    shims: true,
    external: ['onnxruntime-node'],
    banner: { js: '#!/usr/bin/env node' },
  },
]);
