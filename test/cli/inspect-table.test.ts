import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage } from '../../src/builder/build.js';
import { formatStitchTable, inspectPackage } from '../../src/cli/inspect-table.js';
import { tinyConfig, writeFamily, writeIdx } from '../builder/family.js';

const dir = mkdtempSync(path.join(tmpdir(), 'stitchnet-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const { files } = writeFamily(dir, [
    { name: 'small', config: tinyConfig(16, 2) },
    { name: 'large', config: tinyConfig(24, 2) },
  ]);
  const calib = writeIdx(dir, 'calib', 32);
  await buildPackage({
    anchors: files,
    out: path.join(dir, 'with-eval'),
    calib,
    eval: writeIdx(dir, 'eval', 20, 28, 3),
    profile: { provider: 'cpu', batches: [1], warmup: 1, rounds: 2 },
  });
  await buildPackage({ anchors: files, out: path.join(dir, 'no-eval'), calib });
});

describe('inspectPackage', () => {
  it('lays out the stitch table with cost, accuracy, latency and frontier', async () => {
    const svg = path.join(dir, 'plots', 'pareto.svg');
    const png = path.join(dir, 'plots', 'pareto.png');
    const ins = await inspectPackage(path.join(dir, 'with-eval'), {
      plot: [
        { file: svg, format: 'svg' },
        { file: png, format: 'png' },
      ],
    });
    // depth 2: anchors, then (0,0) (0,1) (1,0) (1,1).
    expect(ins.rows.map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ins.rows[2]).toMatchObject({ route: 'small[0-0] → small-large.0 → large[0-1]', positions: '(0,0)' });
    expect(ins.rows.every((r) => r.macs! > 0 && r.params! > 0 && r.accuracy !== undefined && r.p50Ms! > 0)).toBe(true);
    expect(ins.rows.filter((r) => r.frontier).map((r) => r.id)).toEqual(
      ins.manifest.frontier.slice().sort((a, b) => a - b),
    );
    expect(ins.latency).toMatchObject({ provider: 'cpu', batch: '1' });
    expect(ins.plot).toEqual([svg, png]);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    const table = formatStitchTable(ins).split('\n');
    expect(table[0]).toMatch(/^with-eval: 6 stitches, latency on cpu batch 1 \(cpu: /);
    // one MACs unit for the table, that of its largest value (these tiny models: kMACs)
    expect(table[1]).toMatch(/^id\s+route\s+kMACs\s+params \(M\)\s+top-1 %\s+p50 ms\s+p95 ms\s+frontier$/);
    expect(table).toHaveLength(8);
  });

  it('skips the plot, with a note, when the package has no accuracy', async () => {
    const ins = await inspectPackage(path.join(dir, 'no-eval'), {
      plot: [{ file: path.join(dir, 'none.svg'), format: 'svg' }],
    });
    expect(ins.plot).toBeUndefined();
    expect(ins.notes[0]).toMatch(/--eval/);
    expect(formatStitchTable(ins).split('\n')[1]).not.toMatch(/p50/);
  });
});
