import { afterEach, beforeEach, vi } from 'vitest';

// A test must not print noise: any console output fails it.
const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
let calls: string[] = [];

beforeEach(() => {
  calls = [];
  for (const m of methods) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      calls.push(`console.${m}: ${args.map(String).join(' ')}`);
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
  if (calls.length > 0) {
    const printed = calls.join('\n');
    calls = [];
    throw new Error(`test printed to the console:\n${printed}`);
  }
});
