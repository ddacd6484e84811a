/**
 * The shipped Fashion-MNIST family: the package reads, and three of its stitches (the smallest
 * anchor, a stitch from the middle of the frontier, the largest anchor) classify the shipped sample
 * images about as well as the manifest says they do on the full test set.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../src/data/index.js';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const dir = path.join(root, 'models', 'fmnist-vit');
/**
 * The manifest's accuracy is measured on the 10,000 test images; the samples are 1,000 of them,
 * 100 per class drawn at random (recipe/samples.py). At ~85–90 % accuracy the standard error of a
 * 1,000-image estimate is ~1 point, so the two must agree within 3 points (three standard errors).
 */
const TOLERANCE = 0.03;

let pkg: StitchPackage;
let samples: Dataset;
let rt: StitchRuntime;

beforeAll(async () => {
  pkg = await readPackage(dir);
  const m = pkg.manifest;
  samples = await openDataset(path.join(dir, 'samples'), {
    shape: m.input.shape,
    ...(m.preprocess ? { preprocess: m.preprocess } : {}),
  });
  rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'] });
}, 60_000);

afterAll(async () => {
  await rt?.close();
});

/** Top-1 accuracy of one stitch on every sample, in batches of 100. */
async function accuracy(stitch: number): Promise<number> {
  const labels = samples.labels as Int32Array;
  let correct = 0;
  for (let start = 0; start < samples.size; start += 100) {
    const n = Math.min(100, samples.size - start);
    const r = await rt.run({ data: samples.batch(start, n), dims: [n, ...samples.sampleShape] }, { stitch });
    expect(r.stitch).toBe(stitch);
    const classes = r.dims[1] as number;
    for (let i = 0; i < n; i++) {
      const row = r.logits.subarray(i * classes, (i + 1) * classes);
      if (row.indexOf(Math.max(...row)) === labels[start + i]) correct++;
    }
  }
  return correct / samples.size;
}

describe('models/fmnist-vit', () => {
  it('is a valid package with trained accuracies, ≥ 30 stitches and ~1,000 labelled samples', () => {
    const m = pkg.manifest;
    expect(m.name).toBe('fmnist-vit');
    expect(m.anchors.map((a) => a.id)).toEqual(['tiny', 'small', 'base']);
    expect(m.stitches.length - m.anchors.length).toBeGreaterThanOrEqual(30);
    expect(m.stitches.every((s) => s.accuracy !== undefined && s.macs !== undefined)).toBe(true);
    expect(m.evaluation?.samples).toBe(10_000);
    expect(samples.size).toBe(1000);
    expect(samples.labels?.length).toBe(1000);
  });

  it('runs three stitches on the shipped samples at the accuracy the manifest states (± 3 points)', async () => {
    const m = pkg.manifest;
    const anchors = m.stitches
      .filter((s) => s.route.length === 1)
      .sort((a, b) => (a.macs as number) - (b.macs as number));
    const smallest = anchors[0]!;
    const largest = anchors[anchors.length - 1]!;
    const stitched = m.frontier.map((id) => m.stitches[id]!).filter((s) => s.route.length > 1);
    const middle = stitched[Math.floor(stitched.length / 2)]!;
    for (const s of [smallest, middle, largest]) {
      const acc = await accuracy(s.id);
      expect(
        Math.abs(acc - (s.accuracy as number)),
        `stitch ${s.id}: ${acc} on the samples, ${s.accuracy} in the manifest`,
      ).toBeLessThanOrEqual(TOLERANCE);
    }
  }, 120_000);
});
