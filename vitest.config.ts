import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // onnxruntime-node is a native addon: keep every test file in its own process.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup/fail-on-console.ts'],
    globalSetup: ['test/setup/cache-dir.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
