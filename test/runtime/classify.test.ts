/**
 * Images in, labels out, on the shipped Fashion-MNIST family: `run()` on raw pixels gives the
 * logits of the manifest's preprocessing done by hand, and `classify()` on the shipped samples
 * scores about the accuracy the manifest states.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import type { ImageInput } from '../../src/runtime/images.js';
import { softmax } from '../../src/runtime/classify.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';

const dir = path.resolve(import.meta.dirname, '..', '..', 'models', 'fmnist-vit');
/** 1,000 of the 10,000 test images: the standard error at ~85–90 % is ~1 point; allow three. */
const TOLERANCE = 0.03;

function idx(file: string): { shape: number[]; values: Uint8Array } {
  const bytes = gunzipSync(readFileSync(path.join(dir, 'samples', file)));
  const shape = Array.from({ length: bytes[3] as number }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  return { shape, values: bytes.subarray(4 + 4 * shape.length) };
}

let pkg: StitchPackage;
let rt: StitchRuntime;
let images: ImageInput[];
let labels: Uint8Array;

beforeAll(async () => {
  pkg = await readPackage(dir);
  const raw = idx('images-idx3-ubyte.gz');
  const [count, height, width] = raw.shape as [number, number, number];
  images = Array.from({ length: count }, (_, i) => ({
    pixels: raw.values.subarray(i * height * width, (i + 1) * height * width),
    width,
    height,
    channels: 1,
  }));
  labels = idx('labels-idx1-ubyte.gz').values;
  rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'], fastPath: false });
}, 60_000);

afterAll(async () => {
  await rt?.close();
});

/** The manifest's preprocessing by hand: one channel, (p × scale − mean) / std. */
function byHand(batch: readonly ImageInput[]): { data: Float32Array; dims: number[] } {
  const p = pkg.manifest.preprocess!;
  const data = new Float32Array(batch.length * 28 * 28);
  batch.forEach((im, i) => im.pixels.forEach((v, j) => (data[i * 784 + j] = (v * p.scale - p.mean[0]!) / p.std[0]!)));
  return { data, dims: [batch.length, 1, 28, 28] };
}

describe('images in, labels out (models/fmnist-vit)', () => {
  it('run() on raw pixels gives the logits of the preprocessing done by hand', async () => {
    const batch = images.slice(0, 16);
    const stitch = pkg.manifest.frontier.at(-1)!;
    const fromPixels = await rt.run(batch, { stitch });
    const fromTensor = await rt.run(byHand(batch), { stitch });
    expect(fromPixels.dims).toEqual([16, 10]);
    expect(fromPixels.provider).toBe('cpu');
    for (let i = 0; i < fromTensor.logits.length; i++)
      expect(fromPixels.logits[i]).toBeCloseTo(fromTensor.logits[i]!, 5);
    const single = await rt.run(batch[3]!, { stitch });
    expect(single.dims).toEqual([1, 10]);
    for (let i = 0; i < 10; i++) expect(single.logits[i]).toBeCloseTo(fromTensor.logits[30 + i]!, 4);
  });

  it('classify() labels one image: softmax of the logits over output.labels, sorted, topK kept', async () => {
    const stitch = pkg.manifest.frontier[0]!;
    const { logits } = await rt.run(images[0]!, { stitch });
    const r = await rt.classify(images[0]!, { stitch, topK: 10 });
    expect(r).toMatchObject({ stitch, provider: 'cpu', path: 'route' });
    expect(r.ms).toBeGreaterThanOrEqual(0);
    expect(r.images).toEqual([r.labels]);
    const p = softmax(logits);
    expect(r.labels.map((l) => l.label)).toEqual(
      [...p.keys()].sort((a, b) => p[b]! - p[a]!).map((i) => pkg.manifest.output.labels![i]),
    );
    for (const l of r.labels) expect(l.score).toBeCloseTo(p[l.index]!, 12);
    expect(r.labels.reduce((a, l) => a + l.score, 0)).toBeCloseTo(1, 9);
    expect((await rt.classify(images[0]!, { stitch })).labels).toHaveLength(5);
    expect((await rt.classify(images[0]!, { stitch, topK: 1 })).labels).toEqual([r.labels[0]]);
  });

  it.each(['smallest', 'middle'] as const)(
    'classify() of a batch: one list per image, and the %s frontier stitch scores its stated accuracy',
    async (which) => {
      const m = pkg.manifest;
      const stitch = which === 'smallest' ? m.frontier[0]! : m.frontier[Math.floor(m.frontier.length / 2)]!;
      let correct = 0;
      for (let start = 0; start < images.length; start += 100) {
        const r = await rt.classify(images.slice(start, start + 100), { stitch, topK: 1 });
        expect(r.images).toHaveLength(100);
        r.images.forEach((top, i) => {
          if (top[0]!.index === labels[start + i]) correct++;
        });
      }
      const stated = m.stitches[stitch]!.accuracy!;
      expect(Math.abs(correct / images.length - stated)).toBeLessThanOrEqual(TOLERANCE);
    },
  );

  it('rejects an image of the wrong size before running, naming the field', async () => {
    const wrong = { pixels: new Uint8Array(32 * 32), width: 32, height: 32, channels: 1 };
    await expect(rt.classify(wrong)).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      option: 'input.width',
      message: expect.stringMatching(/32×32 pixels; the model takes 28×28/),
    });
    await expect(rt.classify(images[0]!, { topK: 0 })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'topK',
    });
  });
});
