import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import {
  type Model,
  type RouteSegment,
  type StitchSpec,
  type VitConfig,
  type VitWeights,
  buildRouteModel,
  buildVitModel,
  composeModels,
  extractSubgraph,
  graphInputs,
  graphOutputs,
  linearModel,
  randomVitWeights,
  toNumber,
  vitBoundaries,
} from '../../src/onnx/index.js';
import { maxAbsDiff, randomData, run1, session, tensor } from './helpers.js';

const base = { imageSize: 28, patchSize: 7, channels: 1, depth: 4, mlpRatio: 4, classes: 10 };
const configs: VitConfig[] = [
  { ...base, dim: 32, heads: 2 },
  { ...base, dim: 48, heads: 2 },
  { ...base, dim: 64, heads: 4 },
];
const anchors: VitWeights[] = configs.map((c, i) => randomVitWeights(c, 100 + i));
const bounds = vitBoundaries(base.depth);
const images = randomData(3 * 28 * 28, 7);
const image0 = images.subarray(0, 28 * 28);

interface AnchorSessions {
  whole: ort.InferenceSession;
  embed: ort.InferenceSession;
  blocks: ort.InferenceSession[];
  head: ort.InferenceSession;
}
const pieces: Model[][] = [];
const sessions: AnchorSessions[] = [];
const opened: ort.InferenceSession[] = [];

async function open(m: Model): Promise<ort.InferenceSession> {
  const s = await session(m);
  opened.push(s);
  return s;
}

/** embed, block 0..depth-1, head pieces of one anchor, by the boundary names, with inputs 'x'/outputs 'y'. */
function cut(whole: Model): Model[] {
  const { embedOut, blockOut, headIn } = bounds;
  const embed = extractSubgraph(whole, {
    inputs: ['input'],
    outputs: [embedOut],
    rename: { input: 'x', [embedOut]: 'y' },
    name: 'embed',
  });
  const blocks = blockOut.map((out, i) => {
    const from = i === 0 ? embedOut : (blockOut[i - 1] as string);
    return extractSubgraph(whole, {
      inputs: [from],
      outputs: [out],
      rename: { [from]: 'x', [out]: 'y' },
      name: `block.${i}`,
    });
  });
  const head = extractSubgraph(whole, {
    inputs: [headIn],
    outputs: ['logits'],
    rename: { [headIn]: 'x', logits: 'y' },
    name: 'head',
  });
  return [embed, ...blocks, head];
}

async function chain(steps: ort.InferenceSession[], x: ort.Tensor): Promise<Float32Array> {
  let v = x;
  for (const s of steps) v = await run1(s, v);
  return v.data as Float32Array;
}

function stitch(dimIn: number, dimOut: number, seed: number): StitchSpec {
  const weight = randomData(dimIn * dimOut, seed).map((v) => v / Math.sqrt(dimIn));
  return { weight, bias: randomData(dimOut, seed + 1).map((v) => v * 0.1) };
}

beforeAll(async () => {
  for (const w of anchors) {
    const whole = buildVitModel(w);
    const ps = cut(whole);
    pieces.push(ps);
    const opened = await Promise.all([whole, ...ps].map(open));
    const [wholeS, embed, ...rest] = opened;
    sessions.push({ whole: wholeS!, embed: embed!, blocks: rest.slice(0, -1), head: rest[rest.length - 1]! });
  }
});

afterAll(async () => {
  await Promise.all(opened.map((s) => s.release()));
});

