/**
 * Raw pixels → model input through a manifest's `preprocess` (pure: no ORT), and the labelling of
 * logits (softmax, sorting, topK).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStitchnetError } from '../../src/errors.js';
import type { Manifest } from '../../src/package/types.js';
import { checkTopK, labelLogits, softmax } from '../../src/runtime/classify.js';
import { preprocessImages, type ImageInput } from '../../src/runtime/images.js';

/** A manifest with just what preprocessing and labelling read. */
function manifest(
  layout: 'NCHW' | 'NHWC',
  preprocess: Partial<NonNullable<Manifest['preprocess']>> | null = {},
  labels?: string[],
): Manifest {
  const shape = layout === 'NCHW' ? ['batch', 3, 2, 4] : ['batch', 2, 4, 3];
  return {
    name: 'pixels',
    input: { name: 'input', shape, dtype: 'float32' },
    output: { name: 'logits', shape: ['batch', 3], dtype: 'float32', ...(labels ? { labels } : {}) },
    ...(preprocess === null
      ? {}
      : { preprocess: { layout, scale: 1 / 255, mean: [0.5, 0.25, 0], std: [0.5, 0.25, 1], ...preprocess } }),
  } as Manifest;
}

/** A 4×2 RGB image whose value at (y, x, c) is y * 100 + x * 10 + c. */
function rgb(layout: 'hwc' | 'chw' = 'hwc'): ImageInput {
  const pixels = new Uint8Array(2 * 4 * 3);
  for (let y = 0; y < 2; y++)
    for (let x = 0; x < 4; x++)
      for (let c = 0; c < 3; c++)
        pixels[layout === 'hwc' ? (y * 4 + x) * 3 + c : c * 8 + y * 4 + x] = y * 100 + x * 10 + c;
  return { pixels, width: 4, height: 2, channels: 3, layout };
}

const expected = (y: number, x: number, c: number) =>
  ((y * 100 + x * 10 + c) / 255 - [0.5, 0.25, 0][c]!) / [0.5, 0.25, 1][c]!;

function error(f: () => unknown): { code: string; option?: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isStitchnetError(e)) return e as never;
    throw e;
  }
  throw new Error('did not throw');
}

describe('preprocessImages', () => {
  it('scales, centres and divides per channel into NCHW, from interleaved or planar pixels alike', () => {
    for (const layout of ['hwc', 'chw'] as const) {
      const { data, dims } = preprocessImages(rgb(layout), manifest('NCHW'));
      expect(dims).toEqual([1, 3, 2, 4]);
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 2; y++)
          for (let x = 0; x < 4; x++) expect(data[c * 8 + y * 4 + x]).toBeCloseTo(expected(y, x, c), 6);
    }
  });

  it('lays out NHWC models interleaved', () => {
    const { data, dims } = preprocessImages(rgb('chw'), manifest('NHWC'));
    expect(dims).toEqual([1, 2, 4, 3]);
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < 4; x++)
        for (let c = 0; c < 3; c++) expect(data[(y * 4 + x) * 3 + c]).toBeCloseTo(expected(y, x, c), 6);
  });

  it('stacks an array of images into one batch, in order; one mean/std value applies to every channel', () => {
    const m = manifest('NCHW', { mean: [0], std: [1], scale: 1 });
    const a = rgb();
    const b = { ...rgb(), pixels: Uint8ClampedArray.from(rgb().pixels, (v) => 255 - v) };
    const { data, dims } = preprocessImages([a, b], m);
    expect(dims).toEqual([2, 3, 2, 4]);
    expect(data.subarray(0, 24)).toEqual(preprocessImages(a, m).data);
    expect(data.subarray(24)).toEqual(preprocessImages(b, m).data);
  });

  it('maps every pixel value as (v × scale − mean) / std (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        fc.double({ min: 1e-3, max: 1, noNaN: true }),
        (pixels, scale) => {
          const m = manifest('NHWC', { scale, mean: [0.1], std: [0.2] });
          const { data } = preprocessImages({ pixels, width: 4, height: 2, channels: 3 }, m);
          pixels.forEach((v, i) => expect(data[i]).toBe(Math.fround((v * scale - 0.1) / 0.2)));
        },
      ),
    );
  });

  it('rejects a size, channel count or pixel count the model does not take, naming the field and what to do', () => {
    const m = manifest('NCHW');
    expect(error(() => preprocessImages({ ...rgb(), width: 2, height: 4 }, m))).toMatchObject({
      code: 'INPUT_INVALID',
      option: 'input.width',
      message: expect.stringMatching(/2×4 pixels; the model takes 4×2.*Resize/),
    });
    expect(
      error(() => preprocessImages({ pixels: new Uint8Array(32), width: 4, height: 2, channels: 4 }, m)),
    ).toMatchObject({
      option: 'input.channels',
      message: expect.stringMatching(/4 channels; the model takes 3.*alpha/),
    });
    expect(error(() => preprocessImages({ ...rgb(), pixels: new Uint8Array(23) }, m))).toMatchObject({
      option: 'input.pixels',
      message: expect.stringMatching(/23 values; 4×2×3 needs 24/),
    });
    expect(error(() => preprocessImages([rgb(), { ...rgb(), channels: 0 }], m))).toMatchObject({
      option: 'input[1].channels',
    });
    expect(error(() => preprocessImages({ ...rgb(), layout: 'hcw' as never }, m))).toMatchObject({
      option: 'input.layout',
    });
    expect(error(() => preprocessImages({ ...rgb(), pixels: new Float32Array(24) as never }, m))).toMatchObject({
      option: 'input.pixels',
      message: expect.stringMatching(/Float32Array instead/),
    });
    expect(error(() => preprocessImages([], m))).toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringMatching(/empty/),
    });
    expect(error(() => preprocessImages(rgb(), manifest('NCHW', null)))).toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringMatching(/declares no preprocess/),
    });
    expect(error(() => preprocessImages(rgb(), manifest('NCHW', { mean: [0, 0] })))).toMatchObject({
      message: expect.stringMatching(/preprocess.mean has 2 values for 3 channels/),
    });
  });
});

