import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll } from 'vitest';
import type { Manifest } from '../../src/package/schema.js';
import { buildArgs, makeFixture } from './fixture.js';
import { cli, useTempDir } from './helpers.js';

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
  const r = await cli(buildArgs(fx, plain, { '--calib-samples': '100' }));
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

/**
 * {@link figuresFixture} in a temp folder for the tests of one file (made in `beforeAll`, removed
 * in `afterAll`); read `dir`, `plain` and `designed` inside tests and hooks.
 */
export function useFiguresFixture(prefix: string): {
  readonly dir: string;
  readonly plain: string;
  readonly designed: string;
} {
  const tmp = useTempDir(prefix);
  let built: { plain: string; designed: string } | undefined;
  beforeAll(async () => {
    built = await figuresFixture(tmp.dir);
  });
  const ready = () => {
    if (!built) throw new Error('the figures fixture is built in beforeAll: use it inside a test or a hook');
    return built;
  };
  return {
    get dir() {
      return tmp.dir;
    },
    get plain() {
      return ready().plain;
    },
    get designed() {
      return ready().designed;
    },
  };
}
