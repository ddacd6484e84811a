import { describe, expect, it } from 'vitest';
import { OnnxError } from '../../src/errors.js';
import {
  type Model,
  composeModels,
  decodeModel,
  encodeModel,
  extractSubgraph,
  graphInputs,
  graphOutputs,
  linearModel,
  onnx,
  toNumber,
} from '../../src/onnx/index.js';
import { linearRef } from '../helpers/linear.js';
import { maxAbsDiff, randomData, run1, session, tensor } from './helpers.js';

const dims = [4, 5, 6, 3];
const layers = dims.slice(1).map((dimOut, i) => {
  const dimIn = dims[i] as number;
  const weight = randomData(dimIn * dimOut, 10 + i);
  const bias = randomData(dimOut, 20 + i);
  return { weight, bias, dimIn, dimOut, model: linearModel({ weight, bias, dimIn, dimOut }) };
});
const x = randomData(2 * 3 * 4, 99);

function reference(from: number, to: number, input: Float32Array): Float32Array {
  let v = input;
  for (const l of layers.slice(from, to + 1)) v = linearRef(v, l.weight, l.bias, l.dimIn, l.dimOut);
  return v;
}

async function runModel(m: Model, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const s = await session(decodeModel(encodeModel(m)));
  try {
    return (await run1(s, tensor(data, shape))).data as Float32Array;
  } finally {
    await s.release();
  }
}

function thrown(f: () => unknown): OnnxError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OnnxError);
    return e as OnnxError;
  }
  throw new Error('expected an error');
}

describe('linearModel', () => {
  it('matches a JS matmul, token-wise', async () => {
    const l = layers[0];
    if (!l) throw new Error('no layer');
    const y = await runModel(l.model, x, [2, 3, 4]);
    expect(maxAbsDiff(y, reference(0, 0, x))).toBeLessThan(1e-6);
  });

  it('takes custom names and input shapes', () => {
    const m = linearModel({
      weight: new Float32Array(6),
      bias: new Float32Array(3),
      dimIn: 2,
      dimOut: 3,
      inputName: 'a',
      outputName: 'b',
      inputShape: ['n', 2],
    });
    expect(graphInputs(m)).toEqual([{ name: 'a', shape: ['n', 2], dtype: 'float32' }]);
    expect(graphOutputs(m)).toEqual([{ name: 'b', shape: ['n', 3], dtype: 'float32' }]);
  });

  it('rejects mismatched sizes', () => {
    expect(() => linearModel({ weight: new Float32Array(5), bias: new Float32Array(3), dimIn: 2, dimOut: 3 })).toThrow(
      /weight has 5 values/,
    );
    expect(() => linearModel({ weight: new Float32Array(6), bias: new Float32Array(2), dimIn: 2, dimOut: 3 })).toThrow(
      /bias/,
    );
    expect(() =>
      linearModel({ weight: new Float32Array(6), bias: new Float32Array(3), dimIn: 2, dimOut: 3, inputShape: [1, 4] }),
    ).toThrow(/inputShape/);
  });
});

describe('composeModels', () => {
  const composed = composeModels(layers.map((l) => l.model));

  it('chains the models under prefixed names', async () => {
    const g = composed.graph as onnx.IGraphProto;
    expect(graphInputs(composed)).toEqual([{ name: 'x', shape: ['batch', 'tokens', 4], dtype: 'float32' }]);
    expect(graphOutputs(composed)).toEqual([{ name: 'y', shape: ['batch', 'tokens', 3], dtype: 'float32' }]);
    expect(g.node?.map((n) => n.name)).toEqual([
      'p0//transform/MatMul',
      'p0//transform/Add',
      'p1//transform/MatMul',
      'p1//transform/Add',
      'p2//transform/MatMul',
      'p2//transform/Add',
    ]);
    expect(g.node?.map((n) => n.input)).toEqual([
      ['x', 'p0/onnx::MatMul_0'],
      ['p0//transform/MatMul_output_0', 'p0/transform.bias'],
      ['p0/y', 'p1/onnx::MatMul_0'],
      ['p1//transform/MatMul_output_0', 'p1/transform.bias'],
      ['p1/y', 'p2/onnx::MatMul_0'],
      ['p2//transform/MatMul_output_0', 'p2/transform.bias'],
    ]);
    expect(g.valueInfo?.map((v) => v.name)).toEqual(['p0/y', 'p1/y']);
    expect(composed.opsetImport.map((o) => [o.domain, toNumber(o.version)])).toEqual([['', 17]]);
    const y = await runModel(composed, x, [2, 3, 4]);
    expect(maxAbsDiff(y, reference(0, 2, x))).toBeLessThan(1e-5);
  });

  it('shares tensor data with the source models', () => {
    const src = layers[1]?.model.graph?.initializer?.[0]?.rawData;
    const dst = composed.graph?.initializer?.find((t) => t.name === 'p1/onnx::MatMul_0')?.rawData;
    expect(dst).toBe(src);
  });

  it('renames the ends and merges opsets by highest version', () => {
    const a = layers[0]?.model as Model;
    const b = onnx.ModelProto.create({
      ...(layers[1]?.model as Model),
      opsetImport: [
        { domain: 'ai.onnx', version: 18 },
        { domain: 'com.example', version: 1 },
      ],
    });
    const m = composeModels([a, b], { inputName: 'image', outputName: 'out', name: 'two' });
    expect(m.graph?.name).toBe('two');
    expect(graphInputs(m).map((t) => t.name)).toEqual(['image']);
    expect(graphOutputs(m).map((t) => t.name)).toEqual(['out']);
    expect(m.opsetImport.map((o) => [o.domain, toNumber(o.version)])).toEqual([
      ['', 18],
      ['com.example', 1],
    ]);
  });

  it('rejects models that do not chain or have several inputs', () => {
    const e = thrown(() => composeModels([layers[0]?.model as Model, layers[2]?.model as Model]));
    expect(e.code).toBe('ONNX_GRAPH_INVALID');
    expect(e.message).toContain("don't chain");
    const twoInputs = onnx.ModelProto.create({
      ...composed,
      graph: { ...composed.graph, input: [...(composed.graph?.input ?? []), ...(composed.graph?.output ?? [])] },
    });
    expect(thrown(() => composeModels([twoInputs])).message).toMatch(/2 inputs/);
    expect(thrown(() => composeModels([])).code).toBe('ONNX_GRAPH_INVALID');
  });
});

