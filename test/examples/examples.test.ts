/**
 * The scripts in `examples/` run as a user would run them (`node examples/<name>.mjs`, importing
 * the built package by name) and print what they promise. `npm test` builds `dist/` first.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readPackage } from '../../src/package/index.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

async function example(name: string): Promise<string[]> {
  const { stdout, stderr } = await run(process.execPath, [path.join('examples', name)], {
    cwd: root,
    timeout: 170_000,
  });
  expect(stderr).toBe('');
  return stdout.trim().split('\n');
}

describe('examples/', () => {
  it('classify.mjs: raw images in, labels out; every frontier stitch on the shipped samples, within 3 points of the package accuracy', async () => {
    const { manifest } = await readPackage(path.join(root, 'models', 'fmnist-vit'));
    const lines = await example('classify.mjs');
    expect(lines[0]).toMatch(/^fmnist-vit: 1000 sample images .* provider cpu$/);
    // The first sample's top three labels with their softmax scores.
    const labels = (manifest.output.labels as string[]).map((l) => l.replace(/[/]/g, '\\/')).join('|');
    expect(lines[1]).toMatch(
      new RegExp(
        `^first image \\(a (${labels})\\): (${labels}) [\\d.]+ %, (${labels}) [\\d.]+ %, (${labels}) [\\d.]+ %$`,
      ),
    );
    const rows = lines.slice(3).map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => Number(r[0]))).toEqual(manifest.frontier);
    for (const r of rows) {
      const [samples, stated] = [Number(r[2]), Number(r[4])];
      expect(stated).toBeCloseTo(100 * (manifest.stitches[Number(r[0])]?.accuracy as number), 1);
      expect(Math.abs(samples - stated), r.join(' ')).toBeLessThanOrEqual(3);
    }
  }, 180_000);

  it('adaptive.mjs: the balanced profile steps down as the battery drains and back up after plugging in', async () => {
    const lines = await example('adaptive.mjs');
    expect(lines[0]).toBe('profile balanced: starts on stitch 2 (63.3 MMACs)');
    const switches = lines
      .filter((l) => l.includes(' → '))
      .map((l) => l.match(/^\s*(\d+) s {2}stitch (\d+) → (\d+) \([^,]+, (\w+)\)/)?.slice(1));
    expect(switches).toEqual([
      // Each step down 3 s after the reading that asks for it (balanced.yaml's degradeAfterMs).
      ['23', '2', '31', 'degrade'],
      ['43', '31', '1', 'degrade'],
      ['80', '1', '2', 'upgrade'],
    ]);
    expect(lines.find((l) => l.includes('stitch 31 → 1'))).toContain('critical-battery (battery.percent=12 below 15');
    expect(lines.at(-1)).toBe('at 120 s the runtime is on stitch 2 (63.3 MMACs)');
  });
});