describe('labelLogits', () => {
  it('gives each sample its classes by softmax probability, most probable first, named by output.labels', () => {
    const m = manifest('NCHW', {}, ['cat', 'dog', 'bird']);
    const out = labelLogits(Float32Array.from([1, 3, 2, 0, 0, 5]), [2, 3], m, 5);
    expect(out.map((r) => r.map((l) => l.label))).toEqual([
      ['dog', 'bird', 'cat'],
      ['bird', 'cat', 'dog'],
    ]);
    const e = [Math.exp(1), Math.exp(3), Math.exp(2)];
    const sum = e[0]! + e[1]! + e[2]!;
    expect(out[0]![0]).toEqual({ label: 'dog', index: 1, score: expect.closeTo(e[1]! / sum, 12) });
    for (const r of out) expect(r.reduce((a, l) => a + l.score, 0)).toBeCloseTo(1, 12);
    // ties keep class order
    expect(out[1]!.slice(1).map((l) => l.index)).toEqual([0, 1]);
    expect(labelLogits(Float32Array.from([1, 3, 2]), [1, 3], m, 1)[0]).toHaveLength(1);
  });

  it('names classes by index without labels, and rejects labels that do not match the output or a non-classifier output', () => {
    expect(labelLogits(Float32Array.from([0, 1, 0]), [1, 3], manifest('NCHW'), 1)[0]![0]!.label).toBe('1');
    expect(
      error(() => labelLogits(Float32Array.from([0, 1, 0]), [1, 3], manifest('NCHW', {}, ['a', 'b']), 1)),
    ).toMatchObject({
      code: 'INFERENCE_FAILED',
      message: expect.stringMatching(/2 labels, but its output has 3 classes/),
    });
    expect(error(() => labelLogits(new Float32Array(6), [1, 2, 3], manifest('NCHW'), 1))).toMatchObject({
      code: 'INFERENCE_FAILED',
    });
  });

  it('softmax does not overflow and topK must be a positive integer', () => {
    expect([...softmax([1000, 1000])]).toEqual([0.5, 0.5]);
    expect(checkTopK(undefined)).toBe(5);
    for (const bad of [0, -1, 1.5, '3', Number.NaN])
      expect(error(() => checkTopK(bad))).toMatchObject({ code: 'OPTION_INVALID', option: 'topK' });
  });
});