describe('extractSubgraph', () => {
  const composed = composeModels(layers.map((l) => l.model));
  const mid = reference(0, 0, x);

  it('keeps only what computes the outputs from the inputs', async () => {
    const piece = extractSubgraph(composed, {
      inputs: ['p0/y'],
      outputs: ['p1/y'],
      rename: { 'p0/y': 'x', 'p1/y': 'y' },
      name: 'middle',
    });
    const g = piece.graph as onnx.IGraphProto;
    expect(g.name).toBe('middle');
    expect(g.node?.map((n) => n.name)).toEqual(['p1//transform/MatMul', 'p1//transform/Add']);
    expect(g.initializer?.map((t) => t.name)).toEqual(['p1/onnx::MatMul_0', 'p1/transform.bias']);
    expect(graphInputs(piece)).toEqual([{ name: 'x', shape: ['batch', 'tokens', 5], dtype: 'float32' }]);
    expect(graphOutputs(piece)).toEqual([{ name: 'y', shape: ['batch', 'tokens', 6], dtype: 'float32' }]);
    expect(toNumber(piece.irVersion)).toBe(8);
    expect(piece.opsetImport.map((o) => toNumber(o.version))).toEqual([17]);
    const y = await runModel(piece, mid, [2, 3, 5]);
    expect(maxAbsDiff(y, reference(1, 1, mid))).toBeLessThan(1e-5);
  });

  it('takes a TensorInfo where the graph records no shape', async () => {
    const bare = onnx.ModelProto.create({ ...composed, graph: { ...composed.graph, valueInfo: [] } });
    const e = thrown(() => extractSubgraph(bare, { inputs: ['p0/y'], outputs: ['y'] }));
    expect(e.code).toBe('ONNX_GRAPH_INVALID');
    expect(e.message).toContain('no shape for p0/y');
    const piece = extractSubgraph(bare, {
      inputs: [{ name: 'p0/y', shape: ['batch', 'tokens', 5], dtype: 'float32' }],
      outputs: ['y'],
    });
    const y = await runModel(piece, mid, [2, 3, 5]);
    expect(maxAbsDiff(y, reference(1, 2, mid))).toBeLessThan(1e-5);
  });

  it('names similar tensors when one is not found', () => {
    const e = thrown(() => extractSubgraph(composed, { inputs: ['p0/Y'], outputs: ['y'] }));
    expect(e.code).toBe('ONNX_TENSOR_NOT_FOUND');
    expect(e.option).toBe('inputs[0]');
    expect(e.validValues?.[0]).toBe('p0/y');
    expect(
      thrown(() => extractSubgraph(composed, { inputs: ['p0/y'], outputs: ['y'], rename: { 'p1/y': 'z' } })).code,
    ).toBe('ONNX_TENSOR_NOT_FOUND');
  });

  it('rejects outputs that depend on a graph input left out', () => {
    const e = thrown(() => extractSubgraph(composed, { inputs: ['p1/y'], outputs: ['p0/y'] }));
    expect(e.code).toBe('ONNX_GRAPH_INVALID');
    expect(e.message).toContain('depends on graph input x');
  });

  it('rejects renames that collide and empty pieces', () => {
    expect(
      thrown(() => extractSubgraph(composed, { inputs: ['p0/y'], outputs: ['y'], rename: { 'p0/y': 'p1/y' } })).message,
    ).toMatch(/both p1\/y/);
    expect(thrown(() => extractSubgraph(composed, { inputs: ['p0/y'], outputs: ['p0/y'] })).message).toMatch(
      /both an input and an output/,
    );
  });
});