describe('buildVitModel', () => {
  it('declares the input and logits with a symbolic batch', () => {
    const m = buildVitModel(anchors[0]!);
    expect(graphInputs(m)).toEqual([{ name: 'input', shape: ['batch', 1, 28, 28], dtype: 'float32' }]);
    expect(graphOutputs(m)).toEqual([{ name: 'logits', shape: ['batch', 10], dtype: 'float32' }]);
    expect(m.opsetImport.map((o) => toNumber(o.version))).toEqual([17]);
  });

  it('names nodes, tensors and initializers like a torch export of timm', () => {
    const g = buildVitModel(anchors[0]!).graph!;
    const nodeNames = new Set(g.node!.map((n) => n.name));
    for (const n of [
      '/patch_embed/proj/Conv',
      '/blocks.3/attn/qkv/MatMul',
      '/blocks.0/mlp/act/Erf',
      '/norm/LayerNormalization',
      '/head/Gemm',
    ]) {
      expect(nodeNames, n).toContain(n);
    }
    const produced = new Set(g.node!.flatMap((n) => n.output!));
    for (const t of [
      bounds.embedOut,
      ...bounds.blockOut,
      bounds.headIn,
      '/patch_embed/proj/Conv_output_0',
      '/norm/LayerNormalization_output_0',
    ]) {
      expect(produced, t).toContain(t);
    }
    expect(g.node!.find((n) => n.output![0] === bounds.embedOut)?.input).toEqual(['/Concat_1_output_0', 'pos_embed']);
    const inits = g.initializer!.map((t) => t.name);
    expect(inits).toEqual(expect.arrayContaining(['cls_token', 'pos_embed', 'blocks.3.norm1.weight', 'head.weight']));
    expect(inits.filter((n) => n!.startsWith('onnx::MatMul_'))).toHaveLength(4 * 4);
    expect(g.valueInfo!.map((v) => v.name)).toEqual([bounds.embedOut, ...bounds.blockOut]);
  });

  it('holds every parameter once as an initializer', () => {
    const c = configs[1]!;
    const perBlock = 12 * c.dim * c.dim + 13 * c.dim; // LN 4D, qkv 3D²+3D, proj D²+D, fc1 4D²+4D, fc2 4D²+D
    const expected = c.dim * 49 + c.dim + c.dim + 17 * c.dim + c.depth * perBlock + 2 * c.dim + 10 * c.dim + 10;
    const g = buildVitModel(anchors[1]!).graph!;
    const count = g.initializer!.reduce((a, t) => a + t.dims!.reduce<number>((p, d) => p * toNumber(d), 1), 0);
    expect(count).toBe(expected);
  });

  it('runs at batch 1 and 3 with the same result per image, different per anchor', async () => {
    const one = await Promise.all(sessions.map((s) => run1(s.whole, tensor(image0, [1, 1, 28, 28]))));
    const three = await Promise.all(sessions.map((s) => run1(s.whole, tensor(images, [3, 1, 28, 28]))));
    for (let a = 0; a < anchors.length; a++) {
      expect(one[a]!.dims).toEqual([1, 10]);
      expect(three[a]!.dims).toEqual([3, 10]);
      const l3 = three[a]!.data as Float32Array;
      expect(l3.every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(one[a]!.data as Float32Array, l3.subarray(0, 10))).toBeLessThan(1e-5);
      expect(maxAbsDiff(l3.subarray(0, 10), l3.subarray(10, 20))).toBeGreaterThan(1e-3);
    }
    expect(maxAbsDiff(one[0]!.data as Float32Array, one[1]!.data as Float32Array)).toBeGreaterThan(1e-2);
  });

  it('is reproducible from the seed', () => {
    const a = randomVitWeights(configs[0]!, 5).tensors.get('blocks.1.mlp.fc1.weight')!.data;
    const b = randomVitWeights(configs[0]!, 5).tensors.get('blocks.1.mlp.fc1.weight')!.data;
    const c = randomVitWeights(configs[0]!, 6).tensors.get('blocks.1.mlp.fc1.weight')!.data;
    expect(a).toEqual(b);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(0.01);
    let sq = 0;
    for (const v of a) sq += v * v;
    expect(Math.sqrt(sq / a.length)).toBeCloseTo(0.02, 2);
  });

  it('rejects bad configs', () => {
    expect(() => randomVitWeights({ ...configs[0]!, heads: 3 }, 1)).toThrow(OptionError);
    expect(() => randomVitWeights({ ...configs[0]!, patchSize: 5 }, 1)).toThrow(/multiple of patchSize/);
    expect(() => buildVitModel(anchors[0]!, { opset: 16 })).toThrow(/opset 16/);
  });
});

describe('pieces cut at vitBoundaries', () => {
  it("chained in ORT give the whole model's logits", async () => {
    for (const s of sessions) {
      const x = tensor(images, [3, 1, 28, 28]);
      const whole = (await run1(s.whole, x)).data as Float32Array;
      const chained = await chain([s.embed, ...s.blocks, s.head], x);
      expect(maxAbsDiff(whole, chained)).toBeLessThan(1e-5);
    }
  });

  it("composed into one graph give the whole model's logits", async () => {
    for (const [a, ps] of pieces.entries()) {
      const composed = composeModels(ps, { inputName: 'input', outputName: 'logits' });
      const s = await open(composed);
      const x = tensor(images, [3, 1, 28, 28]);
      expect(
        maxAbsDiff((await run1(s, x)).data as Float32Array, (await run1(sessions[a]!.whole, x)).data as Float32Array),
      ).toBeLessThan(1e-5);
    }
  });
});

