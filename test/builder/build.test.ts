import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, type BuildResult, type BuildStep } from '../../src/builder/build.js';
import { graphCost } from '../../src/onnx/cost.js';
import { openDataset } from '../../src/data/datasets.js';
import { argmaxRows } from '../../src/builder/evaluate.js';
import { engineRunner } from '../../src/builder/runner.js';
import {
  buildRouteModel,
  decodeModel,
  encodeModel,
  onnx,
  readModel,
  tensorToFloat32,
  type RouteSegment,
  type StitchSpec,
  type VitWeights,
} from '../../src/onnx/index.js';
import { readPackage } from '../../src/package/index.js';
import { tinyConfig, writeFamily, writeIdx } from './family.js';

const dir = mkdtempSync(path.join(tmpdir(), 'stitchnet-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PRE = { scale: 1 / 255, mean: [0.5], std: [0.25] };
let files: string[];
let weights: VitWeights[];
let calib: string;
let evalFile: string;
let result: BuildResult;
const steps: BuildStep[] = [];

/** The stitching layer a stitch piece holds: weight [dimIn, dimOut] and bias. */
function stitchSpec(bytes: Uint8Array): StitchSpec {
  const inits = decodeModel(bytes).graph!.initializer!;
  const weight = inits.find((t) => t.dims!.length === 2)!;
  const bias = inits.find((t) => t.dims!.length === 1)!;
  return { weight: tensorToFloat32(weight), bias: tensorToFloat32(bias) };
}

beforeAll(async () => {
  ({ files, weights } = writeFamily(dir, [
    { name: 'a16', config: tinyConfig(16) },
    { name: 'b24', config: tinyConfig(24) },
    { name: 'c32', config: tinyConfig(32) },
  ]));
  calib = writeIdx(dir, 'calib', 96);
  evalFile = writeIdx(dir, 'eval', 40, 28, 9);
  result = await buildPackage(
    {
      anchors: files,
      out: path.join(dir, 'pkg'),
      calib,
      eval: evalFile,
      preprocess: PRE,
      profile: { provider: 'cpu', batches: [1, 2], warmup: 1, rounds: 3 },
      batchSize: 16,
    },
    (step) => {
      if (steps[steps.length - 1] !== step) steps.push(step);
    },
  );
});

describe('buildPackage on a tiny generated family', () => {
  it('runs every step and writes a package that reads back', async () => {
    expect(steps).toEqual(['prepare', 'parity', 'fit', 'cost', 'evaluate', 'write', 'profile', 'verify']);
    expect(Object.keys(result.timings)).toEqual([
      'prepare',
      'parity',
      'fit',
      'cost',
      'evaluate',
      'write',
      'profile',
      'verify',
    ]);
    const pkg = await readPackage(result.dir);
    const m = pkg.manifest;
    // depth 3: 7 positions and 2 layers per pair.
    expect(m.stitches.map((s) => s.id)).toEqual([...Array(17).keys()]);
    expect(m.stitchLayers.map((l) => l.id)).toEqual(['a16-b24.0', 'a16-b24.1', 'b24-c32.0', 'b24-c32.1']);
    expect(m.stitchLayers.every((l) => l.origin === 'least-squares')).toBe(true);
    expect(m.preprocess).toEqual({ layout: 'NCHW', ...PRE });
    expect(m.evaluation).toEqual({ dataset: 'eval-images-idx3-ubyte', samples: 40 });
    expect(m.frontier.length).toBeGreaterThan(0);
    for (const s of m.stitches) {
      expect(s.accuracy).toBeGreaterThanOrEqual(0);
      expect(s.latency?.cpu?.['1']?.p50Ms).toBeGreaterThan(0);
      expect(s.latency?.cpu?.['2']?.device).toMatch(/^cpu: /);
    }
    expect(Object.values(result.parity).every((d) => d <= 1e-5)).toBe(true);
  });

  it('counts anchors as their whole graphs and stitches as their pieces', async () => {
    const m = result.manifest;
    for (const [i, file] of files.entries()) {
      const whole = graphCost(await readModel(file));
      expect(m.stitches[i]).toMatchObject({ macs: whole.macs, params: whole.params });
    }
    const pkg = await readPackage(result.dir);
    for (const s of m.stitches) {
      const sum = pkg.routePieces(s.id).reduce((acc, p) => acc + m.pieces[p]!.macs!, 0);
      expect(s.macs).toBe(sum);
    }
  });

  it('runs every stitch exactly like the same stitch built as one graph', async () => {
    const pkg = await readPackage(result.dir);
    const m = pkg.manifest;
    const anchorIndex = new Map(m.anchors.map((a, i) => [a.id, i]));
    const runner = engineRunner();
    try {
      for (const id of Object.keys(m.pieces)) await runner.load(id, await pkg.pieceBytes(id));
      const input = { data: Float32Array.from({ length: 3 * 784 }, (_, i) => Math.cos(i)), dims: [3, 1, 28, 28] };
      for (const s of m.stitches) {
        const segments: RouteSegment[] = [];
        const specs: StitchSpec[] = [];
        for (const step of s.route) {
          if ('anchor' in step)
            segments.push({ anchor: anchorIndex.get(step.anchor)!, from: step.blocks[0], to: step.blocks[1] });
          else
            specs.push(stitchSpec(await pkg.pieceBytes(m.stitchLayers.find((l) => l.id === step.stitchLayer)!.piece)));
        }
        await runner.load(`fused:${s.id}`, encodeModel(buildRouteModel(weights, segments, specs)));
        const want = await runner.run([`fused:${s.id}`], input);
        const got = await runner.run(pkg.routePieces(s.id), input);
        const diff = Math.max(...want.data.map((v, i) => Math.abs(v - got.data[i]!)));
        expect(diff, `stitch ${s.id}`).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      await runner.close();
    }
  });

  it('measures accuracy as running each whole route on the evaluation set would', async () => {
    const pkg = await readPackage(result.dir);
    const m = pkg.manifest;
    const data = await openDataset(evalFile, { shape: m.input.shape, preprocess: m.preprocess! });
    const runner = engineRunner();
    try {
      for (const id of Object.keys(m.pieces)) await runner.load(id, await pkg.pieceBytes(id));
      for (const s of m.stitches) {
        const out = await runner.run(pkg.routePieces(s.id), {
          data: data.batch(0, data.size),
          dims: [data.size, 1, 28, 28],
        });
        const hits = argmaxRows(out.data, 10).filter((c, i) => c === data.labels![i]).length;
        expect(s.accuracy, `stitch ${s.id}`).toBe(hits / data.size);
      }
    } finally {
      await runner.close();
    }
  });

  it('builds SN-Netv2 routes from a stitch-weights file instead of fitting', async () => {
    const layers = ['a16-b24.0', 'a16-b24.1', 'b24-a16.0', 'b24-a16.1'];
    const weightsFile = path.join(dir, 'weights.json');
    const layer = (from: string, to: string, index: number, dimIn: number, dimOut: number) => ({
      from,
      to,
      index,
      dimIn,
      dimOut,
      weight: Array.from({ length: dimIn }, (_, i) => Array.from({ length: dimOut }, (_, o) => (i === o ? 1 : 0))),
      bias: Array.from({ length: dimOut }, () => 0.5),
    });
    writeFileSync(
      weightsFile,
      JSON.stringify({
        format: 'stitchnet-stitch-weights/1',
        layers: [
          layer('a16', 'b24', 0, 16, 24),
          layer('a16', 'b24', 1, 16, 24),
          layer('b24', 'a16', 0, 24, 16),
          layer('b24', 'a16', 1, 24, 16),
        ],
      }),
    );
    const r = await buildPackage({
      anchors: files.slice(0, 2),
      out: path.join(dir, 'v2'),
      routes: 'v2',
      stitchWeights: weightsFile,
    });
    const m = r.manifest;
    // 2 anchors, SL 0-1 (SL 2 would resume after the last block), LS 0-1, one LSL, one SLS.
    expect(m.stitches.map((s) => s.id)).toEqual([0, 1, 2, 3, 5, 6, 7, 8]);
    expect(m.build?.notRunnable).toEqual([4]);
    expect(m.stitchLayers.map((l) => [l.id, l.origin])).toEqual(layers.map((id) => [id, 'trained']));
    const piece = await (await readPackage(r.dir)).pieceBytes('b24-a16.1');
    const spec = stitchSpec(piece);
    expect(spec.weight[0]).toBe(1);
    expect(spec.weight[1]).toBe(0);
    expect(spec.bias[3]).toBe(0.5);
    expect(m.frontier).toEqual([]);
  });
});

describe('buildPackage refuses bad input before any long work', () => {
  const attempt = async (opts: Partial<Parameters<typeof buildPackage>[0]>) => {
    const seen: BuildStep[] = [];
    const run = buildPackage({ anchors: files, out: path.join(dir, 'never'), calib, ...opts }, (s) => seen.push(s));
    await expect(run).rejects.toThrow();
    expect(seen.every((s) => s === 'prepare')).toBe(true);
    return run.then(
      () => new Error('resolved') as Error & { code: string },
      (e: unknown) => e as Error & { code: string },
    );
  };

  it('anchors not listed smallest first', async () => {
    const e = await attempt({ anchors: [files[1]!, files[0]!, files[2]!] });
    expect(e.code).toBe('BUILD_ANCHORS_INVALID');
    expect(e.message).toMatch(/smallest first/);
  });

  it('anchors of different architectures', async () => {
    const other = writeFamily(path.join(dir), [{ name: 'wide-image', config: { ...tinyConfig(40), imageSize: 14 } }])
      .files[0]!;
    const e = await attempt({ anchors: [files[0]!, other] });
    expect(e.code).toBe('BUILD_ANCHORS_INVALID');
    expect(e.message).toMatch(/not one architecture/);
  });

  it('a calibration set of the wrong shape', async () => {
    const e = await attempt({ calib: writeIdx(dir, 'small', 8, 14) });
    expect(e.code).toBe('BUILD_DATA_INVALID');
    expect(e.message).toMatch(/\[14, 14\].*\[1, 28, 28\]/);
  });

  it('an unlabelled or empty evaluation set', async () => {
    const unlabelled = path.join(dir, 'unlabelled');
    writeFileSync(
      unlabelled,
      new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28, ...new Uint8Array(784)]),
    );
    expect((await attempt({ eval: unlabelled })).message).toMatch(/no labels/);
    expect((await attempt({ eval: writeIdx(dir, 'empty', 0) })).message).toMatch(/empty/);
  });

  it('boundaries that cannot be found', async () => {
    const model = await readModel(files[0]!);
    const anon = onnx.ModelProto.decode(encodeModel(model));
    anon.graph!.node!.forEach((n, i) => (n.name = `n${i}`));
    const file = path.join(dir, 'anon.onnx');
    writeFileSync(file, encodeModel(anon));
    const e = await attempt({ anchors: [file, files[1]!] });
    expect(e.code).toBe('BUILD_BOUNDARY_NOT_FOUND');
    expect(e.message).toMatch(/anon\.onnx/);
  });

  it('an output folder that cannot be written', async () => {
    const blocker = path.join(dir, 'a-file');
    writeFileSync(blocker, 'x');
    const e = await attempt({ out: path.join(blocker, 'pkg') });
    expect(e.code).toBe('OPTION_INVALID');
    expect(e.message).toMatch(/Cannot write the package/);
  });

  it('missing calibration and bad options', async () => {
    expect((await attempt({ calib: undefined })).message).toMatch(/calibration set/);
    expect((await attempt({ routes: 'v3' as 'v1' })).message).toMatch(/routes mode/);
    expect((await attempt({ profile: { provider: 'cpu', batches: [0] } })).message).toMatch(/Batch sizes/);
    const external = await attempt({ externalData: 'some' as 'all' });
    expect(external.message).toMatch(/external-data mode/);
    expect((external as { validValues?: unknown }).validValues).toEqual(['auto', 'all', 'none']);
  });
});
