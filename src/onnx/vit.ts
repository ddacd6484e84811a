/**
 * A DeiT-style Vision Transformer family with random weights, written as ONNX graphs shaped and
 * named like a `torch.onnx.export` (opset 17) of a timm `VisionTransformer` in eval mode:
 * patch embedding → cls token → position embedding (cls position included) → pre-norm blocks →
 * final LayerNorm → cls token → head. Used to test piece cutting, composition and stitching
 * against a directly built stitched graph, and to generate anchors of real DeiT sizes.
 */
import { seededUint32 } from '../base/random.js';
import { OptionError } from '../errors.js';
import { GraphBuilder, attr } from './graph-builder.js';
import { type Model, float32Tensor, int64Tensor } from './proto.js';

/** The shape of a ViT. */
export interface VitConfig {
  /** Square input side in pixels; a multiple of `patchSize`. */
  imageSize: number;
  /** Patch side in pixels (the patch-embedding convolution's kernel and stride). */
  patchSize: number;
  /** Input channels. */
  channels: number;
  /** Token width; a multiple of `heads`. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** Number of blocks. */
  depth: number;
  /** MLP hidden width as a multiple of `dim`. */
  mlpRatio: number;
  /** Classifier outputs. */
  classes: number;
}

const DEIT = { imageSize: 224, patchSize: 16, channels: 3, depth: 12, mlpRatio: 4, classes: 1000 };
/** DeiT-Tiny: 5,717,416 parameters. */
export const DEIT_TI: VitConfig = { ...DEIT, dim: 192, heads: 3 };
/** DeiT-Small: 22,050,664 parameters. */
export const DEIT_S: VitConfig = { ...DEIT, dim: 384, heads: 6 };
/** DeiT-Base: 86,567,656 parameters. */
export const DEIT_B: VitConfig = { ...DEIT, dim: 768, heads: 12 };

/** A tensor in PyTorch layout (a Linear weight is `[out, in]`). */
export interface WeightTensor {
  dims: number[];
  data: Float32Array;
}

/** The weights of one ViT, by timm state-dict names (`blocks.3.attn.qkv.weight`, `cls_token`, `head.bias`, …). */
export interface VitWeights {
  config: VitConfig;
  tensors: Map<string, WeightTensor>;
}

/** A stitching layer: `y = x·weight + bias` on every token. */
export interface StitchSpec {
  /** Row-major `[dimIn, dimOut]`. */
  weight: Float32Array;
  bias: Float32Array;
}

/** Blocks `from..to` (inclusive) of `anchors[anchor]`. */
export interface RouteSegment {
  anchor: number;
  from: number;
  to: number;
}

/** The opset the ViT graphs are written for (the first with `LayerNormalization`). */
export const VIT_OPSET = 17;
const LN_EPSILON = 1e-6;
const INIT_STD = 0.02;

type Init = 'normal' | 'zeros' | 'ones';

