import type { VitConfig, VitWeights } from '../../src/onnx/index.js';

/**
 * All-zero weights for a ViT under timm's state-dict names: enough to build a graph whose
 * shapes are real (for counting costs) without drawing millions of random numbers.
 */
export function zeroVitWeights(c: VitConfig): VitWeights {
  const d = c.dim;
  const h = d * c.mlpRatio;
  const tokens = (c.imageSize / c.patchSize) ** 2 + 1;
  const specs: [string, number[]][] = [
    ['cls_token', [1, 1, d]],
    ['pos_embed', [1, tokens, d]],
    ['patch_embed.proj.weight', [d, c.channels, c.patchSize, c.patchSize]],
    ['patch_embed.proj.bias', [d]],
  ];
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}.`;
    specs.push(
      [`${b}norm1.weight`, [d]],
      [`${b}norm1.bias`, [d]],
      [`${b}attn.qkv.weight`, [3 * d, d]],
      [`${b}attn.qkv.bias`, [3 * d]],
      [`${b}attn.proj.weight`, [d, d]],
      [`${b}attn.proj.bias`, [d]],
      [`${b}norm2.weight`, [d]],
      [`${b}norm2.bias`, [d]],
      [`${b}mlp.fc1.weight`, [h, d]],
      [`${b}mlp.fc1.bias`, [h]],
      [`${b}mlp.fc2.weight`, [d, h]],
      [`${b}mlp.fc2.bias`, [d]],
    );
  }
  specs.push(['norm.weight', [d]], ['norm.bias', [d]], ['head.weight', [c.classes, d]], ['head.bias', [c.classes]]);
  return {
    config: c,
    tensors: new Map(
      specs.map(([name, dims]) => [name, { dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) }]),
    ),
  };
}
