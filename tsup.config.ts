import { defineConfig } from 'tsup';

// What ships (`npm pack`): the library and the CLI, without source maps (the sources do not ship,
// and maps that embed them doubled the tarball). The benchmarks build separately
// (tsup.bench.config.ts, `npm run bench`) and never ship.
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
    sourcemap: false,
    clean: true,
    target: 'node20',
    splitting: false,
    shims: true,
    external: ['onnxruntime-node'],
  },
  {
    // Command-line tool: ESM only.
    entry: { 'cli/main': 'src/cli/main.ts' },
    format: ['esm'],
    sourcemap: false,
    clean: false,
    target: 'node20',
    splitting: false,
    shims: true,
    external: ['onnxruntime-node'],
    banner: { js: '#!/usr/bin/env node' },
  },
]);