/** The tensors of a ViT in timm state-dict order, with shapes and initialisation. */
function vitTensorSpecs(c: VitConfig): [string, number[], Init][] {
  const d = c.dim;
  const hidden = d * c.mlpRatio;
  const tokens = (c.imageSize / c.patchSize) ** 2 + 1;
  const specs: [string, number[], Init][] = [
    ['cls_token', [1, 1, d], 'normal'],
    ['pos_embed', [1, tokens, d], 'normal'],
    ['patch_embed.proj.weight', [d, c.channels, c.patchSize, c.patchSize], 'normal'],
    ['patch_embed.proj.bias', [d], 'normal'],
  ];
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}.`;
    specs.push(
      [`${b}norm1.weight`, [d], 'ones'],
      [`${b}norm1.bias`, [d], 'zeros'],
      [`${b}attn.qkv.weight`, [3 * d, d], 'normal'],
      [`${b}attn.qkv.bias`, [3 * d], 'normal'],
      [`${b}attn.proj.weight`, [d, d], 'normal'],
      [`${b}attn.proj.bias`, [d], 'normal'],
      [`${b}norm2.weight`, [d], 'ones'],
      [`${b}norm2.bias`, [d], 'zeros'],
      [`${b}mlp.fc1.weight`, [hidden, d], 'normal'],
      [`${b}mlp.fc1.bias`, [hidden], 'normal'],
      [`${b}mlp.fc2.weight`, [d, hidden], 'normal'],
      [`${b}mlp.fc2.bias`, [d], 'normal'],
    );
  }
  specs.push(
    ['norm.weight', [d], 'ones'],
    ['norm.bias', [d], 'zeros'],
    ['head.weight', [c.classes, d], 'normal'],
    ['head.bias', [c.classes], 'normal'],
  );
  return specs;
}

function checkConfig(c: VitConfig, option: string): void {
  for (const key of ['imageSize', 'patchSize', 'channels', 'dim', 'heads', 'depth', 'classes'] as const) {
    const v = c[key];
    if (!Number.isInteger(v) || v <= 0) {
      throw new OptionError('OPTION_INVALID', `${key} must be a positive integer, got ${v}`, {
        option: `${option}.${key}`,
      });
    }
  }
  if (c.imageSize % c.patchSize !== 0) {
    throw new OptionError('OPTION_INVALID', `imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}`, {
      option: `${option}.patchSize`,
    });
  }
  if (!(c.mlpRatio > 0) || !Number.isInteger(c.dim * c.mlpRatio)) {
    throw new OptionError(
      'OPTION_INVALID',
      `mlpRatio ${c.mlpRatio} must be positive and make dim × mlpRatio a whole number`,
      { option: `${option}.mlpRatio` },
    );
  }
  if (c.dim % c.heads !== 0) {
    throw new OptionError('OPTION_INVALID', `dim ${c.dim} is not a multiple of heads ${c.heads}`, {
      option: `${option}.heads`,
    });
  }
}

/**
 * Random weights for a ViT, reproducible from `seed`: weights, biases and embeddings drawn from a
 * normal distribution cut at ±2σ and scaled to std 0.02 (timm's `trunc_normal_` spirit), LayerNorm
 * weights 1 and biases 0 — small enough that activations stay finite at any depth, and different
 * per seed so that anchors give different logits.
 */
export function randomVitWeights(config: VitConfig, seed: number): VitWeights {
  checkConfig(config, 'config');
  const next = seededUint32(seed);
  const tensors = new Map<string, WeightTensor>();
  for (const [name, dims, init] of vitTensorSpecs(config)) {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    if (init === 'ones') data.fill(1);
    else if (init === 'normal') fillTruncNormal(data, INIT_STD, next);
    tensors.set(name, { dims, data });
  }
  return { config, tensors };
}

/** Fills `out` with truncated-normal values of std `std`: two 16-bit quantile lookups per 32-bit draw. */
function fillTruncNormal(out: Float32Array, std: number, next: () => number): void {
  const table = quantiles();
  for (let i = 0; i < out.length; i += 2) {
    const r = next();
    out[i] = (table[r & 0xffff] as number) * std;
    if (i + 1 < out.length) out[i + 1] = (table[r >>> 16] as number) * std;
  }
}

let quantileTable: Float64Array | undefined;

/** 65,536 equally likely values of a standard normal cut at ±2σ, rescaled to unit variance. */
function quantiles(): Float64Array {
  if (quantileTable) return quantileTable;
  const n = 65536;
  const lo = 0.022750131948179195; // Φ(-2)
  const table = new Float64Array(n);
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const z = inverseNormalCdf(lo + ((i + 0.5) / n) * (1 - 2 * lo));
    table[i] = z;
    sq += z * z;
  }
  const scale = 1 / Math.sqrt(sq / n);
  for (let i = 0; i < n; i++) table[i] = (table[i] as number) * scale;
  quantileTable = table;
  return table;
}

/** Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9). */
function inverseNormalCdf(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const poly = (k: number[], x: number) => k.reduce((acc, v) => acc * x + v, 0);
  const tail = (q: number) => poly(c, q) / (poly(d, q) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/**
 * Names of the residual-stream tensors in {@link buildVitModel}'s graph: the tensor entering
 * block 0, the output of each block (the input of the next), and the input of the final norm.
 */
export function vitBoundaries(depth: number): { embedOut: string; blockOut: string[]; headIn: string } {
  const embedOut = '/Add_output_0';
  const blockOut = Array.from({ length: depth }, (_, i) => `/blocks.${i}/Add_1_output_0`);
  return { embedOut, blockOut, headIn: blockOut[depth - 1] ?? embedOut };
}

/** The whole ViT as one model: input `input` `['batch', C, H, W]`, output `logits` `['batch', classes]`. */
export function buildVitModel(w: VitWeights, opts: { opset?: number } = {}): Model {
  const c = w.config;
  checkConfig(c, 'weights.config');
  const opset = opts.opset ?? VIT_OPSET;
  if (!Number.isInteger(opset) || opset < VIT_OPSET) {
    throw new OptionError('OPTION_INVALID', `opset ${opset} has no LayerNormalization; use ${VIT_OPSET} or later`, {
      option: 'opset',
    });
  }
  const g = new GraphBuilder();
  const p = new AnchorParams(g, w, '');
  const input = g.input('input', ['batch', c.channels, c.imageSize, c.imageSize]);
  const streamShape = ['batch', tokenCount(c), c.dim];
  let x = embed(g, p, '', input);
  g.valueInfo(x, streamShape);
  for (let i = 0; i < c.depth; i++) {
    x = block(g, p, '', i, x);
    g.valueInfo(x, streamShape);
  }
  head(g, p, '', x, 'logits');
  g.output('logits', ['batch', c.classes]);
  return g.model('vit', opset);
}

/**
 * A stitched ViT built directly as one graph: the embedding of the first segment's anchor, each
 * segment's blocks with a stitching Linear between consecutive segments, then the final norm and
 * head of the last segment's anchor. Input `input`, output `logits`, opset 17. Throws
 * `OPTION_INVALID` when segments, stitches or anchors don't fit together.
 */
export function buildRouteModel(anchors: VitWeights[], segments: RouteSegment[], stitches: StitchSpec[]): Model {
  checkRoute(anchors, segments, stitches);
  const g = new GraphBuilder();
  const params = anchors.map((w, a) => new AnchorParams(g, w, `anchors.${a}.`));
  const first = segments[0] as RouteSegment;
  const last = segments[segments.length - 1] as RouteSegment;
  const c0 = (anchors[first.anchor] as VitWeights).config;
  const input = g.input('input', ['batch', c0.channels, c0.imageSize, c0.imageSize]);
  let x = embed(g, params[first.anchor] as AnchorParams, `/anchors.${first.anchor}`, input);
  segments.forEach((seg, s) => {
    for (let i = seg.from; i <= seg.to; i++)
      x = block(g, params[seg.anchor] as AnchorParams, `/anchors.${seg.anchor}`, i, x);
    const stitch = stitches[s];
    const next = segments[s + 1];
    if (!stitch || !next) return;
    const dimIn = (anchors[seg.anchor] as VitWeights).config.dim;
    const dimOut = (anchors[next.anchor] as VitWeights).config.dim;
    const weight = g.matmulWeight([dimIn, dimOut], stitch.weight);
    const bias = g.initializer(`stitch_layers.${s}.transform.bias`, [dimOut], stitch.bias);
    x = linear(g, `/stitch_layers.${s}/transform`, x, weight, bias);
  });
  head(g, params[last.anchor] as AnchorParams, `/anchors.${last.anchor}`, x, 'logits');
  g.output('logits', ['batch', (anchors[last.anchor] as VitWeights).config.classes]);
  return g.model('route', VIT_OPSET);
}

function checkRoute(anchors: VitWeights[], segments: RouteSegment[], stitches: StitchSpec[]): void {
  if (segments.length === 0)
    throw new OptionError('OPTION_INVALID', 'A route needs at least one segment', { option: 'segments' });
  if (stitches.length !== segments.length - 1) {
    throw new OptionError(
      'OPTION_INVALID',
      `${segments.length} segments need ${segments.length - 1} stitches, got ${stitches.length}`,
      { option: 'stitches' },
    );
  }
  anchors.forEach((w, a) => checkConfig(w.config, `anchors[${a}].config`));
  const valid = anchors.map((_, a) => a);
  const embedding = anchors[segments[0]?.anchor ?? -1]?.config;
  segments.forEach((seg, s) => {
    const w = anchors[seg.anchor];
    if (!w)
      throw new OptionError('OPTION_INVALID', `Segment ${s} names anchor ${seg.anchor}`, {
        option: `segments[${s}].anchor`,
        validValues: valid,
      });
    const { depth } = w.config;
    if (
      !Number.isInteger(seg.from) ||
      !Number.isInteger(seg.to) ||
      seg.from < 0 ||
      seg.to >= depth ||
      seg.from > seg.to
    ) {
      throw new OptionError(
        'OPTION_INVALID',
        `Segment ${s} blocks [${seg.from}, ${seg.to}] are not a range within 0..${depth - 1}`,
        { option: `segments[${s}]` },
      );
    }
    if (embedding && tokenCount(w.config) !== tokenCount(embedding)) {
      throw new OptionError(
        'OPTION_INVALID',
        `Anchor ${seg.anchor} works on ${tokenCount(w.config)} tokens but the route's embedding makes ${tokenCount(embedding)}`,
        {
          option: `segments[${s}].anchor`,
        },
      );
    }
    const stitch = stitches[s];
    const next = segments[s + 1];
    const nextW = next && anchors[next.anchor];
    if (!stitch || !nextW) return;
    const dimIn = w.config.dim;
    const dimOut = nextW.config.dim;
    if (stitch.weight.length !== dimIn * dimOut || stitch.bias.length !== dimOut) {
      throw new OptionError(
        'OPTION_INVALID',
        `Stitch ${s} must be [${dimIn}, ${dimOut}] with ${dimOut} biases, got ${stitch.weight.length} weights and ${stitch.bias.length} biases`,
        {
          option: `stitches[${s}]`,
        },
      );
    }
  });
}

