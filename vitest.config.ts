import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // onnxruntime-node is a native addon: keep every test file in its own process.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup/fail-on-console.ts'],
    globalSetup: ['test/setup/cache-dir.ts'],
    // Type tests of the public surface (test/types/*.test-d.ts) run through tsc.
    typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'], tsconfig: './test/types/tsconfig.json' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
