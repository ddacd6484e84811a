/**
 * Labelled data for calibration and evaluation, read into the model's input layout and
 * preprocessed as the package declares (`x · scale`, then `(x − mean) / std` per channel).
 *
 * Three sources:
 * - **IDX** files (the MNIST / Fashion-MNIST format), gzipped or not: an images file and, for
 *   labels, the matching `…labels-idx1…` file next to it (or one given explicitly).
 * - **`.npy` pairs**: an images array (`x.npy`, `images.npy`, …) and a labels array (`y.npy`,
 *   `labels.npy`, …). The reader parses the small `.npy` header itself: the format is a magic
 *   string, a length and a Python dict literal with `descr`, `fortran_order` and `shape`, and
 *   the only npm readers are unmaintained or pull in a NumPy-compatible array library.
 * - **A folder of images per class** (`root/<class>/*.png|jpg|jpeg|gif`): class names sorted are
 *   the labels. Images are decoded and resized to the model input by resvg (the SVG renderer the
 *   package already uses for plots): each file is drawn as an SVG `<image>` that covers the input
 *   size, which is a resize of the shorter side followed by a centre crop. Grey models get the
 *   ITU-R 601 luma of the RGB pixels.
 *
 * Array samples must already have the model's sample shape (up to dimensions of size 1, flattened
 * for a model that takes vectors, or with channels last instead of first); nothing is resized.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { messageOf } from '../base/message.js';
import type { Resvg as ResvgClass } from '@resvg/resvg-js';
import { importOptional } from '../base/optional.js';
import { BuilderError, OptionError } from '../errors.js';
import type { Dim, Preprocess } from '../package/schema.js';

/** The model input a dataset is read for. */
export interface InputSpec {
  /** The model input shape, batch first (e.g. `['batch', 1, 28, 28]`). */
  shape: readonly Dim[];
  layout?: 'NCHW' | 'NHWC';
  preprocess?: Partial<Preprocess>;
}

/** Where a dataset is: a file or folder, with an optional explicit labels file. */
export type DataSource = string | { images: string; labels?: string };

export interface OpenDatasetOptions {
  /** Fail unless every sample has a label (evaluation). */
  requireLabels?: boolean;
  /** Use only the first `limit` samples. */
  limit?: number;
  /** The CLI option the source came from, for messages (e.g. `--calib`). */
  option?: string;
}

/** A dataset read for one model input. */
export interface Dataset {
  /** A short description: the file or folder name. */
  name: string;
  size: number;
  /** The model's sample shape (input shape without the batch). */
  sampleShape: number[];
  /** One label per sample, when the source has labels. */
  labels?: Int32Array;
  /** Class names, for a folder of images per class. */
  classes?: string[];
  /**
   * Samples `start .. start+count-1`, preprocessed, as one `[count, ...sampleShape]` array.
   */
  batch(start: number, count: number): Float32Array;
}

/** Raw samples in the model's layout, not yet normalised. */
interface RawSource {
  count: number;
  /** Writes sample `i` into `out` at `offset`. */
  read(i: number, out: Float32Array, offset: number): void;
}

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function dataError(message: string, file: string | undefined, option: string | undefined, hint: string): BuilderError {
  return new BuilderError('BUILD_DATA_INVALID', message, { file, option, hint });
}

function readMaybeGzip(file: string, option?: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new BuilderError('BUILD_DATA_INVALID', `Cannot read data file ${file}: ${messageOf(cause)}`, {
      file,
      option,
      cause,
      hint: 'Check the path; pass an IDX or .npy file, or a folder with one sub-folder of images per class',
    });
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (cause) {
      throw new BuilderError(
        'BUILD_DATA_INVALID',
        `${file} looks gzipped but does not decompress: ${messageOf(cause)}`,
        {
          file,
          option,
          cause,
          hint: 'The download is probably truncated; fetch the file again',
        },
      );
    }
  }
  return bytes;
}

/** A decoded n-d array: sample-major values and their shape. */
export interface NdArray {
  shape: number[];
  data: ArrayLike<number>;
}

const IDX_TYPES: Record<number, [number, (v: DataView, o: number) => number]> = {
  0x08: [1, (v, o) => v.getUint8(o)],
  0x09: [1, (v, o) => v.getInt8(o)],
  0x0b: [2, (v, o) => v.getInt16(o, false)],
  0x0c: [4, (v, o) => v.getInt32(o, false)],
  0x0d: [4, (v, o) => v.getFloat32(o, false)],
  0x0e: [8, (v, o) => v.getFloat64(o, false)],
};