function tokenCount(c: VitConfig): number {
  return (c.imageSize / c.patchSize) ** 2 + 1;
}

/**
 * Initializers of one anchor, added to the graph on first use. `raw` keeps the PyTorch layout under
 * `prefix + name`; `transposed` stores a Linear weight as the `[in, out]` MatMul operand under an
 * exporter-style `onnx::MatMul_<n>` name.
 */
class AnchorParams {
  private readonly names = new Map<string, string>();

  constructor(
    private readonly g: GraphBuilder,
    private readonly w: VitWeights,
    private readonly prefix: string,
  ) {}

  raw(name: string): string {
    const known = this.names.get(name);
    if (known) return known;
    const t = this.tensor(name);
    const out = this.g.initializer(this.prefix + name, t.dims, t.data);
    this.names.set(name, out);
    return out;
  }

  transposed(name: string): string {
    const key = `${name}^T`;
    const known = this.names.get(key);
    if (known) return known;
    const t = this.tensor(name);
    const [rows, cols] = t.dims as [number, number];
    const out = this.g.matmulWeight([cols, rows], transpose(t.data, rows, cols));
    this.names.set(key, out);
    return out;
  }

  private tensor(name: string): WeightTensor {
    const t = this.w.tensors.get(name);
    if (!t) {
      throw new OptionError('OPTION_INVALID', `The weights have no tensor ${name}`, {
        option: 'weights.tensors',
        hint: 'Create the weights with randomVitWeights or use timm state-dict names.',
      });
    }
    return t;
  }

