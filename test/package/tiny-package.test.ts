import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRouteModel, encodeModel } from '../../src/onnx/index.js';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import { makeTinyPackage, type TinyPackage } from '../helpers/tiny-package.js';

let root: string;
let tiny: TinyPackage;
let pkg: StitchPackage;
const sessions = new Map<string, ort.InferenceSession>();
const options: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
};

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'stitchnet-tiny-'));
  tiny = await makeTinyPackage(path.join(root, 'tiny'));
  pkg = await readPackage(tiny.dir);
});
afterAll(async () => {
  for (const s of sessions.values()) await s.release();
  await rm(root, { recursive: true, force: true });
});

async function session(pieceId: string): Promise<ort.InferenceSession> {
  let s = sessions.get(pieceId);
  if (!s) {
    s = await ort.InferenceSession.create(await pkg.pieceBytes(pieceId), options);
    sessions.set(pieceId, s);
  }
  return s;
}

function image(batch: number): ort.Tensor {
  const data = Float32Array.from({ length: batch * 28 * 28 }, (_, i) => Math.sin(i * 0.37));
  return new ort.Tensor('float32', data, [batch, 1, 28, 28]);
}

describe('makeTinyPackage', () => {
  it('writes a 3-anchor family with Ti→S and S→B stitches in SN-Net order', () => {
    expect(tiny.manifest.anchors.map((a) => [a.id, a.dim, a.depth])).toEqual([
      ['a0', 32, 4],
      ['a1', 48, 4],
      ['a2', 64, 4],
    ]);
    expect(tiny.stitches.map((s) => s.id)).toEqual(tiny.manifest.stitches.map((s) => s.id));
    expect(tiny.stitches.slice(3).map((s) => [s.segments.map((g) => g.anchor), s.position])).toEqual([
      [
        [0, 1],
        [0, 1],
      ],
      [
        [0, 1],
        [1, 1],
      ],
      [
        [0, 1],
        [2, 3],
      ],
      [
        [1, 2],
        [0, 1],
      ],
      [
        [1, 2],
        [1, 1],
      ],
      [
        [1, 2],
        [2, 3],
      ],
    ]);
  });

  it('every route chained piece by piece equals the same route built whole by buildRouteModel', async () => {
    const x = image(2);
    for (const stitch of tiny.stitches) {
      let value = x;
      for (const id of pkg.routePieces(stitch.id)) {
        const s = await session(id);
        value = (await s.run({ [s.inputNames[0]!]: value }))[s.outputNames[0]!] as ort.Tensor;
      }
      const whole = await ort.InferenceSession.create(
        encodeModel(
          buildRouteModel(
            tiny.anchors.map((a) => a.weights),
            stitch.segments,
            stitch.layers,
          ),
        ),
        options,
      );
      const expected = (await whole.run({ input: x })).logits as ort.Tensor;
      await whole.release();
      expect(value.dims).toEqual([2, 10]);
      const got = value.data as Float32Array;
      const want = expected.data as Float32Array;
      const diff = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)));
      expect(diff, `stitch ${stitch.id}`).toBeLessThanOrEqual(1e-5);
    }
  });
});