/** Parses an IDX file (big-endian, as MNIST ships). */
export function parseIdx(bytes: Uint8Array, file?: string): NdArray {
  const bad = (why: string) =>
    dataError(
      `${file ?? 'The data'} is not an IDX file: ${why}`,
      file,
      undefined,
      'Pass MNIST-format files such as train-images-idx3-ubyte(.gz)',
    );
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw bad('it does not start with the IDX magic number');
  const type = IDX_TYPES[bytes[2] as number];
  if (!type) throw bad(`unknown element type 0x${(bytes[2] as number).toString(16)}`);
  const ndim = bytes[3] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * ndim) throw bad('the header is cut short');
  const shape = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const offset = 4 + 4 * ndim;
  const [size, get] = type;
  const n = numel(shape);
  if (bytes.length !== offset + n * size)
    throw bad(`shape [${shape.join(', ')}] needs ${offset + n * size} bytes, the file has ${bytes.length}`);
  if (size === 1 && bytes[2] === 0x08) return { shape, data: bytes.subarray(offset) };
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = get(view, offset + i * size);
  return { shape, data };
}

const NPY_TYPES: Record<string, [number, (v: DataView, o: number, le: boolean) => number]> = {
  f4: [4, (v, o, le) => v.getFloat32(o, le)],
  f8: [8, (v, o, le) => v.getFloat64(o, le)],
  u1: [1, (v, o) => v.getUint8(o)],
  i1: [1, (v, o) => v.getInt8(o)],
  b1: [1, (v, o) => v.getUint8(o)],
  u2: [2, (v, o, le) => v.getUint16(o, le)],
  i2: [2, (v, o, le) => v.getInt16(o, le)],
  u4: [4, (v, o, le) => v.getUint32(o, le)],
  i4: [4, (v, o, le) => v.getInt32(o, le)],
  i8: [8, (v, o, le) => Number(v.getBigInt64(o, le))],
  u8: [8, (v, o, le) => Number(v.getBigUint64(o, le))],
};

/** Parses a NumPy `.npy` file (C order; any integer, bool or float element type). */
export function parseNpy(bytes: Uint8Array, file?: string): NdArray {
  const bad = (why: string) =>
    dataError(
      `${file ?? 'The data'} is not a usable .npy file: ${why}`,
      file,
      undefined,
      'Save the array with numpy.save (C order, a numeric dtype)',
    );
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw bad('it does not start with \\x93NUMPY');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6] as number;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z])(\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeText) throw bad(`cannot read its header ${header.trim()}`);
  if (fortran[1] === 'True') throw bad('it is stored in Fortran order');
  const key = `${descr[2]}${descr[3]}`;
  const type = NPY_TYPES[key];
  if (!type) throw bad(`element type ${descr[0]} is not supported`);
  const shape = (shapeText[1] as string)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const offset = start + headerLen;
  const [size, get] = type;
  const n = numel(shape);
  if (bytes.length < offset + n * size)
    throw bad(`shape [${shape.join(', ')}] needs ${n * size} data bytes, the file has ${bytes.length - offset}`);
  const le = descr[1] !== '>';
  if (key === 'u1' || key === 'b1') return { shape, data: bytes.subarray(offset, offset + n) };
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = get(view, offset + i * size, le);
  return { shape, data };
}

/** How to copy a raw sample of shape `raw` into the model's sample shape `model`. */
function sampleMapping(
  raw: readonly number[],
  model: readonly number[],
  layout: 'NCHW' | 'NHWC',
): ((src: ArrayLike<number>, base: number, out: Float32Array, offset: number) => void) | undefined {
  const n = numel(model);
  if (numel(raw) !== n) return undefined;
  const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1).join('x');
  const copy = (src: ArrayLike<number>, base: number, out: Float32Array, offset: number) => {
    for (let k = 0; k < n; k++) out[offset + k] = src[base + k] as number;
  };
  if (squeeze(raw) === squeeze(model) || model.length === 1) return copy;
  if (raw.length !== 3 || model.length !== 3) return undefined;
  const [a, b, c] = raw as [number, number, number];
  if (layout === 'NCHW' && model[0] === c && model[1] === a && model[2] === b) {
    // raw HWC → model CHW
    return (src, base, out, offset) => {
      for (let ch = 0; ch < c; ch++)
        for (let p = 0; p < a * b; p++) out[offset + ch * a * b + p] = src[base + p * c + ch] as number;
    };
  }
  if (layout === 'NHWC' && model[0] === b && model[1] === c && model[2] === a) {
    // raw CHW → model HWC
    return (src, base, out, offset) => {
      for (let p = 0; p < b * c; p++)
        for (let ch = 0; ch < a; ch++) out[offset + p * a + ch] = src[base + ch * b * c + p] as number;
    };
  }
  return undefined;
}

