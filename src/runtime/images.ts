/**
 * Raw images in: pixels (8-bit, interleaved or planar) become the model's input tensor through the
 * package's `preprocess` block — `(pixel × scale − mean[c]) / std[c]`, laid out as the model wants
 * (`NCHW` or `NHWC`). The package declares no resize: an image must already have the model's
 * width, height and channel count.
 */
import { RuntimeError } from '../errors.js';
import type { Manifest, Preprocess } from '../package/types.js';

/** How the pixels of an {@link ImageInput} are ordered. */
export type PixelLayout = 'hwc' | 'chw';

/**
 * One image as raw 8-bit pixels: row by row, each pixel's channels together (`'hwc'`, the default:
 * what a canvas `ImageData`, sharp's `raw()` or a decoded PNG gives), or one plane per channel
 * (`'chw'`).
 */
export interface ImageInput {
  /** `width × height × channels` values, 0..255. */
  pixels: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** Channels per pixel: 1 (grey), 3 (RGB), … — must be the model's channel count. */
  channels: number;
  /** Default `'hwc'`. */
  layout?: PixelLayout;
}

/** The model input a preprocessed image must fill. */
interface ImageGeometry {
  layout: Preprocess['layout'];
  channels: number;
  height: number;
  width: number;
}

/** True for one {@link ImageInput} or an array of them (as opposed to a float tensor). */
export function isImageInput(input: unknown): input is ImageInput | readonly ImageInput[] {
  if (Array.isArray(input)) return true; // a tensor is never an array; preprocessImages checks each image
  return isImageLike(input);
}

function isImageLike(x: unknown): boolean {
  return typeof x === 'object' && x !== null && 'pixels' in x;
}

function invalid(message: string, option: string, hint: string): RuntimeError {
  return new RuntimeError('INPUT_INVALID', message, { option, hint });
}

/** The channels, height and width the package's input takes, from its shape and `preprocess.layout`. */
export function imageGeometry(manifest: Manifest): ImageGeometry & { preprocess: Preprocess } {
  const { preprocess, input } = manifest;
  if (preprocess === undefined) {
    throw invalid(
      `The package "${manifest.name}" declares no preprocess, so raw pixels cannot be turned into its input`,
      'input',
      'Pass a Float32Array (or { data, dims }) prepared as the model expects.',
    );
  }
  const [, a, b, c] = input.shape;
  if (input.shape.length !== 4 || typeof a !== 'number' || typeof b !== 'number' || typeof c !== 'number') {
    throw invalid(
      `The package input "${input.name}" has shape [${input.shape.join(', ')}], not an image batch of fixed size`,
      'input',
      'Pass a Float32Array (or { data, dims }) prepared as the model expects.',
    );
  }
  const geometry =
    preprocess.layout === 'NCHW' ? { channels: a, height: b, width: c } : { height: a, width: b, channels: c };
  for (const key of ['mean', 'std'] as const) {
    const n = preprocess[key].length;
    if (n !== 1 && n !== geometry.channels) {
      throw invalid(
        `The package's preprocess.${key} has ${n} values for ${geometry.channels} channels`,
        'input',
        'Give one value per channel (or one for all) in the manifest.',
      );
    }
  }
  return { layout: preprocess.layout, ...geometry, preprocess };
}

/** Checks one image against the model's geometry; `where` names it in errors (`input`, `input[2]`). */
function checkImage(image: ImageInput, g: ImageGeometry, where: string): void {
  if (!isImageLike(image))
    throw invalid(
      `${where} is not an image`,
      where,
      'Pass { pixels, width, height, channels } for every image of a batch.',
    );
  const { pixels, width, height, channels } = image;
  const layout = image.layout ?? 'hwc';
  if (!(pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray)) {
    throw invalid(
      `${where}.pixels must be a Uint8Array or Uint8ClampedArray`,
      `${where}.pixels`,
      'Pass 8-bit pixel values; for float data already preprocessed, pass a Float32Array instead.',
    );
  }
  if (layout !== 'hwc' && layout !== 'chw') {
    throw invalid(
      `${where}.layout is ${JSON.stringify(layout)}`,
      `${where}.layout`,
      "Use 'hwc' (interleaved, the default) or 'chw' (planar).",
    );
  }
  for (const [key, v] of [
    ['width', width],
    ['height', height],
    ['channels', channels],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw invalid(
        `${where}.${key} is ${String(v)}, not a positive integer`,
        `${where}.${key}`,
        'Give the image size in pixels and its channels per pixel.',
      );
  }
  if (width !== g.width || height !== g.height) {
    throw invalid(
      `${where} is ${width}×${height} pixels; the model takes ${g.width}×${g.height}`,
      `${where}.width`,
      `Resize the image to ${g.width}×${g.height} first (the package declares no resize).`,
    );
  }
  if (channels !== g.channels) {
    const hint =
      channels === 4 && g.channels === 3
        ? 'Drop the alpha channel (RGBA → RGB) first.'
        : g.channels === 1
          ? 'Convert the image to greyscale first.'
          : `Convert the image to ${g.channels} channels first.`;
    throw invalid(
      `${where} has ${channels} channel${channels === 1 ? '' : 's'}; the model takes ${g.channels}`,
      `${where}.channels`,
      hint,
    );
  }
  if (pixels.length !== width * height * channels) {
    throw invalid(
      `${where}.pixels has ${pixels.length} values; ${width}×${height}×${channels} needs ${width * height * channels}`,
      `${where}.pixels`,
      'Pass exactly width × height × channels values.',
    );
  }
}

/**
 * Writes one checked image into `out` at `offset` (one sample of the model input): each value
 * scaled, centred and divided per channel, in the model's layout.
 */
function fillSample(image: ImageInput, g: ImageGeometry, p: Preprocess, out: Float32Array, offset: number): void {
  const { pixels } = image;
  const planar = (image.layout ?? 'hwc') === 'chw';
  const { channels: C, height: H, width: W } = g;
  const plane = H * W;
  for (let c = 0; c < C; c++) {
    const mean = (p.mean.length === 1 ? p.mean[0] : p.mean[c]) as number;
    const std = (p.std.length === 1 ? p.std[0] : p.std[c]) as number;
    for (let i = 0; i < plane; i++) {
      const value = pixels[planar ? c * plane + i : i * C + c] as number;
      out[offset + (g.layout === 'NCHW' ? c * plane + i : i * C + c)] = (value * p.scale - mean) / std;
    }
  }
}

/**
 * Turns one image or a batch of them into the model input `{ data, dims }`, applying the package's
 * `preprocess`.
 *
 * @throws RuntimeError INPUT_INVALID naming the image and field at fault (size, channels, pixel
 *   count), or when the package declares no preprocess or no fixed image input
 */
export function preprocessImages(
  input: ImageInput | readonly ImageInput[],
  manifest: Manifest,
): { data: Float32Array; dims: number[] } {
  const g = imageGeometry(manifest);
  const images = Array.isArray(input) ? (input as readonly ImageInput[]) : [input as ImageInput];
  if (images.length === 0) throw invalid('The input is an empty array of images', 'input', 'Pass at least one image.');
  const sample = g.channels * g.height * g.width;
  const data = new Float32Array(images.length * sample);
  images.forEach((image, i) => {
    const where = Array.isArray(input) ? `input[${i}]` : 'input';
    checkImage(image, g, where);
    fillSample(image, g, g.preprocess, data, i * sample);
  });
  const dims =
    g.layout === 'NCHW'
      ? [images.length, g.channels, g.height, g.width]
      : [images.length, g.height, g.width, g.channels];
  return { data, dims };
}
