/**
 * Every route of a tiny 3-anchor ViT family, run by the runtime piece by piece (and fused), gives
 * the logits of the same route built independently as one graph by the ViT generator.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRouteModel, encodeModel } from '../../src/onnx/index.js';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import { OrtSession } from '../../src/engine/ort.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { makeTinyPackage, type TinyPackage } from '../helpers/tiny-package.js';

const BATCHES = [1, 4];
const SAMPLE = 28 * 28;
let dir: string;
let tiny: TinyPackage;
let pkg: StitchPackage;
/** reference[stitch][batch] */
const reference = new Map<number, Map<number, Float32Array>>();

function input(batch: number): Float32Array {
  return Float32Array.from({ length: batch * SAMPLE }, (_, i) => Math.sin(i * 0.731) * 0.8 + Math.cos(i * 0.013) * 0.3);
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function expectStitch(
  out: { logits: Float32Array; dims: number[]; stitch: number },
  stitch: number,
  batch: number,
): void {
  expect(out.stitch).toBe(stitch);
  expect(out.dims).toEqual([batch, 10]);
  expect(maxDiff(out.logits, reference.get(stitch)?.get(batch) as Float32Array)).toBeLessThanOrEqual(1e-5);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-routes-'));
  // Cut points with k > j, k = j and k < j, for both neighbouring pairs: 3 anchors + 10 stitches.
  tiny = await makeTinyPackage(path.join(dir, 'tiny'), {
    positions: [
      [0, 1],
      [1, 1],
      [2, 3],
      [2, 1],
      [3, 0],
    ],
  });
  pkg = await readPackage(tiny.dir);
  for (const s of tiny.stitches) {
    const whole = buildRouteModel(
      tiny.anchors.map((a) => a.weights),
      s.segments,
      s.layers,
    );
    const session = await OrtSession.create(
      encodeModel(whole),
      { provider: 'cpu', threads: { intraOp: 1, interOp: 1 } },
      `route ${s.id}`,
    );
    const byBatch = new Map<number, Float32Array>();
    for (const batch of BATCHES) {
      const y = await session.run(session.tensor(input(batch), [batch, 1, 28, 28]), `route ${s.id}`);
      byBatch.set(batch, new Float32Array(y.data as Float32Array));
    }
    reference.set(s.id, byBatch);
    await session.release();
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

for (const worker of [true, false]) {
  describe(`routes (worker: ${worker})`, () => {
    let rt: StitchRuntime;
    beforeAll(async () => {
      rt = await StitchRuntime.create({
        model: pkg,
        providers: ['cpu'],
        worker,
        threads: { intraOp: 1 },
        fastPath: { afterRuns: 1e9, cacheSize: 2 },
      });
    });
    afterAll(async () => {
      await rt.close();
    });

    it('runs every route like the route built as one graph, at batch 1 and 4', async () => {
      expect(pkg.manifest.stitches).toHaveLength(13);
      // The routes really differ, so running the wrong one could not pass.
      const b1 = [...reference.values()].map((r) => r.get(1) as Float32Array);
      for (let i = 0; i < b1.length; i++)
        for (let j = i + 1; j < b1.length; j++)
          expect(maxDiff(b1[i] as Float32Array, b1[j] as Float32Array)).toBeGreaterThan(1e-3);
      for (const s of pkg.manifest.stitches) {
        for (const batch of BATCHES) {
          const out = await rt.run(input(batch), { stitch: s.id });
          expect(out.path).toBe('route');
          expectStitch(out, s.id, batch);
        }
      }
    });

    it('switches between 10 routes in a loop and always runs the active one', async () => {
      const ids = pkg.manifest.stitches.slice(3).map((s) => s.id);
      expect(ids).toHaveLength(10);
      for (let i = 0; i < 40; i++) {
        const id = ids[(i * 7) % ids.length] as number;
        rt.setStitch(id);
        expect(rt.stitch).toBe(id);
        const batch = BATCHES[i % 2] as number;
        expectStitch(await rt.run(input(batch)), id, batch);
      }
    });

    it('finishes a run in flight on the route it started with', async () => {
      const ids = pkg.manifest.stitches.map((s) => s.id);
      const runs: Promise<{ logits: Float32Array; dims: number[]; stitch: number }>[] = [];
      const expected: number[] = [];
      for (let i = 0; i < 26; i++) {
        const id = ids[(i * 5) % ids.length] as number;
        rt.setStitch(id);
        runs.push(rt.run(input(1)));
        expected.push(id);
      }
      const outs = await Promise.all(runs);
      outs.forEach((out, i) => expectStitch(out, expected[i] as number, 1));
    });

    it('gives the same logits on the fused path, with the least recently used fused route evicted', async () => {
      const ids = [4, 9, 12];
      for (const id of ids) {
        await rt.fuse(id);
        for (const batch of BATCHES) {
          const out = await rt.run(input(batch), { stitch: id });
          expect(out.path).toBe('fused');
          expectStitch(out, id, batch);
        }
      }
      // The cache holds 2: stitch 4 went first and runs piece by piece again, still correctly.
      const first = await rt.run(input(1), { stitch: 4 });
      expect(first.path).toBe('route');
      expectStitch(first, 4, 1);
      expect((await rt.run(input(1), { stitch: 12 })).path).toBe('fused');
    });
  });
}