function arraySource(
  arr: NdArray,
  sampleShape: number[],
  layout: 'NCHW' | 'NHWC',
  file: string,
  option?: string,
): RawSource {
  const raw = arr.shape.slice(1);
  const map = sampleMapping(raw, sampleShape, layout);
  if (!map || arr.shape.length < 1) {
    throw dataError(
      `${path.basename(file)} holds samples of shape [${raw.join(', ')}], but the model takes [${sampleShape.join(', ')}] per sample`,
      file,
      option,
      'Pass data shaped like the model input (channels first or last), or a folder of images to be resized',
    );
  }
  const per = numel(raw);
  return { count: arr.shape[0] ?? 0, read: (i, out, offset) => map(arr.data, i * per, out, offset) };
}

function labelsFrom(arr: NdArray, file: string, option?: string): Int32Array {
  if (arr.shape.length < 1 || numel(arr.shape) !== arr.shape[0]) {
    throw dataError(
      `Labels in ${path.basename(file)} have shape [${arr.shape.join(', ')}], expected one integer per sample`,
      file,
      option,
      'Pass a 1-D array of class indices',
    );
  }
  const out = Int32Array.from(arr.data as ArrayLike<number>);
  out.forEach((v, i) => {
    if (v < 0 || v !== (arr.data[i] as number))
      throw dataError(
        `Label ${i} in ${path.basename(file)} is ${arr.data[i]}, not a class index`,
        file,
        option,
        'Labels must be non-negative integers',
      );
  });
  return out;
}

const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
};

/** Decodes one image file, covering `w × h` (shorter side resized, centre crop), as RGBA bytes. */
function decodeImage(Resvg: typeof ResvgClass, file: string, w: number, h: number): Uint8Array {
  const bytes = readFileSync(file);
  const mime = IMAGE_TYPES[path.extname(file).toLowerCase()] ?? 'image/png';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${h}"><image width="${w}" height="${h}" preserveAspectRatio="xMidYMid slice" xlink:href="data:${mime};base64,${bytes.toString('base64')}"/></svg>`;
  const img = new Resvg(svg, { background: 'white', font: { loadSystemFonts: false } }).render();
  if (img.width !== w || img.height !== h)
    throw dataError(`Cannot decode image ${file}`, file, undefined, 'Use PNG, JPEG or GIF images');
  return new Uint8Array(img.pixels);
}

/** Spatial size and channel count of an image model input. */
function imageGeometry(
  sampleShape: number[],
  layout: 'NCHW' | 'NHWC',
  dir: string,
  option?: string,
): { c: number; h: number; w: number } {
  if (sampleShape.length !== 3) {
    throw dataError(
      `A folder of images needs an image model input, but the model takes [${sampleShape.join(', ')}] per sample`,
      dir,
      option,
      'Pass IDX or .npy data shaped like the model input',
    );
  }
  const [c, h, w] =
    layout === 'NCHW'
      ? (sampleShape as [number, number, number])
      : ([sampleShape[2], sampleShape[0], sampleShape[1]] as [number, number, number]);
  if (c !== 1 && c !== 3)
    throw dataError(
      `The model input has ${c} channels; images give 1 (grey) or 3 (RGB)`,
      dir,
      option,
      'Check the input layout (NCHW or NHWC)',
    );
  return { c, h, w };
}

async function imageFolderSource(
  dir: string,
  sampleShape: number[],
  layout: 'NCHW' | 'NHWC',
  option?: string,
): Promise<{ source: RawSource; labels: Int32Array; classes: string[] }> {
  const classes = readdirSync(dir)
    .filter((d) => statSync(path.join(dir, d)).isDirectory())
    .sort();
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((cls, label) => {
    for (const f of readdirSync(path.join(dir, cls)).sort()) {
      if (IMAGE_TYPES[path.extname(f).toLowerCase()]) {
        files.push(path.join(dir, cls, f));
        labels.push(label);
      }
    }
  });
  const { c, h, w } = imageGeometry(sampleShape, layout, dir, option);
  const { Resvg } = await importOptional('@resvg/resvg-js', () => import('@resvg/resvg-js'));
  const read = (i: number, out: Float32Array, offset: number): void => {
    const px = decodeImage(Resvg, files[i] as string, w, h);
    for (let p = 0; p < h * w; p++) {
      const r = px[4 * p] as number;
      const g = px[4 * p + 1] as number;
      const b = px[4 * p + 2] as number;
      if (c === 1) out[offset + p] = (r * 299 + g * 587 + b * 114) / 1000;
      else if (layout === 'NCHW') {
        out[offset + p] = r;
        out[offset + h * w + p] = g;
        out[offset + 2 * h * w + p] = b;
      } else {
        out[offset + 3 * p] = r;
        out[offset + 3 * p + 1] = g;
        out[offset + 3 * p + 2] = b;
      }
    }
  };
  return { source: { count: files.length, read }, labels: Int32Array.from(labels), classes };
}

