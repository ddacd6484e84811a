import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildVitModel, encodeModel, randomVitWeights, type VitConfig, type VitWeights } from '../../src/onnx/index.js';
import { rng } from './helpers.js';

/** A tiny ViT family: 28×28 grey input, patch 7 (17 tokens), 10 classes, depth 3. */
export const TINY_IMAGE = { imageSize: 28, patchSize: 7, channels: 1, mlpRatio: 2, classes: 10 } as const;

export function tinyConfig(dim: number, depth = 3): VitConfig {
  return { ...TINY_IMAGE, dim, heads: dim / 8, depth };
}

/** Writes anchors `<name>.onnx` into `dir` and returns their files and weights. */
export function writeFamily(
  dir: string,
  anchors: { name: string; config: VitConfig }[],
  seed = 1,
): { files: string[]; weights: VitWeights[] } {
  const weights = anchors.map((a, i) => randomVitWeights(a.config, seed + i));
  const files = anchors.map((a, i) => {
    const file = path.join(dir, `${a.name}.onnx`);
    writeFileSync(file, encodeModel(buildVitModel(weights[i]!)));
    return file;
  });
  return { files, weights };
}

/** An MNIST-format pair (`<prefix>-images-idx3-ubyte`, `<prefix>-labels-idx1-ubyte`) of random images. */
export function writeIdx(dir: string, prefix: string, count: number, side = 28, seed = 5): string {
  const next = rng(seed);
  const images = new Uint8Array(16 + count * side * side);
  const v = new DataView(images.buffer);
  images.set([0, 0, 8, 3]);
  v.setUint32(4, count);
  v.setUint32(8, side);
  v.setUint32(12, side);
  for (let i = 16; i < images.length; i++) images[i] = Math.floor(next() * 256);
  const labels = new Uint8Array(8 + count);
  labels.set([0, 0, 8, 1]);
  new DataView(labels.buffer).setUint32(4, count);
  for (let i = 8; i < labels.length; i++) labels[i] = Math.floor(next() * 10);
  const file = path.join(dir, `${prefix}-images-idx3-ubyte`);
  writeFileSync(file, images);
  writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), labels);
  return file;
}
