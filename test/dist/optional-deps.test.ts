/**
 * The optional peer dependencies (plots, builder, progress bars) stay out of what `import 'stitchnet'`
 * loads: the library bundles do not name them at all, and the CLI loads them only on first use
 * (a dynamic `import()` or src/base/optional.ts's require), never with a static import that Node
 * would resolve at start. The install test proves it at run time: a consumer without them
 * imports stitchnet, classifies and runs the CLI.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const OPTIONAL = ['vega', 'vega-lite', '@resvg/resvg-js', 'ml-matrix', 'cli-progress'];
const read = (f: string) => readFileSync(path.join(root, 'dist', f), 'utf8');
const quoted = (name: string) => new RegExp(`["'\`]${name.replace(/[/.]/g, '\\$&')}["'\`]`);

describe('optional peer dependencies in dist/', () => {
  it('are not named by the library or the inference worker', () => {
    for (const file of [
      'index.js',
      'index.cjs',
      'testing/index.js',
      'testing/index.cjs',
      'engine/worker.js',
      'engine/worker.cjs',
    ]) {
      const text = read(file);
      for (const name of OPTIONAL) expect(quoted(name).test(text), `${file} names ${name}`).toBe(false);
    }
  });

  it('are loaded lazily by the CLI', () => {
    const cli = read('cli/main.js');
    for (const name of OPTIONAL) {
      expect(new RegExp(`^import[^;]*from\\s*${quoted(name).source}`, 'm').test(cli), `static import of ${name}`).toBe(
        false,
      );
      expect(new RegExp(`require\\(${quoted(name).source}\\)`).test(cli), `require of ${name}`).toBe(false);
    }
    expect(cli).toMatch(/import\(["']vega["']\)/);
  });
});