describe('buildRouteModel', () => {
  /** Chains extracted pieces and linearModel stitches for the same route. */
  async function chainedRoute(segments: RouteSegment[], stitches: StitchSpec[], x: ort.Tensor): Promise<Float32Array> {
    const steps: ort.InferenceSession[] = [sessions[segments[0]!.anchor]!.embed];
    for (const [s, seg] of segments.entries()) {
      steps.push(...sessions[seg.anchor]!.blocks.slice(seg.from, seg.to + 1));
      const st = stitches[s];
      const next = segments[s + 1];
      if (st && next) {
        const dimIn = configs[seg.anchor]!.dim;
        const dimOut = configs[next.anchor]!.dim;
        steps.push(await open(linearModel({ weight: st.weight, bias: st.bias, dimIn, dimOut })));
      }
    }
    steps.push(sessions[segments[segments.length - 1]!.anchor]!.head);
    return chain(steps, x);
  }

  const cases: [string, RouteSegment[]][] = [
    ['anchor 0 alone', [{ anchor: 0, from: 0, to: 3 }]],
    [
      '0→1 at (1,2)',
      [
        { anchor: 0, from: 0, to: 1 },
        { anchor: 1, from: 2, to: 3 },
      ],
    ],
    [
      '0→1 at (2,2), k = j',
      [
        { anchor: 0, from: 0, to: 2 },
        { anchor: 1, from: 2, to: 3 },
      ],
    ],
    [
      '1→2 at (2,0), k < j',
      [
        { anchor: 1, from: 0, to: 2 },
        { anchor: 2, from: 0, to: 3 },
      ],
    ],
    [
      '2→0 at (3,3), wide to narrow',
      [
        { anchor: 2, from: 0, to: 3 },
        { anchor: 0, from: 3, to: 3 },
      ],
    ],
    [
      '0→1→0, three segments',
      [
        { anchor: 0, from: 0, to: 0 },
        { anchor: 1, from: 1, to: 2 },
        { anchor: 0, from: 3, to: 3 },
      ],
    ],
  ];

  it.each(cases)('%s matches chaining the cut pieces with linear stitches', async (_, segments) => {
    const stitches = segments
      .slice(1)
      .map((seg, s) => stitch(configs[segments[s]!.anchor]!.dim, configs[seg.anchor]!.dim, 300 + s));
    const route = await open(buildRouteModel(anchors, segments, stitches));
    const x = tensor(images, [3, 1, 28, 28]);
    const direct = (await run1(route, x)).data as Float32Array;
    const chained = await chainedRoute(segments, stitches, x);
    expect(direct.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(direct, chained)).toBeLessThan(1e-5);
  });

  it('differs from both anchors when stitched', async () => {
    const segments = cases[1]![1];
    const route = await open(buildRouteModel(anchors, segments, [stitch(32, 48, 300)]));
    const x = tensor(image0, [1, 1, 28, 28]);
    const r = (await run1(route, x)).data as Float32Array;
    for (const a of [0, 1])
      expect(maxAbsDiff(r, (await run1(sessions[a]!.whole, x)).data as Float32Array)).toBeGreaterThan(1e-3);
  });

  it('uses SN-Net-style names and shares weights used twice', () => {
    const segments = cases[5]![1];
    const g = buildRouteModel(anchors, segments, [stitch(32, 48, 1), stitch(48, 32, 2)]).graph!;
    const inits = g.initializer!.map((t) => t.name!);
    expect(inits).toEqual(
      expect.arrayContaining([
        'anchors.0.cls_token',
        'anchors.1.blocks.1.norm1.weight',
        'anchors.0.norm.weight',
        'stitch_layers.1.transform.bias',
      ]),
    );
    expect(inits.some((n) => n.startsWith('anchors.1.head'))).toBe(false);
    expect(new Set(inits).size).toBe(inits.length);
    expect(g.node!.map((n) => n.name)).toContain('/anchors.1/blocks.2/attn/qkv/MatMul');
  });

  it('rejects routes that do not fit', () => {
    const two = cases[1]![1];
    expect(() => buildRouteModel(anchors, two, [])).toThrow(/2 segments need 1 stitches/);
    expect(() => buildRouteModel(anchors, two, [stitch(32, 64, 1)])).toThrow(/Stitch 0 must be \[32, 48\]/);
    expect(() => buildRouteModel(anchors, [{ anchor: 0, from: 2, to: 4 }], [])).toThrow(/not a range within 0..3/);
    expect(() => buildRouteModel(anchors, [{ anchor: 5, from: 0, to: 3 }], [])).toThrow(OptionError);
    const other = randomVitWeights({ ...configs[0]!, imageSize: 14 }, 1);
    expect(() =>
      buildRouteModel(
        [anchors[0]!, other],
        [
          { anchor: 0, from: 0, to: 1 },
          { anchor: 1, from: 2, to: 3 },
        ],
        [stitch(32, 32, 1)],
      ),
    ).toThrow(/tokens/);
  });
});
