import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../../src/package/schema.js';
import { makeFixture } from './fixture.js';
import { cli } from './helpers.js';

/**
 * Builds the fixture family into `<dir>/plain` (costs and CPU latency measured, no accuracy) and a
 * copy `<dir>/designed` whose manifest has designed accuracies: rising with MACs from 70 % to 95 %,
 * with the most accurate stitch of each cost on the frontier. Random weights give random
 * accuracies and often a one-stitch frontier; the designed copy gives the policy a real
 * trade-off to make. Piece files are untouched, so the package still reads and verifies.
 */
export async function figuresFixture(dir: string): Promise<{ plain: string; designed: string }> {
  const fx = await makeFixture(dir);
  const plain = path.join(dir, 'plain');
  const r = await cli([
    'build',
    '--anchors',
    ...fx.anchors,
    '--calib',
    fx.calib,
    '--calib-samples',
    '100',
    '--profile',
    'cpu',
    '--warmup',
    '1',
    '--rounds',
    '3',
    '--threads',
    '1',
    '--out',
    plain,
    '--json',
  ]);
  if (r.code !== 0) throw new Error(`build failed: ${r.stderr}`);
  const designed = path.join(dir, 'designed');
  await cp(plain, designed, { recursive: true });
  const file = path.join(designed, 'stitchnet.json');
  const m = JSON.parse(await readFile(file, 'utf8')) as Manifest;
  const byCost = [...m.stitches].sort((a, b) => (a.macs ?? 0) - (b.macs ?? 0) || a.id - b.id);
  byCost.forEach((s, i) => {
    s.accuracy = 0.7 + (0.25 * i) / (byCost.length - 1);
  });
  m.frontier = byCost.filter((s, i) => byCost[i + 1]?.macs !== s.macs).map((s) => s.id);
  m.evaluation = { dataset: 'designed', samples: 1 };
  m.name = 'designed';
  await writeFile(file, JSON.stringify(m, null, 2));
  return { plain, designed };
}
