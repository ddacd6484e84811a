import { defineConfig } from 'tsup';

// The benchmarks (`npm run bench`, `npm run soak`): built next to the library in dist/ (the inference
// worker is found relative to the bundle, dist/engine/worker.js) and left out of the package
// (`files` excludes dist/bench).
export default defineConfig({
  entry: {
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
});