  get config(): VitConfig {
    return this.w.config;
  }
}

/** `[rows, cols]` → `[cols, rows]`, in tiles for cache locality. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  const tile = 32;
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const r1 = Math.min(rows, r0 + tile);
    for (let c0 = 0; c0 < cols; c0 += tile) {
      const c1 = Math.min(cols, c0 + tile);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c] as number;
      }
    }
  }
  return out;
}

const i64 = (values: number[]) => int64Tensor('', values);
const i64Scalar = (v: number) => int64Tensor('', [v], []);
const f32Scalar = (v: number) => float32Tensor('', [], Float32Array.of(v));

function linear(g: GraphBuilder, scope: string, x: string, weightT: string, bias: string): string {
  return g.op(scope, 'Add', [g.op(scope, 'MatMul', [x, weightT]), bias]);
}

function layerNorm(g: GraphBuilder, scope: string, x: string, weight: string, bias: string): string {
  return g.op(
    scope,
    'LayerNormalization',
    [x, weight, bias],
    [attr.int('axis', -1), attr.float('epsilon', LN_EPSILON)],
  );
}

/** Patch embedding, cls token and position embedding; returns the tensor entering block 0. */
function embed(g: GraphBuilder, p: AnchorParams, scope: string, input: string): string {
  const c = p.config;
  const ps = c.patchSize;
  const conv = g.op(
    `${scope}/patch_embed/proj`,
    'Conv',
    [input, p.raw('patch_embed.proj.weight'), p.raw('patch_embed.proj.bias')],
    [
      attr.ints('dilations', [1, 1]),
      attr.int('group', 1),
      attr.ints('kernel_shape', [ps, ps]),
      attr.ints('pads', [0, 0, 0, 0]),
      attr.ints('strides', [ps, ps]),
    ],
  );
  const flat = g.op(`${scope}/patch_embed`, 'Reshape', [conv, g.constant(`${scope}/patch_embed`, i64([0, 0, -1]))]);
  const tokens = g.op(`${scope}/patch_embed`, 'Transpose', [flat], [attr.ints('perm', [0, 2, 1])]);
  // cls_token.expand(batch, -1, -1), with the batch read from the tensor's shape
  const shape = g.op(scope, 'Shape', [tokens]);
  const batch = g.op(scope, 'Gather', [shape, g.constant(scope, i64Scalar(0))], [attr.int('axis', 0)]);
  const batch1 = g.op(scope, 'Unsqueeze', [batch, g.constant(scope, i64([0]))]);
  const expandShape = g.op(scope, 'Concat', [batch1, g.constant(scope, i64([1, 1]))], [attr.int('axis', 0)]);
  const cls = g.op(scope, 'Expand', [p.raw('cls_token'), expandShape]);
  const withCls = g.op(scope, 'Concat', [cls, tokens], [attr.int('axis', 1)]);
  return g.op(scope, 'Add', [withCls, p.raw('pos_embed')]);
}

