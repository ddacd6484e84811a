/**
 * The cost model: multiply-accumulates and parameters counted from an ONNX graph, in fvcore's
 * convention so that DeiT numbers match the SN-Net tables.
 *
 * - `MatMul`, `Gemm`, `Conv`, `ConvTranspose`: one per multiply-add (bias additions not counted).
 * - `LayerNormalization`: 5 per input element (fvcore's count for an affine layer norm); a layer
 *   norm exported as primitives (`Sub(x, ReduceMean(x))` …) is recognised and counted the same.
 * - Everything else (GELU, softmax, residual adds, scaling, reshapes) counts 0, as in fvcore.
 *
 * Parameters are the elements of the floating-point initializers that nodes use, each counted
 * once. Rank-0 initializers are left out: they are literals of the model code (an attention scale,
 * a GELU constant), not parameters. Integer initializers (shapes, axes, indices) never count.
 */
import { BuilderError } from '../errors.js';
import { type Model, graphOf, type onnx, toNumber } from './proto.js';
import { nodeReads } from './graph.js';
import { inferShapes, isFloatType, type ShapeMap, type ShapeOptions } from './shapes.js';

/** Cost of one graph (one sample at the given input dimensions). */
export interface GraphCost {
  /** Multiply-accumulates, fvcore convention. */
  macs: number;
  /** Parameters: elements of the float initializers the graph uses. */
  params: number;
  /** MACs by op type, for display and checks. */
  macsByOp: Record<string, number>;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Counts the MACs and parameters of a model.
 *
 * @param model - a decoded ONNX model.
 * @param options - values for symbolic input dimensions (any other symbolic dimension, such as
 *   the batch, is 1) and the file name for error messages.
 * @throws BuilderError `BUILD_COST_UNSUPPORTED` when a tensor's shape cannot be worked out.
 */
export function graphCost(model: Model, options: ShapeOptions = {}): GraphCost {
  const g = graphOf(model, options.file);
  const shapes = inferShapes(model, options);
  const nodes = g.node ?? [];
  const producer = new Map<string, string>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n.opType ?? '');
  const reduceMeanInput = new Map<string, string>();
  for (const n of nodes)
    if (n.opType === 'ReduceMean' && n.input?.[0]) reduceMeanInput.set(n.output?.[0] ?? '', n.input[0]);

  const macsByOp: Record<string, number> = {};
  const add = (op: string, v: number): void => {
    if (v > 0) macsByOp[op] = (macsByOp[op] ?? 0) + v;
  };
  for (const n of nodes) {
    const op = n.opType ?? '';
    if (n.domain && n.domain !== 'ai.onnx') continue;
    add(op, nodeMacs(n.opType ?? '', n.input ?? [], n.output ?? [], n.attribute ?? [], shapes));
    // A layer norm written out as primitives: Sub(x, ReduceMean(x)) marks one normalisation of x.
    if (op === 'Sub' && n.input?.[0] && reduceMeanInput.get(n.input[1] ?? '') === n.input[0]) {
      add('LayerNormalization', 5 * numel(shapes.get(n.input[0])?.shape ?? []));
    }
  }

  const used = new Set<string>();
  for (const n of nodes) for (const r of nodeReads(n)) used.add(r);
  let params = 0;
  for (const t of g.initializer ?? []) {
    const dims = (t.dims ?? []).map(toNumber);
    if (!used.has(t.name ?? '') || dims.length === 0 || !isFloatType(t.dataType ?? 0)) continue;
    params += numel(dims);
    used.delete(t.name ?? '');
  }
  const macs = Object.values(macsByOp).reduce((a, b) => a + b, 0);
  return { macs, params, macsByOp };
}

function nodeMacs(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs: readonly onnx.IAttributeProto[],
  shapes: ShapeMap,
): number {
  const shapeOf = (name: string | undefined): number[] | undefined => (name ? shapes.get(name)?.shape : undefined);
  const out = shapeOf(outputs[0]);
  if (!out) return 0;
  switch (op) {
    case 'MatMul': {
      const a = shapeOf(inputs[0]);
      return a ? numel(out) * (a[a.length - 1] as number) : 0;
    }
    case 'Gemm': {
      const a = shapeOf(inputs[0]);
      const transA = attrs.some((x) => x.name === 'transA' && toNumber(x.i) === 1);
      return a ? numel(out) * (transA ? (a[0] as number) : (a[1] as number)) : 0;
    }
    case 'Conv': {
      const w = shapeOf(inputs[1]);
      return w ? numel(out) * numel(w.slice(1)) : 0;
    }
    case 'ConvTranspose': {
      const x = shapeOf(inputs[0]);
      const w = shapeOf(inputs[1]);
      return x && w ? numel(x) * numel(w.slice(1)) : 0;
    }
    case 'LayerNormalization':
      return 5 * numel(out);
    default:
      return 0;
  }
}

/** Sum of piece costs along a route (pieces as `expandRoute` lists them). */
export function routeCost(
  pieces: readonly string[],
  costs: ReadonlyMap<string, Pick<GraphCost, 'macs' | 'params'>>,
): { macs: number; params: number } {
  let macs = 0;
  let params = 0;
  const counted = new Set<string>();
  for (const p of pieces) {
    const c = costs.get(p);
    if (!c) {
      throw new BuilderError('BUILD_COST_UNSUPPORTED', `No cost is known for piece "${p}"`, {
        hint: 'Count the cost of every piece (graphCost) before summing a route over them',
      });
    }
    macs += c.macs;
    // A piece run twice (never in SN-Net routes, but allowed by the format) holds its weights once.
    if (!counted.has(p)) params += c.params;
    counted.add(p);
  }
  return { macs, params };
}
