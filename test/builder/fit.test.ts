import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/datasets.js';
import { enumerateStitches } from '../../src/builder/enumerate.js';
import { captureStream, fitStitchLayers, type AnchorPieces } from '../../src/builder/fit.js';
import { averageLinearMaps, fitLinearMap } from '../../src/builder/lstsq.js';
import type { Batch, PieceRunner } from '../../src/builder/runner.js';
import { formatStitchWeights, readStitchWeights } from '../../src/builder/stitch-weights.js';
import { rng, uniform } from './helpers.js';

const TOKENS = 3;
const IN = 5;

/** Fake anchors whose pieces are small fixed nonlinear maps, so every block output differs. */
function fakeRunner(dims: Record<string, number>): PieceRunner {
  const mats = new Map<string, Float32Array>();
  const matrix = (key: string, rows: number, cols: number) => {
    // A seed per key (FNV-1a of the name), so each piece has its own fixed matrix.
    const seed = [...key].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 16777619), 2166136261);
    if (!mats.has(key)) mats.set(key, uniform(rng(seed), rows * cols));
    return mats.get(key)!;
  };
  const apply = (x: Float32Array, rows: number, dIn: number, dOut: number, W: Float32Array) => {
    const y = new Float32Array(rows * dOut);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < dOut; o++) {
        let s = 0;
        for (let i = 0; i < dIn; i++) s += x[r * dIn + i]! * W[i * dOut + o]!;
        y[r * dOut + o] = Math.tanh(s);
      }
    return y;
  };
  return {
    load: async () => {},
    close: async () => {},
    async run(pieces: readonly string[], input: Batch): Promise<Batch> {
      const [piece] = pieces;
      const [anchor, kind] = piece!.split('.');
      const d = dims[anchor!]!;
      const n = input.dims[0]!;
      if (kind === 'embed') {
        // [n, IN] → [n, TOKENS, d]: each token its own projection of the input.
        const out = new Float32Array(n * TOKENS * d);
        for (let t = 0; t < TOKENS; t++) {
          const y = apply(input.data, n, IN, d, matrix(`${piece}:${t}`, IN, d));
          for (let r = 0; r < n; r++) out.set(y.subarray(r * d, (r + 1) * d), (r * TOKENS + t) * d);
        }
        return { data: out, dims: [n, TOKENS, d] };
      }
      return { data: apply(input.data, n * TOKENS, d, d, matrix(piece!, d, d)), dims: input.dims };
    },
  };
}

function dataset(size: number): Dataset {
  const x = uniform(rng(11), size * IN, -2, 2);
  return { name: 'fake', size, sampleShape: [IN], batch: (start, count) => x.slice(start * IN, (start + count) * IN) };
}

describe('fitting stitching layers from captured activations', () => {
  const dims = { f: 4, e: 6 };
  const anchors: AnchorPieces[] = [
    { id: 'f', dim: 4, embed: 'f.embed', blocks: ['f.block.0', 'f.block.1', 'f.block.2'] },
    { id: 'e', dim: 6, embed: 'e.embed', blocks: ['e.block.0', 'e.block.1', 'e.block.2'] },
  ];

  it('fits source = front block j output, target = end input to block k, and averages shared layers', async () => {
    const runner = fakeRunner(dims);
    const data = dataset(50);
    const plan = enumerateStitches([
      { id: 'f', depth: 3 },
      { id: 'e', depth: 3 },
    ]);
    const batches: number[] = [];
    const fitted = await fitStitchLayers(plan.layers, anchors, data, runner, {
      batchSize: 16,
      onBatch: (d) => batches.push(d),
    });
    expect(batches).toEqual([1, 2, 3, 4]);
    // The reference: whole-set streams, fitted per position directly, then averaged.
    const input = { data: data.batch(0, 50), dims: [50, IN] };
    const f = await captureStream(runner, anchors[0]!, input);
    const e = await captureStream(runner, anchors[1]!, input);
    for (const layer of plan.layers) {
      const want = averageLinearMaps(layer.positions.map(([j, k]) => fitLinearMap(f[j + 1]!.data, e[k]!.data, 4, 6)));
      const got = fitted.get(layer.id)!;
      expect(Math.max(...got.weight.map((v, i) => Math.abs(v - want.weight[i]!)))).toBeLessThan(1e-4);
      expect(Math.max(...got.bias.map((v, i) => Math.abs(v - want.bias[i]!)))).toBeLessThan(1e-4);
    }
  });
});

describe('stitch-weights files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'stitchnet-weights-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const plan = enumerateStitches([
    { id: 'f', depth: 2 },
    { id: 'e', depth: 2 },
  ]);
  const dims = new Map([
    ['f', 2],
    ['e', 3],
  ]);
  const map = { dimIn: 2, dimOut: 3, weight: Float32Array.of(1, 2, 3, 4, 5, 6), bias: Float32Array.of(7, 8, 9) };
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('round-trips through the file format', async () => {
    expect(plan.layers.map((l) => l.id)).toEqual(['f-e.0']);
    const file = write('ok.json', formatStitchWeights([{ layer: plan.layers[0]!, map }]));
    const read = await readStitchWeights(file, plan.layers, dims);
    expect(read.get('f-e.0')).toEqual(map);
  });

  it('accepts a producer id and the positions the layer was trained for, and checks the positions', async () => {
    const good = JSON.parse(formatStitchWeights([{ layer: plan.layers[0]!, map }])) as {
      layers: Record<string, unknown>[];
    };
    const positions = plan.layers[0]!.positions;
    const withMeta = (ps: unknown) =>
      JSON.stringify({ ...good, layers: [{ ...good.layers[0], id: 'f-e-0', positions: ps }] });
    const read = await readStitchWeights(write('meta.json', withMeta([...positions].reverse())), plan.layers, dims);
    expect(read.get('f-e.0')).toEqual(map);
    await expect(readStitchWeights(write('pos.json', withMeta([[5, 5]])), plan.layers, dims)).rejects.toMatchObject({
      code: 'BUILD_STITCH_WEIGHTS_INVALID',
      field: 'layers[0].positions',
    });
  });

  it('names the file and field of a bad entry', async () => {
    const good = JSON.parse(formatStitchWeights([{ layer: plan.layers[0]!, map }])) as {
      layers: Record<string, unknown>[];
    };
    const variant = (patch: Record<string, unknown>) =>
      JSON.stringify({ ...good, layers: [{ ...good.layers[0], ...patch }] });
    const fails = (name: string, text: string) =>
      expect(readStitchWeights(write(name, text), plan.layers, dims)).rejects;
    await fails('json.json', '{').toThrow(/Cannot read stitch weights.*json\.json/);
    await fails('fmt.json', JSON.stringify({ ...good, format: 'other' })).toThrow(/malformed.*field format/);
    await fails('unknown.json', variant({ index: 4 })).toThrow(/f→e #4 is not a stitching layer/);
    await fails('dims.json', variant({ dimOut: 4 })).toThrow(/2→4, but the anchors are 2→3/);
    await fails('rows.json', variant({ weight: [[1, 2, 3]] })).toThrow(/field layers\[0\]\.weight/);
    await fails('bias.json', variant({ bias: [1] })).toThrow(/bias must have 3/);
    await fails('missing.json', JSON.stringify({ ...good, layers: [] })).toThrow(/lack 1 layer/);
    await fails('twice.json', JSON.stringify({ ...good, layers: [good.layers[0], good.layers[0]] })).toThrow(
      /given twice/,
    );
  });
});