/** Block `i`: x + proj(attn(norm1(x))), then + fc2(gelu(fc1(norm2(·)))); returns its output. */
function block(g: GraphBuilder, p: AnchorParams, scope: string, i: number, x: string): string {
  const { dim, heads } = p.config;
  const s = `${scope}/blocks.${i}`;
  const w = `blocks.${i}.`;
  const n1 = layerNorm(g, `${s}/norm1`, x, p.raw(`${w}norm1.weight`), p.raw(`${w}norm1.bias`));
  const qkv = linear(g, `${s}/attn/qkv`, n1, p.transposed(`${w}attn.qkv.weight`), p.raw(`${w}attn.qkv.bias`));
  const a = `${s}/attn`;
  const split = g.op(a, 'Reshape', [qkv, g.constant(a, i64([0, 0, 3, heads, dim / heads]))]);
  const qkvHeads = g.op(a, 'Transpose', [split], [attr.ints('perm', [2, 0, 3, 1, 4])]);
  const [q, k, v] = [0, 1, 2].map((j) =>
    g.op(a, 'Gather', [qkvHeads, g.constant(a, i64Scalar(j))], [attr.int('axis', 0)]),
  ) as [string, string, string];
  const kT = g.op(a, 'Transpose', [k], [attr.ints('perm', [0, 1, 3, 2])]);
  const scores = g.op(a, 'Mul', [g.op(a, 'MatMul', [q, kT]), g.constant(a, f32Scalar(1 / Math.sqrt(dim / heads)))]);
  const probs = g.op(a, 'Softmax', [scores], [attr.int('axis', -1)]);
  const ctx = g.op(a, 'Transpose', [g.op(a, 'MatMul', [probs, v])], [attr.ints('perm', [0, 2, 1, 3])]);
  const merged = g.op(a, 'Reshape', [ctx, g.constant(a, i64([0, 0, dim]))]);
  const proj = linear(g, `${a}/proj`, merged, p.transposed(`${w}attn.proj.weight`), p.raw(`${w}attn.proj.bias`));
  const x1 = g.op(s, 'Add', [x, proj]);
  const n2 = layerNorm(g, `${s}/norm2`, x1, p.raw(`${w}norm2.weight`), p.raw(`${w}norm2.bias`));
  const fc1 = linear(g, `${s}/mlp/fc1`, n2, p.transposed(`${w}mlp.fc1.weight`), p.raw(`${w}mlp.fc1.bias`));
  const act = gelu(g, `${s}/mlp/act`, fc1);
  const fc2 = linear(g, `${s}/mlp/fc2`, act, p.transposed(`${w}mlp.fc2.weight`), p.raw(`${w}mlp.fc2.bias`));
  return g.op(s, 'Add', [x1, fc2]);
}

/** Exact GELU as the exporter writes it: 0.5·x·(1 + erf(x/√2)). */
function gelu(g: GraphBuilder, scope: string, x: string): string {
  const erf = g.op(scope, 'Erf', [g.op(scope, 'Div', [x, g.constant(scope, f32Scalar(Math.SQRT2))])]);
  const onePlus = g.op(scope, 'Add', [erf, g.constant(scope, f32Scalar(1))]);
  return g.op(scope, 'Mul', [g.op(scope, 'Mul', [x, onePlus]), g.constant(scope, f32Scalar(0.5))]);
}

/** Final norm, cls token, classifier. */
function head(g: GraphBuilder, p: AnchorParams, scope: string, x: string, output: string): string {
  const n = layerNorm(g, `${scope}/norm`, x, p.raw('norm.weight'), p.raw('norm.bias'));
  const cls = g.op(scope, 'Gather', [n, g.constant(scope, i64Scalar(0))], [attr.int('axis', 1)]);
  return g.op(
    `${scope}/head`,
    'Gemm',
    [cls, p.raw('head.weight'), p.raw('head.bias')],
    [attr.float('alpha', 1), attr.float('beta', 1), attr.int('transB', 1)],
    output,
  );
}