/** The labels file next to an images file, by the usual naming (`images`→`labels`, `idx3`→`idx1`, `x`→`y`). */
export function siblingLabels(images: string): string | undefined {
  const dir = path.dirname(images);
  const base = path.basename(images);
  const candidates = [
    base.replace(/images/g, 'labels').replace(/idx3/g, 'idx1'),
    base.replace(/^x(\W|_|$)/, 'y$1').replace(/_x\./, '_y.'),
    base.replace(/inputs/g, 'targets').replace(/data\.npy$/, 'labels.npy'),
  ].filter((c) => c !== base);
  return candidates.map((c) => path.join(dir, c)).find((p) => existsSync(p));
}

const NPY_IMAGES = ['x.npy', 'images.npy', 'inputs.npy', 'data.npy'];

/** Resolves a folder to an images file (npy or IDX), or undefined for a folder of class folders. */
function imagesFileIn(dir: string, option?: string): string | undefined {
  const entries = readdirSync(dir);
  const npy = NPY_IMAGES.find((n) => entries.includes(n));
  if (npy) return path.join(dir, npy);
  const idx = entries.filter((e) => /images.*idx3/.test(e));
  if (idx.length > 1) {
    throw dataError(`Folder ${dir} holds several IDX image files`, dir, option, `Pass one of them: ${idx.join(', ')}`);
  }
  return idx[0] ? path.join(dir, idx[0]) : undefined;
}

function normaliser(
  sampleShape: number[],
  layout: 'NCHW' | 'NHWC',
  pre: Partial<Preprocess> | undefined,
  option?: string,
): (out: Float32Array, offset: number) => void {
  const scale = pre?.scale ?? 1;
  const mean = pre?.mean ?? [0];
  const std = pre?.std ?? [1];
  const n = numel(sampleShape);
  const channels = sampleShape.length === 3 ? ((layout === 'NCHW' ? sampleShape[0] : sampleShape[2]) ?? 1) : 1;
  for (const [name, v] of [
    ['mean', mean],
    ['std', std],
  ] as const) {
    if (v.length !== 1 && v.length !== channels) {
      throw new OptionError(
        'OPTION_INVALID',
        `preprocess.${name} has ${v.length} values, the model input has ${channels} channel(s)`,
        {
          option: option ?? `preprocess.${name}`,
          validValues: [1, channels],
          hint: 'Give one value for all channels or one per channel',
        },
      );
    }
  }
  const plane = channels > 1 && layout === 'NCHW' ? n / channels : 1;
  return (out, offset) => {
    for (let k = 0; k < n; k++) {
      const ch = channels === 1 ? 0 : layout === 'NCHW' ? Math.floor(k / plane) : k % channels;
      out[offset + k] =
        ((out[offset + k] as number) * scale - ((mean[ch] ?? mean[0]) as number)) / ((std[ch] ?? std[0]) as number);
    }
  };
}

/**
 * Opens a dataset for a model input.
 *
 * @throws BuilderError `BUILD_DATA_INVALID` when the files can't be read or parsed, the samples
 *   don't fit the model input, the images and labels disagree in count, the set is empty, or
 *   labels are required and missing.
 */
export async function openDataset(
  source: DataSource,
  input: InputSpec,
  options: OpenDatasetOptions = {},
): Promise<Dataset> {
  const { option } = options;
  const layout = input.layout ?? input.preprocess?.layout ?? 'NCHW';
  const sampleShape = fixedSampleShape(input, option);
  const spec = typeof source === 'string' ? { images: source } : source;
  const { name, raw, labels, classes } = await readSamples(spec, sampleShape, layout, option);
  const size = Math.min(raw.count, options.limit ?? raw.count);
  if (size === 0)
    throw dataError(`Dataset ${spec.images} is empty`, spec.images, option, 'Pass a dataset with at least one sample');
  if (options.requireLabels && !labels) {
    throw dataError(
      `Dataset ${spec.images} has no labels`,
      spec.images,
      option,
      'Put the labels file next to the images (…labels-idx1…, y.npy) or pass it explicitly, or use a folder per class',
    );
  }
  const normalise = normaliser(sampleShape, layout, input.preprocess, option);
  return {
    name,
    size,
    sampleShape,
    ...(labels ? { labels: labels.subarray(0, size) } : {}),
    ...(classes ? { classes } : {}),
    batch: batchReader(raw, size, numel(sampleShape), normalise),
  };
}

