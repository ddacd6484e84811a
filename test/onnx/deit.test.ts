import { describe, expect, it } from 'vitest';
import {
  type Model,
  DEIT_B,
  DEIT_S,
  DEIT_TI,
  buildVitModel,
  encodeModel,
  graphInputs,
  graphOutputs,
  randomVitWeights,
  toNumber,
} from '../../src/onnx/index.js';

function initializerParams(m: Model): number {
  return (m.graph?.initializer ?? []).reduce(
    (a, t) => a + (t.dims ?? []).reduce<number>((p, d) => p * toNumber(d), 1),
    0,
  );
}

describe('DeiT-scale anchors', () => {
  it('DeiT-S builds and encodes to about 4 bytes per parameter', () => {
    const m = buildVitModel(randomVitWeights(DEIT_S, 1));
    expect(initializerParams(m)).toBe(22_050_664);
    expect(graphInputs(m)).toEqual([{ name: 'input', shape: ['batch', 3, 224, 224], dtype: 'float32' }]);
    expect(graphOutputs(m)).toEqual([{ name: 'logits', shape: ['batch', 1000], dtype: 'float32' }]);
    const bytes = encodeModel(m).length;
    expect(bytes).toBeGreaterThan(4 * 22_050_664);
    expect(bytes).toBeLessThan(4 * 22_050_664 * 1.002);
  });

  it('DeiT-Ti has the published parameter count', () => {
    expect(initializerParams(buildVitModel(randomVitWeights(DEIT_TI, 1)))).toBe(5_717_416);
  });

  it('DeiT-B has the published shape', () => {
    // Building DeiT-B takes ~0.7 GB and seconds; its size follows from the same code as Ti and S.
    expect(DEIT_B).toMatchObject({
      dim: 768,
      heads: 12,
      depth: 12,
      mlpRatio: 4,
      patchSize: 16,
      imageSize: 224,
      classes: 1000,
    });
  });
});
