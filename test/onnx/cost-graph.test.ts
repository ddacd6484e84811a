import { describe, expect, it } from 'vitest';
import { graphCost, routeCost } from '../../src/onnx/cost.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { BuilderError } from '../../src/errors.js';
import {
  AttributeType,
  DataType,
  float32Tensor,
  int64Tensor,
  type Model,
  onnx,
  valueInfo,
} from '../../src/onnx/proto.js';

/** A tiny hand-written graph builder for these tests. */
class G {
  nodes: onnx.INodeProto[] = [];
  inits: onnx.ITensorProto[] = [];
  inputs: onnx.IValueInfoProto[] = [];
  outputs: onnx.IValueInfoProto[] = [];
  infos: onnx.IValueInfoProto[] = [];
  private n = 0;
  node(
    opType: string,
    input: string[],
    attrs: Record<string, number | number[] | onnx.ITensorProto> = {},
    outputs = 1,
  ): string[] {
    const name = `/n${this.n++}/${opType}`;
    const output = Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`);
    const attribute = Object.entries(attrs).map(([k, v]): onnx.IAttributeProto => {
      if (typeof v === 'number') return { name: k, type: AttributeType.INT, i: v };
      if (Array.isArray(v)) return { name: k, type: AttributeType.INTS, ints: v };
      return { name: k, type: AttributeType.TENSOR, t: v };
    });
    this.nodes.push({ name, opType, input, output, attribute });
    return output;
  }
  op(opType: string, input: string[], attrs: Record<string, number | number[] | onnx.ITensorProto> = {}): string {
    return this.node(opType, input, attrs)[0]!;
  }
  ints(values: number[], dims?: number[]): string {
    return this.op('Constant', [], { value: int64Tensor('', values, dims) });
  }
  weight(name: string, dims: number[]): string {
    this.inits.push(float32Tensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5)));
    return name;
  }
  model(opset = 17): Model {
    return onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: 'g',
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
        valueInfo: this.infos,
      },
    });
  }
}

/** A slice of what torch.onnx.export writes for a ViT: shape arithmetic, attention, cls expand. */
function exportLike(): { g: G; names: Record<string, string> } {
  const g = new G();
  g.inputs.push(valueInfo('x', ['batch', 5, 8]));
  const s = g.op('Shape', ['x']);
  const b = g.op('Gather', [s, g.ints([0], [])], { axis: 0 });
  const bu = g.op('Unsqueeze', [b, g.ints([0])]);
  const shp = g.op('Concat', [bu, g.ints([5]), g.ints([2]), g.ints([4])], { axis: 0 });
  const r = g.op('Reshape', ['x', shp]);
  const q = g.op('Transpose', [r], { perm: [0, 2, 1, 3] });
  const kt = g.op('Transpose', [r], { perm: [0, 2, 3, 1] });
  const att = g.op('MatMul', [q, kt]);
  const sm = g.op('Softmax', [att], { axis: -1 });
  const y = g.op('MatMul', ['x', g.weight('w', [8, 6])]);
  const ln = g.op('LayerNormalization', [y, g.weight('ln.weight', [6]), g.weight('ln.bias', [6])], { axis: -1 });
  // cls token expand: ConstantOfShape → Mul(-1) → Equal → Where → Expand, as the exporter writes it.
  const shp2 = g.op('Concat', [bu, g.ints([-1]), g.ints([-1])], { axis: 0 });
  const ones = g.op('ConstantOfShape', [g.ints([3])], { value: int64Tensor('', [1], [1]) });
  const neg = g.op('Mul', [ones, g.ints([-1], [])]);
  const eq = g.op('Equal', [shp2, neg]);
  const wh = g.op('Where', [eq, ones, shp2]);
  const cls = g.op('Expand', [g.weight('cls_token', [1, 1, 6]), wh]);
  const cat = g.op('Concat', [cls, ln], { axis: 1 });
  const first = g.op('Slice', [cat, g.ints([0]), g.ints([1]), g.ints([1])]);
  const sq = g.op('Squeeze', [first, g.ints([1])]);
  const logits = g.op('Gemm', [sq, g.weight('head.weight', [3, 6]), g.weight('head.bias', [3])], { transB: 1 });
  // Not parameters: a rank-0 literal, an int64 initializer, and an initializer nobody uses.
  g.inits.push(float32Tensor('scale', [], Float32Array.of(0.5)));
  g.inits.push(int64Tensor('axes', [1]));
  g.weight('unused', [100]);
  g.op('Mul', [sm, 'scale']);
  g.outputs.push(valueInfo(logits, ['batch', 3]));
  return { g, names: { s, shp, r, att, y, wh, cls, cat, sq, logits } };
}

describe('shape inference', () => {
  it('propagates the small int64 shape tensors of a PyTorch-style export', () => {
    const { g, names } = exportLike();
    const shapes = inferShapes(g.model());
    expect(shapes.get(names.s!)).toMatchObject({ shape: [3], data: [1, 5, 8] });
    expect(shapes.get(names.shp!)?.data).toEqual([1, 5, 2, 4]);
    expect(shapes.get(names.att!)?.shape).toEqual([1, 2, 5, 5]);
    expect(shapes.get(names.wh!)?.data).toEqual([1, 1, 1]);
    expect(shapes.get(names.cls!)?.shape).toEqual([1, 1, 6]);
    expect(shapes.get(names.cat!)?.shape).toEqual([1, 6, 6]);
    expect(shapes.get(names.sq!)?.shape).toEqual([1, 6]);
    expect(shapes.get(names.logits!)?.shape).toEqual([1, 3]);
  });

  it('uses given values for symbolic dimensions', () => {
    const { g, names } = exportLike();
    const shapes = inferShapes(g.model(), { dims: { batch: 4 } });
    expect(shapes.get(names.att!)?.shape).toEqual([4, 2, 5, 5]);
    expect(shapes.get(names.logits!)?.shape).toEqual([4, 3]);
  });

  it('infers Conv, pooling, Flatten, Split and Range', () => {
    const g = new G();
    g.inputs.push(valueInfo('img', [1, 3, 9, 9]));
    const c = g.op('Conv', ['img', g.weight('conv.w', [4, 3, 3, 3])], { strides: [2, 2], pads: [1, 1, 1, 1] });
    const p = g.op('MaxPool', [c], { kernel_shape: [2, 2], strides: [2, 2] });
    const f = g.op('Flatten', [p], { axis: 1 });
    const [a, b] = g.node('Split', [f, g.ints([10, 6])], { axis: 1 }, 2);
    const r = g.op('Range', [g.ints([0], []), g.ints([7], []), g.ints([2], [])]);
    const gp = g.op('GlobalAveragePool', [c]);
    const shapes = inferShapes(g.model());
    expect(shapes.get(c)?.shape).toEqual([1, 4, 5, 5]);
    expect(shapes.get(p)?.shape).toEqual([1, 4, 2, 2]);
    expect(shapes.get(f)?.shape).toEqual([1, 16]);
    expect(shapes.get(a!)?.shape).toEqual([1, 10]);
    expect(shapes.get(b!)?.shape).toEqual([1, 6]);
    expect(shapes.get(r)?.data).toEqual([0, 2, 4, 6]);
    expect(shapes.get(gp)?.shape).toEqual([1, 4, 1, 1]);
  });

  it('falls back to recorded value_info for an unknown op, and fails clearly without it', () => {
    const g = new G();
    g.inputs.push(valueInfo('x', [1, 4]));
    const y = g.op('MysteryOp', ['x']);
    const bad = g.model();
    expect(() => inferShapes(bad, { file: 'anchor.onnx' })).toThrow(BuilderError);
    expect(() => inferShapes(bad)).toThrow(/MysteryOp/);
    g.infos.push(valueInfo(y, ['batch', 7]));
    expect(inferShapes(g.model()).get(y)?.shape).toEqual([1, 7]);
  });
});

describe('graph cost (fvcore convention)', () => {
  it('counts MatMul, Gemm and LayerNorm MACs and only real parameters', () => {
    const { g } = exportLike();
    const cost = graphCost(g.model());
    // attention 2·5·5·4 = 200, x·w 5·6·8 = 240, LayerNorm 5·30 = 150, head 3·6 = 18.
    expect(cost.macsByOp).toEqual({ MatMul: 440, LayerNormalization: 150, Gemm: 18 });
    expect(cost.macs).toBe(608);
    // w 48 + ln 12 + cls 6 + head 21.
    expect(cost.params).toBe(87);
    expect(graphCost(g.model(), { dims: { batch: 2 } }).macs).toBe(2 * 608);
  });

  it('counts Conv MACs without bias and a layer norm written as primitives', () => {
    const g = new G();
    g.inputs.push(valueInfo('img', [1, 3, 8, 8]));
    const c = g.op('Conv', ['img', g.weight('conv.w', [4, 3, 2, 2]), g.weight('conv.b', [4])], { strides: [2, 2] });
    const x = g.op('Reshape', [c, g.ints([1, 4, 16])]);
    const m = g.op('ReduceMean', [x], { axes: [-1] });
    const d = g.op('Sub', [x, m]);
    const v = g.op('ReduceMean', [g.op('Pow', [d, g.weight('two', [1])])], { axes: [-1] });
    g.op('Div', [d, g.op('Sqrt', [v])]);
    const cost = graphCost(g.model());
    expect(cost.macsByOp).toEqual({ Conv: 4 * 4 * 4 * 12, LayerNormalization: 5 * 64 });
    expect(cost.params).toBe(48 + 4 + 1);
  });

  it("sums a route over its pieces, counting each piece's parameters once", () => {
    const costs = new Map([
      ['a', { macs: 10, params: 1 }],
      ['b', { macs: 5, params: 2 }],
    ]);
    expect(routeCost(['a', 'b', 'b'], costs)).toEqual({ macs: 20, params: 3 });
    expect(() => routeCost(['c'], costs)).toThrow(/piece "c"/);
  });

  it('reads int64 data given as repeated fields and Long-free numbers', () => {
    const g = new G();
    g.inputs.push(valueInfo('x', [2, 3]));
    g.inits.push({ name: 'shape', dims: [1], dataType: DataType.INT64, int64Data: [6] });
    const r = g.op('Reshape', ['x', 'shape']);
    expect(inferShapes(g.model()).get(r)?.shape).toEqual([6]);
  });
});
