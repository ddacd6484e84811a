import { describe, expect, it } from 'vitest';
import { blockIndexOf, detectBoundaries, splitAnchor } from '../../src/builder/split.js';
import { BuilderError } from '../../src/errors.js';
import {
  buildVitModel,
  graphInputs,
  graphOutputs,
  onnx,
  randomVitWeights,
  vitBoundaries,
  type Model,
  type VitConfig,
} from '../../src/onnx/index.js';

const TINY: VitConfig = {
  imageSize: 8,
  patchSize: 4,
  channels: 1,
  dim: 8,
  heads: 2,
  depth: 3,
  mlpRatio: 2,
  classes: 5,
};

/** The model with every node renamed `node_<i>`, as exports without module scopes look. */
function anonymised(m: Model): Model {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(m).finish());
  copy.graph!.node!.forEach((n, i) => (n.name = `node_${i}`));
  return copy;
}

describe('splitting an anchor', () => {
  const model = buildVitModel(randomVitWeights(TINY, 1));
  const expected = vitBoundaries(TINY.depth);

  it('reads block indices from exporter node names', () => {
    expect(blockIndexOf('/blocks.3/attn/qkv/MatMul')).toBe(3);
    expect(blockIndexOf('/anchors.1/blocks.11/Add_1')).toBe(11);
    expect(blockIndexOf('/vit/encoder/layer.7/attention/MatMul')).toBe(7);
    expect(blockIndexOf('/encoder/layers/encoder_layer_2/ln_1/LayerNormalization')).toBe(2);
    expect(blockIndexOf('/norm/LayerNormalization')).toBeUndefined();
  });

  it('detects the residual stream between blocks', () => {
    expect(detectBoundaries(model)).toEqual([expected.embedOut, ...expected.blockOut]);
  });

  it('cuts embed, blocks and head with stream interfaces', () => {
    const s = splitAnchor(model);
    expect(s.depth).toBe(3);
    expect(s.dim).toBe(8);
    expect(s.streamShape).toEqual(['batch', 5, 8]);
    expect(graphInputs(s.embed)).toEqual([{ name: 'input', shape: ['batch', 1, 8, 8], dtype: 'float32' }]);
    expect(graphOutputs(s.embed)).toEqual([{ name: 'tokens', shape: ['batch', 5, 8], dtype: 'float32' }]);
    for (const b of s.blocks) {
      expect(graphInputs(b)).toEqual([{ name: 'x', shape: ['batch', 5, 8], dtype: 'float32' }]);
      expect(graphOutputs(b)).toEqual([{ name: 'y', shape: ['batch', 5, 8], dtype: 'float32' }]);
    }
    expect(graphOutputs(s.head)).toEqual([{ name: 'logits', shape: ['batch', 5], dtype: 'float32' }]);
    // Every node lands in exactly one piece.
    const count = (m: Model) => m.graph!.node!.length;
    expect(count(s.embed) + s.blocks.reduce((a, b) => a + count(b), 0) + count(s.head)).toBe(count(model));
  });

  it('accepts explicit boundaries when node names carry no block index', () => {
    const anon = anonymised(model);
    expect(() => splitAnchor(anon, { file: 'a.onnx' })).toThrow(BuilderError);
    expect(() => splitAnchor(anon, { file: 'a.onnx' })).toThrow(/No block structure.*a\.onnx.*boundaries/s);
    const s = splitAnchor(anon, { boundaries: [expected.embedOut, ...expected.blockOut] });
    expect(s.depth).toBe(3);
  });

  it('rejects boundaries that are unknown or do not separate the graph', () => {
    const wrong = (boundaries: string[]) => () => splitAnchor(model, { boundaries });
    expect(wrong(['nope', ...expected.blockOut])).toThrow(/"nope" is not a tensor/);
    // Block 1's norm output does not cut the graph: the residual add still reads the block input.
    expect(
      wrong([
        expected.embedOut,
        expected.blockOut[0]!,
        '/blocks.1/norm1/LayerNormalization_output_0',
        expected.blockOut[2]!,
      ]),
    ).toThrow(expect.objectContaining({ code: 'BUILD_BOUNDARY_NOT_FOUND' }));
    expect(wrong([expected.embedOut])).toThrow(/n \+ 1/);
  });
});