/** The model input's shape without the batch; every dimension must be a number. */
function fixedSampleShape(input: InputSpec, option: string | undefined): number[] {
  return input.shape.slice(1).map((d, i) => {
    if (typeof d === 'number') return d;
    throw dataError(
      `The model input dimension ${i + 1} is symbolic ("${d}")`,
      undefined,
      option,
      'Export the model with a fixed sample shape (only the batch may be symbolic)',
    );
  });
}

/** What a data path holds: its samples, and labels (with class names for an image folder) where there are some. */
interface Samples {
  name: string;
  raw: RawSource;
  labels?: Int32Array | undefined;
  classes?: string[] | undefined;
}

/** Reads an image folder, or an IDX / .npy file (a folder's images file) with its labels file if any. */
async function readSamples(
  spec: { images: string; labels?: string | undefined },
  sampleShape: number[],
  layout: 'NCHW' | 'NHWC',
  option: string | undefined,
): Promise<Samples> {
  if (!existsSync(spec.images)) {
    throw dataError(
      `Data path ${spec.images} does not exist`,
      spec.images,
      option,
      'Pass an IDX or .npy file, or a folder with one sub-folder of images per class',
    );
  }
  const name = path.basename(spec.images);
  const isDir = statSync(spec.images).isDirectory();
  const file = isDir ? imagesFileIn(spec.images, option) : spec.images;
  if (file === undefined) {
    const folder = await imageFolderSource(spec.images, sampleShape, layout, option);
    return { name, raw: folder.source, labels: folder.labels, classes: folder.classes };
  }
  const raw = arraySource(parseArrayFile(file, option), sampleShape, layout, file, option);
  const labels = readLabels(spec.labels ?? siblingLabels(file), file, raw.count, option);
  return { name: isDir ? `${name}/${path.basename(file)}` : name, raw, labels };
}

/** An IDX or .npy file (gzipped or not), parsed. */
function parseArrayFile(file: string, option: string | undefined): ReturnType<typeof parseIdx> {
  const parse = file.replace(/\.gz$/, '').endsWith('.npy') ? parseNpy : parseIdx;
  return parse(readMaybeGzip(file, option), file);
}

/** The labels of `imagesFile`'s samples from `labelsFile`, which must hold one per sample. */
function readLabels(
  labelsFile: string | undefined,
  imagesFile: string,
  count: number,
  option: string | undefined,
): Int32Array | undefined {
  if (!labelsFile) return undefined;
  const labels = labelsFrom(parseArrayFile(labelsFile, option), labelsFile, option);
  if (labels.length === count) return labels;
  throw dataError(
    `${path.basename(imagesFile)} has ${count} samples but ${path.basename(labelsFile)} has ${labels.length} labels`,
    labelsFile,
    option,
    'Pair the images with their own labels file',
  );
}

/** `Dataset.batch`: samples `start…start+count−1`, normalised, in one array. */
function batchReader(
  raw: RawSource,
  size: number,
  per: number,
  normalise: (out: Float32Array, offset: number) => void,
): Dataset['batch'] {
  return (start, count) => {
    if (start < 0 || count < 0 || start + count > size) {
      throw new BuilderError(
        'BUILD_DATA_INVALID',
        `Batch ${start}..${start + count - 1} is outside the dataset's ${size} samples`,
        {
          hint: 'Ask for batches within the dataset size',
        },
      );
    }
    const out = new Float32Array(count * per);
    for (let i = 0; i < count; i++) {
      raw.read(start + i, out, i * per);
      normalise(out, i * per);
    }
    return out;
  };
}

/** One batch of a dataset: its position, its first sample's index, and the model input. */
export interface DatasetBatch {
  /** 0-based batch number, of `total`. */
  index: number;
  total: number;
  /** Index of the batch's first sample. */
  start: number;
  input: { data: Float32Array; dims: number[] };
}

/** The dataset in consecutive batches of at most `batchSize` samples. */
export function* batchesOf(data: Dataset, batchSize: number): Generator<DatasetBatch> {
  const total = Math.ceil(data.size / batchSize);
  for (let index = 0; index < total; index++) {
    const start = index * batchSize;
    const count = Math.min(batchSize, data.size - start);
    yield { index, total, start, input: { data: data.batch(start, count), dims: [count, ...data.sampleShape] } };
  }
}
