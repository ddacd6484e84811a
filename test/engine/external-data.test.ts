/**
 * A family whose pieces keep their weights as ONNX external data runs exactly like the same
 * family with the weights inside the pieces: onnxruntime loads each piece from its file and maps
 * the data file next to it; fusing reads the pieces self-contained.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import { pieceSource } from '../../src/engine/pieces.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

const SAMPLE = 28 * 28;
let dir: string;
let inline: StitchPackage;
let external: StitchPackage;

function input(batch: number): Float32Array {
  return Float32Array.from({ length: batch * SAMPLE }, (_, i) => Math.sin(i * 0.417) * 0.9 + Math.cos(i * 0.029) * 0.2);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-extdata-ort-'));
  inline = await readPackage((await makeTinyPackage(path.join(dir, 'inline'), { externalData: 'none' })).dir);
  external = await readPackage((await makeTinyPackage(path.join(dir, 'external'), { externalData: 'all' })).dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pieces with external data in onnxruntime', () => {
  it('every piece of the test family has its data file, and is handed to onnxruntime as a file', async () => {
    const pieces = Object.entries(external.manifest.pieces);
    expect(pieces.every(([, p]) => p.data !== undefined)).toBe(true);
    for (const [id] of pieces) expect(await pieceSource(external, id)).toHaveProperty('file', external.piecePath(id));
  });

  for (const worker of [false, true]) {
    it(`gives bit-identical logits to the inline family on every route and when fused (worker: ${worker})`, async () => {
      const options = {
        providers: ['cpu' as const],
        worker,
        threads: { intraOp: 1 },
        fastPath: { afterRuns: 1e9, cacheSize: 2 },
      };
      const a = await StitchRuntime.create({ ...options, model: inline });
      const b = await StitchRuntime.create({ ...options, model: external });
      try {
        for (const s of external.manifest.stitches) {
          for (const batch of [1, 3]) {
            const x = input(batch);
            const want = await a.run(x, { stitch: s.id });
            const got = await b.run(x, { stitch: s.id });
            expect(got.path).toBe('route');
            expect(got.dims).toEqual([batch, 10]);
            expect(got.logits).toEqual(want.logits);
          }
        }
        const id = external.manifest.stitches.at(-1)?.id as number;
        await a.fuse(id);
        await b.fuse(id);
        const want = await a.run(input(2), { stitch: id });
        const got = await b.run(input(2), { stitch: id });
        expect(got.path).toBe('fused');
        expect(got.logits).toEqual(want.logits);
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  it('with prepackWeights: false (weights left file-backed) gives the same logits within float rounding', async () => {
    const options = { providers: ['cpu' as const], worker: false, threads: { intraOp: 1 }, fastPath: false as const };
    const a = await StitchRuntime.create({ ...options, model: inline });
    const b = await StitchRuntime.create({ ...options, model: external, prepackWeights: false });
    try {
      for (const s of external.manifest.stitches) {
        const want = await a.run(input(2), { stitch: s.id });
        const got = await b.run(input(2), { stitch: s.id });
        const worst = Math.max(...got.logits.map((v, i) => Math.abs(v - (want.logits[i] as number))));
        expect(worst).toBeLessThan(1e-4);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
