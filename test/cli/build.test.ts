import { existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { enumerateStitches } from '../../src/builder/index.js';
import { stepReporter, type ProgressStream } from '../../src/cli/commands/build.js';
import { readPackage } from '../../src/package/index.js';
import { buildArgs, makeFixture, DEPTH, V1_LAYERS, V1_STITCHES, type Fixture } from './fixture.js';
import { cli, useTempDir } from './helpers.js';

const tmp = useTempDir('stitchnet-build-');
let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture(tmp.dir);
});

interface BuildJson {
  dir: string;
  routes: string;
  anchors: { id: string; dim: number; depth: number; parityMaxAbsDiff: number }[];
  stitches: number;
  stitchLayers: number;
  frontier: number[];
  evaluation: { dataset: string; samples: number } | null;
  profiled: { provider: string; batches: number[] }[];
  timingsMs: Record<string, number>;
  totalMs: number;
}

const STEPS = ['prepare', 'parity', 'fit', 'cost', 'evaluate', 'write', 'profile', 'verify'];

describe('stitchnet build', () => {
  it('builds, evaluates and profiles a tiny family; --json is the only thing on stdout', async () => {
    const out = path.join(tmp.dir, 'pkg');
    const r = await cli(
      buildArgs(fx, out, {
        '--calib-samples': '200',
        '--eval': fx.eval,
        '--eval-samples': '100',
        '--scale': '1/255',
        '--mean': '0.5',
        '--std': '0.5',
        '--batch': '1',
      }),
    );
    expect(
      r.stderr
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/: \d+\.\d s$/, '')),
    ).toEqual(STEPS);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as BuildJson;

    const pkg = await readPackage(out);
    expect(report.dir).toBe(pkg.dir);
    expect(report.stitches).toBe(V1_STITCHES);
    expect(pkg.manifest.stitches.map((s) => s.id)).toEqual(Array.from({ length: V1_STITCHES }, (_, i) => i));
    expect(report.stitchLayers).toBe(V1_LAYERS);
    expect(report.routes).toBe('v1');
    expect(report.anchors.map((a) => [a.dim, a.depth])).toEqual([
      [16, DEPTH],
      [24, DEPTH],
      [32, DEPTH],
    ]);
    for (const a of report.anchors) expect(a.parityMaxAbsDiff).toBeLessThanOrEqual(1e-5);
    expect(report.frontier.length).toBeGreaterThan(0);
    expect(report.frontier).toEqual(pkg.manifest.frontier);
    expect(report.evaluation).toEqual({ dataset: 'eval-images-idx3-ubyte', samples: 100 });
    expect(report.profiled).toEqual([{ provider: 'cpu', batches: [1] }]);
    expect(Object.keys(report.timingsMs)).toEqual(STEPS);
    expect(pkg.manifest.preprocess).toMatchObject({ scale: 1 / 255, mean: [0.5], std: [0.5] });
    for (const s of pkg.manifest.stitches) {
      expect(s.accuracy).toBeGreaterThanOrEqual(0);
      expect(s.latency?.cpu?.['1']?.p50Ms).toBeGreaterThan(0);
    }
  });

  it('builds SN-Netv2 routes with --routes v2 and prints a human summary without --json', async () => {
    const out = path.join(tmp.dir, 'pkg-v2');
    const r = await cli([
      'build',
      '--anchors',
      ...fx.anchors.slice(0, 2),
      '--ids',
      's,l',
      '--calib',
      fx.calib,
      '--calib-samples',
      '64',
      '--routes',
      'v2',
      '--threads',
      '1',
      '--external-data',
      'all',
      '--profile',
      'cpu',
      '--warmup',
      '0',
      '--rounds',
      '2',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const runnable = enumerateStitches(
      [
        { id: 's', depth: DEPTH },
        { id: 'l', depth: DEPTH },
      ],
      'v2',
    ).stitches.filter((s) => s.runnable);
    const pkg = await readPackage(out);
    expect(pkg.manifest.stitches).toHaveLength(runnable.length);
    expect(pkg.manifest.anchors.map((a) => a.id)).toEqual(['s', 'l']);
    // --external-data all: every piece with a tensor of 1 KiB or more has its data file.
    expect(Object.values(pkg.manifest.pieces).filter((p) => p.data).length).toBeGreaterThan(0);
    // --profile: the latency lands in the manifest the pieces were written with (data files included).
    expect(pkg.manifest.stitches.every((s) => s.latency?.cpu?.['1'] !== undefined)).toBe(true);
    expect(r.stdout).toContain(`${runnable.length} stitches from 2 anchors`);
    expect(r.stdout).toContain('routes v2');
    expect(r.stdout).toMatch(/stitchnet inspect /);
    expect(
      r.stderr
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':')[0]),
    ).toEqual(['prepare', 'parity', 'fit', 'cost', 'write', 'profile', 'verify']);
  });

  it('rejects a bad --routes value with exit code 2, the option and the valid values', async () => {
    const out = path.join(tmp.dir, 'never');
    const r = await cli(['build', '--anchors', ...fx.anchors, '--calib', fx.calib, '--routes', 'v3', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--routes');
    expect(r.stderr).toContain('"v1", "v2"');
    expect(r.stderr).toContain('OPTION_INVALID');
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('names a missing anchor file and exits 1', async () => {
    const missing = path.join(tmp.dir, 'family', 'missing.onnx');
    const r = await cli([
      'build',
      '--anchors',
      fx.anchors[0] as string,
      missing,
      '--calib',
      fx.calib,
      '--out',
      path.join(tmp.dir, 'never2'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toContain('ONNX_IO_FAILED');
    expect(r.stderr).toMatch(/prepare: failed after/);
  });

  it('refuses option combinations that cannot work, with exit code 2', async () => {
    const base = ['build', '--anchors', ...fx.anchors, '--calib', fx.calib, '--out', path.join(tmp.dir, 'never3')];
    const mean = await cli([...base, '--mean', '0.5']);
    expect(mean.code).toBe(2);
    expect(mean.stderr).toMatch(/--mean was given without --std/);
    const batch = await cli([...base, '--batch', '1,8']);
    expect(batch.code).toBe(2);
    expect(batch.stderr).toMatch(/--batch only applies when profiling/);
    const calib = await cli(['build', '--anchors', ...fx.anchors, '--out', path.join(tmp.dir, 'never4')]);
    expect(calib.code).toBe(2);
    expect(calib.stderr).toContain('--calib');
    const external = await cli([...base, '--external-data', 'some']);
    expect(external.code).toBe(2);
    expect(external.stderr).toContain('--external-data');
  });
});

/** A stream that records what is written to it, posing as a terminal or not. */
function recorder(tty: boolean): { stream: ProgressStream; text: () => string } {
  const stream = new PassThrough() as PassThrough & ProgressStream;
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  if (tty) Object.assign(stream, { isTTY: true, columns: 120 });
  return { stream, text: () => chunks.join('') };
}

describe('build progress', () => {
  it('prints one line per finished step when not on a terminal, and marks a failed one', async () => {
    const { stream, text } = recorder(false);
    const r = stepReporter(stream);
    r.progress('prepare', 0, 3);
    r.progress('prepare', 3, 3);
    r.progress('fit', 0, 4);
    r.progress('fit', 2, 4);
    r.close(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(text()).toMatch(/^prepare: \d+\.\d s\nfit: failed after \d+\.\d s\n$/);
  });

  it('draws a bar with an ETA per step on a terminal', async () => {
    const { stream, text } = recorder(true);
    const r = stepReporter(stream);
    r.progress('evaluate', 0, 4);
    r.progress('evaluate', 4, 4);
    r.progress('write', 0, 1);
    r.close();
    await new Promise((resolve) => setImmediate(resolve));
    const out = text();
    expect(out).toMatch(/evaluate .*100% \| 4\/4 \| ETA/);
    expect(out).toMatch(/write .*0% \| 0\/1 \| ETA --/);
    expect(out).not.toMatch(/evaluate: \d/);
  });
});
