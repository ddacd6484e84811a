/**
 * `buildPackage`: from a family of ONNX anchors to a measured, verified stitch package.
 *
 * Steps (each reported to the progress callback):
 * 1. `prepare` — read and split every anchor, check that they are one architecture listed
 *    smallest first, enumerate the stitches, open the data sets, check the output folder and
 *    the profiling provider. Every input error surfaces here, before any long work.
 * 2. `parity` — each anchor's chained pieces must reproduce the whole anchor.
 * 3. `fit` — least squares on captured activations (or weights from a file).
 * 4. `cost` — MACs and parameters of every piece, summed along every route.
 * 5. `evaluate` — top-1 accuracy of every stitch (with an evaluation set).
 * 6. `write` — the package, through `writePackage`.
 * 7. `profile` — latency of every stitch on the chosen provider and batch sizes, then the
 *    package is written again with it.
 * 8. `verify` — the package is read back with `readPackage`.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../base/message.js';
import { isProviderName, PROVIDER_NAMES, type ProviderName } from '../base/providers.js';
import { BuilderError, OptionError } from '../errors.js';
import { encodeModel, linearModel, readModel, type Model } from '../onnx/index.js';
import { expandRoute } from '../package/route.js';
import {
  EXTERNAL_DATA_MODES,
  type ExternalDataMode,
  readPackage,
  rewriteManifest,
  writePackage,
} from '../package/index.js';
import { sha256 } from '../package/hash.js';
import type { Manifest, Piece, Preprocess, Stitch, TensorSpec } from '../package/schema.js';
import { PACKAGE_FORMAT } from '../package/schema.js';
import type { ThreadOptions } from '../engine/options.js';
import { probeProviders } from '../engine/probe.js';
import { workerFile } from '../engine/worker-file.js';
import { graphCost, routeCost, type GraphCost } from '../onnx/cost.js';
import { openDataset, type Dataset, type DataSource } from '../data/datasets.js';
import { enumerateStitches, type Enumeration, type RoutesMode } from './enumerate.js';
import { evaluateStitches } from './evaluate.js';
import { fitStitchLayers, type AnchorPieces } from './fit.js';
import { frontierByMacs } from './frontier.js';
import type { LinearMap } from './lstsq.js';
import { profileStitches } from './profile.js';
import { engineRunner, type PieceRunner } from './runner.js';
import { splitAnchor, type AnchorSplit } from './split.js';
import { readStitchWeights } from './stitch-weights.js';

/** An anchor model file, with an id and boundary tensors when the defaults don't do. */
export interface AnchorInput {
  file: string;
  /** Default: the file name without `.onnx`. */
  id?: string;
  /** Residual-stream tensor names (depth + 1) when detection from node names fails. */
  boundaries?: string[];
}

export interface ProfileRequest {
  provider: ProviderName;
  /** Batch sizes, e.g. `[1, 8]`. */
  batches: number[];
  warmup?: number;
  rounds?: number;
}

export interface BuildOptions {
  /** Anchor models, smallest first. */
  anchors: readonly (string | AnchorInput)[];
  /** The package folder to write. */
  out: string;
  /** Calibration data for the least-squares fit (not needed with `stitchWeights`). */
  calib?: DataSource;
  /** Use at most this many calibration samples. */
  calibSamples?: number;
  /** Labelled evaluation data for accuracy. */
  eval?: DataSource;
  evalSamples?: number;
  /** `'v1'` (default) or `'v2'` (SN-Netv2 two-way routes). */
  routes?: RoutesMode;
  /** A `stitchnet-stitch-weights/1` file to use instead of fitting. */
  stitchWeights?: string;
  /** Input preprocessing, written to the package and applied to the data. */
  preprocess?: Partial<Preprocess>;
  /** Class names for the package output. Default: the evaluation folder's class names, if any. */
  labels?: string[];
  name?: string;
  description?: string;
  profile?: ProfileRequest;
  /** Samples per batch when capturing and evaluating (default 32). */
  batchSize?: number;
  /** Relative ridge of the least-squares solve (default 1e-6). */
  ridge?: number;
  /** ORT threads of the builder's sessions and the profiler's runtime. */
  threads?: ThreadOptions;
  /**
   * Which pieces keep their weights as ONNX external data (`<file>.data`, mapped by onnxruntime
   * from disk): `'auto'` (default) those with 1 MiB of weights or more, `'all'`, `'none'`.
   */
  externalData?: ExternalDataMode;
}

export type BuildStep = 'prepare' | 'parity' | 'fit' | 'cost' | 'evaluate' | 'write' | 'profile' | 'verify';

/** Progress of a step: `done` of `total` units (anchors, batches, rounds…). */
export type BuildProgress = (step: BuildStep, done: number, total: number) => void;

export interface BuildResult {
  dir: string;
  manifest: Manifest;
  /** Wall time of each step that ran, in milliseconds. */
  timings: Partial<Record<BuildStep, number>>;
  /** Largest |whole − chained pieces| of each anchor's output on the parity batch. */
  parity: Record<string, number>;
}

/** Anchors' chained pieces must match the whole model within this, relative to max(1, |output|). */
export const PARITY_TOLERANCE = 1e-5;

interface PreparedAnchor {
  id: string;
  file: string;
  bytes: Uint8Array;
  split: AnchorSplit;
  pieceIds: { embed: string; blocks: string[]; head: string };
}

interface PieceEntry {
  piece: Piece;
  bytes: Uint8Array;
  cost: GraphCost;
}

const optionError = (option: string, message: string, hint: string, validValues?: readonly (string | number)[]) =>
  new OptionError('OPTION_INVALID', message, { option, hint, validValues });

function anchorIdOf(file: string): string {
  return path
    .basename(file)
    .replace(/\.onnx$/i, '')
    .replace(/[^A-Za-z0-9_.-]/g, '_');
}

function checkOptions(o: BuildOptions): void {
  if (!Array.isArray(o.anchors) || o.anchors.length === 0)
    throw optionError('--anchors', 'No anchor models given', 'Pass the anchor ONNX files, smallest first');
  if (o.routes !== undefined && o.routes !== 'v1' && o.routes !== 'v2')
    throw optionError('--routes', `Unknown routes mode "${String(o.routes)}"`, 'Use v1 or v2', ['v1', 'v2']);
  if (o.externalData !== undefined && !EXTERNAL_DATA_MODES.includes(o.externalData)) {
    throw optionError(
      '--external-data',
      `Unknown external-data mode "${String(o.externalData)}"`,
      'Use auto, all or none',
      EXTERNAL_DATA_MODES,
    );
  }
  if (o.anchors.length > 1 && o.calib === undefined && o.stitchWeights === undefined) {
    throw optionError(
      '--calib',
      'Stitching layers need a calibration set to fit them, or a stitch-weights file',
      'Pass --calib <data> or --stitch-weights <file>',
    );
  }
  if (o.profile) {
    if (!isProviderName(o.profile.provider))
      throw optionError(
        '--profile',
        `Unknown provider "${String(o.profile.provider)}"`,
        'Choose a provider onnxruntime-node knows',
        PROVIDER_NAMES,
      );
    if (o.profile.batches.length === 0 || o.profile.batches.some((b) => !Number.isInteger(b) || b < 1)) {
      throw optionError(
        '--batch',
        `Batch sizes must be positive integers, got [${o.profile.batches.join(', ')}]`,
        'For example --batch 1,8',
      );
    }
  }
  for (const [option, v] of [
    ['--calib-samples', o.calibSamples],
    ['--eval-samples', o.evalSamples],
    ['--batch-size', o.batchSize],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      throw optionError(option, `${option} must be a positive integer, got ${v}`, 'Give a whole number of samples');
  }
}

async function checkWritable(out: string): Promise<void> {
  const probe = path.join(out, `.stitchnet-write-check-${randomUUID().slice(0, 8)}`);
  try {
    await mkdir(out, { recursive: true });
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (cause) {
    throw new OptionError('OPTION_INVALID', `Cannot write the package to ${out}: ${messageOf(cause)}`, {
      option: '--out',
      file: out,
      cause,
      hint: 'Choose a folder you can write to',
    });
  }
}

const sameShape = (a: readonly (number | string)[], b: readonly (number | string)[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Checks that the anchors are one architecture of growing size. */
function checkFamily(anchors: readonly PreparedAnchor[], paramsOf: (a: PreparedAnchor) => number): void {
  const first = anchors[0] as PreparedAnchor;
  const f = first.split;
  anchors.forEach((a, i) => {
    const s = a.split;
    const differ = (what: string, x: string, y: string) =>
      new BuilderError(
        'BUILD_ANCHORS_INVALID',
        `Anchor "${a.id}" ${what} ${x}, but anchor "${first.id}" ${what} ${y}: the anchors are not one architecture`,
        {
          file: a.file,
          option: `anchors[${i}]`,
          hint: 'Stitch models of one family that differ only in width and depth (same input, tokens and classes)',
        },
      );
    if (s.input.name !== f.input.name || !sameShape(s.input.shape, f.input.shape)) {
      throw differ(
        'takes',
        `${s.input.name} [${s.input.shape.join(', ')}]`,
        `${f.input.name} [${f.input.shape.join(', ')}]`,
      );
    }
    if (!sameShape(s.output.shape, f.output.shape))
      throw differ('outputs', `[${s.output.shape.join(', ')}]`, `[${f.output.shape.join(', ')}]`);
    if (!sameShape(s.streamShape.slice(0, -1), f.streamShape.slice(0, -1))) {
      throw differ('has a residual stream of shape', `[${s.streamShape.join(', ')}]`, `[${f.streamShape.join(', ')}]`);
    }
    const prev = anchors[i - 1];
    if (prev && paramsOf(prev) > paramsOf(a)) {
      throw new BuilderError(
        'BUILD_ANCHORS_INVALID',
        `Anchors must be listed smallest first, but "${prev.id}" (${paramsOf(prev).toLocaleString('en')} parameters) comes before "${a.id}" (${paramsOf(a).toLocaleString('en')})`,
        {
          option: '--anchors',
          validValues: [...anchors].sort((x, y) => paramsOf(x) - paramsOf(y)).map((x) => x.file),
          hint: 'List the anchors in the order shown',
        },
      );
    }
  });
}

function spec(name: string, shape: readonly (number | string)[]): TensorSpec {
  return { name, shape: [...shape], dtype: 'float32' };
}

/** What the `prepare` step found: every input checked, the pieces cut, the stitches planned. */
interface Prepared {
  routes: RoutesMode;
  anchors: PreparedAnchor[];
  /** The anchors' pieces so far; the stitching layers are added by the `fit` step. */
  pieces: Map<string, PieceEntry>;
  plan: Enumeration;
  /** The first anchor's split: the package's input and output. */
  first: AnchorSplit;
  layout: 'NCHW' | 'NHWC';
  calib: Dataset | undefined;
  evalSet: Dataset | undefined;
  labels: string[] | undefined;
}

/** Times consecutive steps: `finish(step)` records the time since the previous finish. */
function stepTimer(): { timings: Partial<Record<BuildStep, number>>; finish: (step: BuildStep) => void } {
  const timings: Partial<Record<BuildStep, number>> = {};
  let stepStart = performance.now();
  const finish = (step: BuildStep) => {
    const now = performance.now();
    timings[step] = now - stepStart;
    stepStart = now;
  };
  return { timings, finish };
}

/**
 * Builds a stitch package from anchor models.
 *
 * @throws BuilderError / OptionError before any long work for bad anchors, data, options or an
 *   unwritable output folder; BuilderError `BUILD_PARITY_FAILED` when pieces don't reproduce an
 *   anchor; PackageError when the written package does not read back.
 */
export async function buildPackage(options: BuildOptions, progress: BuildProgress = () => {}): Promise<BuildResult> {
  const { timings, finish } = stepTimer();
  const prep = await prepare(options, progress);
  finish('prepare');

  const runner: PieceRunner = engineRunner(options.threads ? { threads: options.threads } : {});
  try {
    const probeSet = prep.calib ?? prep.evalSet;
    const parity = await checkParity(prep, runner, probeBatch(prep.first, probeSet), progress);
    finish('parity');

    await addStitchLayers(options, prep, runner, progress);
    finish('fit');

    const manifest = manifestOf(options, prep);
    const runnable = addStitchCosts(manifest, prep, progress);
    finish('cost');

    if (prep.evalSet) {
      await addAccuracy(manifest, runnable, prep.evalSet, runner, options, progress);
      finish('evaluate');
    }
    manifest.build = buildRecord(options, prep, runnable, parity);
    // Free the builder's sessions before the profiler loads its own.
    await runner.close();

    const files = new Map([...prep.pieces.values()].map((p) => [p.piece.file, p.bytes]));
    progress('write', 0, 1);
    const externalData = options.externalData ?? 'auto';
    const written = await writePackage(options.out, { manifest, files, externalData });
    progress('write', 1, 1);
    finish('write');

    if (options.profile) {
      // Only the manifest changes: the pieces on disk stay as written and hashed.
      await addLatency(written, options, options.profile, probeSet, progress);
      await rewriteManifest(options.out, written);
      finish('profile');
    }

    progress('verify', 0, 1);
    const pkg = await readPackage(options.out);
    progress('verify', 1, 1);
    finish('verify');
    return { dir: pkg.dir, manifest: pkg.manifest, timings, parity };
  } finally {
    await runner.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 1. prepare: every input error surfaces here, before any long work

async function prepare(options: BuildOptions, progress: BuildProgress): Promise<Prepared> {
  checkOptions(options);
  const routes = options.routes ?? 'v1';
  const inputs = options.anchors.map((a) => (typeof a === 'string' ? { file: a } : a));
  const { anchors, pieces } = await readAnchors(inputs, progress);
  const paramsOf = (a: PreparedAnchor) =>
    [a.pieceIds.embed, ...a.pieceIds.blocks, a.pieceIds.head].reduce(
      (s, p) => s + (pieces.get(p) as PieceEntry).cost.params,
      0,
    );
  checkFamily(anchors, paramsOf);
  const plan: Enumeration = enumerateStitches(
    anchors.map((a) => ({ id: a.id, depth: a.split.depth })),
    routes,
  );
  const first = (anchors[0] as PreparedAnchor).split;
  checkFixedSampleShape(first, (anchors[0] as PreparedAnchor).file);
  const layout = options.preprocess?.layout ?? 'NCHW';
  const { calib, evalSet, labels } = await openData(options, first, layout);
  if (options.profile) await checkProfileProvider(options.profile.provider);
  // Checked last, so that bad anchors, data or options leave no empty output folder behind.
  await checkWritable(options.out);
  progress('prepare', inputs.length, inputs.length);
  return { routes, anchors, pieces, plan, first, layout, calib, evalSet, labels };
}

/** Reads and splits every anchor into pieces (`<id>.embed`, `<id>.block.<i>`, `<id>.head`). */
async function readAnchors(
  inputs: readonly AnchorInput[],
  progress: BuildProgress,
): Promise<{ anchors: PreparedAnchor[]; pieces: Map<string, PieceEntry> }> {
  const anchors: PreparedAnchor[] = [];
  const pieces = new Map<string, PieceEntry>();
  for (const [i, a] of inputs.entries()) {
    progress('prepare', i, inputs.length);
    const model = await readModel(a.file);
    const split = splitAnchor(model, { file: a.file, ...(a.boundaries ? { boundaries: a.boundaries } : {}) });
    const id = a.id ?? anchorIdOf(a.file);
    if (anchors.some((x) => x.id === id)) {
      throw optionError(
        `anchors[${i}]`,
        `Two anchors are named "${id}"`,
        'Give the anchor files different names, or ids',
      );
    }
    const pieceIds = {
      embed: `${id}.embed`,
      blocks: split.blocks.map((_, b) => `${id}.block.${b}`),
      head: `${id}.head`,
    };
    const stream = split.streamShape;
    const add = (pid: string, kind: Piece['kind'], m: Model, input: TensorSpec, output: TensorSpec) =>
      pieces.set(pid, pieceEntry(pid, kind, m, input, output, a.file));
    add(pieceIds.embed, 'embed', split.embed, spec(split.input.name, split.input.shape), spec('tokens', stream));
    split.blocks.forEach((m, b) => add(pieceIds.blocks[b] as string, 'block', m, spec('x', stream), spec('y', stream)));
    add(pieceIds.head, 'head', split.head, spec('x', stream), spec(split.output.name, split.output.shape));
    anchors.push({ id, file: a.file, bytes: encodeModel(model), split, pieceIds });
  }
  return { anchors, pieces };
}

/** A piece's bytes, cost and manifest entry. */
function pieceEntry(
  id: string,
  kind: Piece['kind'],
  model: Model,
  input: TensorSpec,
  output: TensorSpec,
  file?: string,
): PieceEntry {
  const bytes = encodeModel(model);
  const cost = graphCost(model, file === undefined ? {} : { file });
  return {
    bytes,
    cost,
    piece: {
      kind,
      file: `pieces/${id}.onnx`,
      sha256: sha256(bytes),
      bytes: bytes.length,
      input,
      output,
      macs: cost.macs,
      params: cost.params,
    },
  };
}

function checkFixedSampleShape(first: AnchorSplit, file: string): void {
  const symbolic = first.input.shape.slice(1).find((d) => typeof d !== 'number');
  if (symbolic !== undefined) {
    throw new BuilderError(
      'BUILD_ANCHORS_INVALID',
      `The anchors take [${first.input.shape.join(', ')}]: only the batch dimension may be symbolic`,
      {
        file,
        hint: 'Export the models with a fixed sample shape (dynamic_axes only for the batch)',
      },
    );
  }
}

/** Opens the calibration and evaluation sets and checks their labels against the model's classes. */
async function openData(
  options: BuildOptions,
  first: AnchorSplit,
  layout: 'NCHW' | 'NHWC',
): Promise<Pick<Prepared, 'calib' | 'evalSet' | 'labels'>> {
  const inputSpec = {
    shape: first.input.shape,
    layout,
    ...(options.preprocess ? { preprocess: options.preprocess } : {}),
  };
  const calib =
    options.calib === undefined
      ? undefined
      : await openDataset(options.calib, inputSpec, {
          option: '--calib',
          ...(options.calibSamples ? { limit: options.calibSamples } : {}),
        });
  const evalSet =
    options.eval === undefined
      ? undefined
      : await openDataset(options.eval, inputSpec, {
          option: '--eval',
          requireLabels: true,
          ...(options.evalSamples ? { limit: options.evalSamples } : {}),
        });
  const classes = first.output.shape[first.output.shape.length - 1];
  if (evalSet?.labels && typeof classes === 'number') {
    const bad = evalSet.labels.findIndex((l) => l >= classes);
    if (bad >= 0) {
      throw new BuilderError(
        'BUILD_DATA_INVALID',
        `Evaluation label ${evalSet.labels[bad]} (sample ${bad}) is not one of the model's ${classes} classes`,
        {
          option: '--eval',
          hint: 'Check that the evaluation set belongs to this model family',
        },
      );
    }
  }
  const labels = options.labels ?? evalSet?.classes;
  if (labels && typeof classes === 'number' && labels.length !== classes) {
    throw optionError(
      '--labels',
      `${labels.length} class names given for ${classes} model outputs`,
      'Give one name per output',
    );
  }
  return { calib, evalSet, labels };
}

async function checkProfileProvider(provider: ProviderName): Promise<void> {
  const selection = await probeProviders([provider], workerFile).catch((e: unknown) => {
    throw new OptionError('OPTION_INVALID', `Cannot profile on provider "${provider}": ${messageOf(e)}`, {
      option: '--profile',
      cause: e,
      hint: 'Profile on cpu, or on a provider this machine has',
    });
  });
  if (selection.provider !== provider) {
    throw optionError(
      '--profile',
      `Provider "${provider}" is not available here`,
      'Profile on cpu, or on a provider this machine has',
      selection.attempts.filter((x) => x.ok).map((x) => x.provider),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// 2. parity: each anchor's chained pieces must reproduce the whole anchor

/** A few samples of the data (or a fixed pattern without data) to compare whole and chained anchors on. */
function probeBatch(first: AnchorSplit, probeSet: Dataset | undefined): { data: Float32Array; dims: number[] } {
  const probeCount = Math.min(4, probeSet?.size ?? 2);
  const sampleShape = first.input.shape.slice(1) as number[];
  return {
    data: probeSet
      ? probeSet.batch(0, probeCount)
      : Float32Array.from(
          { length: probeCount * sampleShape.reduce((x, y) => x * y, 1) },
          (_, i) => Math.sin(i * 12.9898) * 2,
        ),
    dims: [probeCount, ...sampleShape],
  };
}

/** Loads every anchor whole and in pieces, and returns each one's largest output difference. */
async function checkParity(
  prep: Prepared,
  runner: PieceRunner,
  probe: { data: Float32Array; dims: number[] },
  progress: BuildProgress,
): Promise<Record<string, number>> {
  const parity: Record<string, number> = {};
  for (const [i, a] of prep.anchors.entries()) {
    progress('parity', i, prep.anchors.length);
    const chain = [a.pieceIds.embed, ...a.pieceIds.blocks, a.pieceIds.head];
    for (const pid of chain) await runner.load(pid, (prep.pieces.get(pid) as PieceEntry).bytes);
    await runner.load(`whole:${a.id}`, a.bytes);
    const whole = await runner.run([`whole:${a.id}`], probe);
    const chained = await runner.run(chain, probe);
    let diff = 0;
    let scale = 1;
    whole.data.forEach((v, k) => {
      diff = Math.max(diff, Math.abs(v - (chained.data[k] as number)));
      scale = Math.max(scale, Math.abs(v));
    });
    parity[a.id] = diff;
    if (!(diff <= PARITY_TOLERANCE * scale)) {
      throw new BuilderError(
        'BUILD_PARITY_FAILED',
        `The pieces of anchor "${a.id}" give outputs up to ${diff.toExponential(2)} away from the whole model`,
        {
          file: a.file,
          hint: 'The boundaries do not cut the model into a clean chain; pass the residual-stream tensor names explicitly',
        },
      );
    }
  }
  progress('parity', prep.anchors.length, prep.anchors.length);
  return parity;
}

// ---------------------------------------------------------------------------------------------
// 3. fit: the stitching layers, by least squares or from a weights file

/** Fits (or reads) every stitching layer, adds it to the pieces and loads it into the runner. */
async function addStitchLayers(
  options: BuildOptions,
  prep: Prepared,
  runner: PieceRunner,
  progress: BuildProgress,
): Promise<void> {
  const maps = await stitchLayerMaps(options, prep, runner, progress);
  const byId = new Map(prep.anchors.map((a) => [a.id, a]));
  for (const layer of prep.plan.layers) {
    const map = maps.get(layer.id) as LinearMap;
    const from = (byId.get(layer.from) as PreparedAnchor).split.streamShape;
    const to = (byId.get(layer.to) as PreparedAnchor).split.streamShape;
    const model = linearModel({
      weight: map.weight,
      bias: map.bias,
      dimIn: map.dimIn,
      dimOut: map.dimOut,
      inputShape: from,
    });
    const entry = pieceEntry(layer.id, 'stitch', model, spec('x', from), spec('y', to));
    prep.pieces.set(layer.id, entry);
    await runner.load(layer.id, entry.bytes);
  }
}

async function stitchLayerMaps(
  options: BuildOptions,
  prep: Prepared,
  runner: PieceRunner,
  progress: BuildProgress,
): Promise<Map<string, LinearMap>> {
  const { anchors, plan } = prep;
  if (options.stitchWeights !== undefined) {
    progress('fit', 0, 1);
    const maps = await readStitchWeights(
      options.stitchWeights,
      plan.layers,
      new Map(anchors.map((a) => [a.id, a.split.dim])),
    );
    progress('fit', 1, 1);
    return maps;
  }
  if (plan.layers.length === 0) return new Map();
  const anchorPieces: AnchorPieces[] = anchors.map((a) => ({
    id: a.id,
    dim: a.split.dim,
    embed: a.pieceIds.embed,
    blocks: a.pieceIds.blocks,
  }));
  return fitStitchLayers(plan.layers, anchorPieces, prep.calib as Dataset, runner, {
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.ridge !== undefined ? { ridge: options.ridge } : {}),
    onBatch: (d, t) => progress('fit', d, t),
  });
}

// ---------------------------------------------------------------------------------------------
// 4. cost: the manifest, and the MACs and parameters of every stitch

/** The manifest without stitches: input, output, preprocessing, anchors, pieces and stitching layers. */
function manifestOf(options: BuildOptions, prep: Prepared): Manifest {
  const { first, layout, labels, anchors } = prep;
  const origin = options.stitchWeights !== undefined ? 'trained' : 'least-squares';
  return {
    format: PACKAGE_FORMAT,
    name: options.name ?? path.basename(path.resolve(options.out)),
    ...(options.description ? { description: options.description } : {}),
    createdAt: new Date().toISOString(),
    input: spec(first.input.name, first.input.shape),
    output: { ...spec(first.output.name, first.output.shape), ...(labels ? { labels } : {}) },
    ...(options.preprocess?.mean && options.preprocess.std
      ? {
          preprocess: {
            layout,
            scale: options.preprocess.scale ?? 1,
            mean: options.preprocess.mean,
            std: options.preprocess.std,
          },
        }
      : {}),
    anchors: anchors.map((a) => ({
      id: a.id,
      dim: a.split.dim,
      depth: a.split.depth,
      embed: a.pieceIds.embed,
      blocks: a.pieceIds.blocks,
      head: a.pieceIds.head,
    })),
    pieces: Object.fromEntries([...prep.pieces].map(([id, p]) => [id, p.piece])),
    stitchLayers: prep.plan.layers.map((l) => ({ id: l.id, piece: l.id, from: l.from, to: l.to, origin })),
    stitches: [],
    frontier: [],
  };
}

/** Adds every runnable stitch with its cost (summed along its route) to the manifest; returns them. */
function addStitchCosts(manifest: Manifest, prep: Prepared, progress: BuildProgress): Enumeration['stitches'] {
  const costs = new Map([...prep.pieces].map(([id, p]) => [id, p.cost]));
  const runnable = prep.plan.stitches.filter((s) => s.runnable);
  runnable.forEach((s, i) => {
    const c = routeCost(expandRoute(manifest, s.route), costs);
    const stitch: Stitch = {
      id: s.id,
      route: s.route,
      ...(s.positions.length > 0 ? { positions: s.positions } : {}),
      macs: c.macs,
      params: c.params,
    };
    manifest.stitches.push(stitch);
    progress('cost', i + 1, runnable.length);
  });
  return runnable;
}

// ---------------------------------------------------------------------------------------------
// 5. evaluate, and the build record

/** Top-1 accuracy of every stitch on the evaluation set, and the frontier it gives. */
async function addAccuracy(
  manifest: Manifest,
  runnable: Enumeration['stitches'],
  evalSet: Dataset,
  runner: PieceRunner,
  options: BuildOptions,
  progress: BuildProgress,
): Promise<void> {
  const acc = await evaluateStitches(
    manifest,
    runnable.map((s) => s.id),
    evalSet,
    runner,
    {
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      onBatch: (d, t) => progress('evaluate', d, t),
    },
  );
  for (const s of manifest.stitches) s.accuracy = acc.get(s.id) as number;
  manifest.evaluation = { dataset: evalSet.name, samples: evalSet.size };
  manifest.frontier = frontierByMacs(manifest.stitches);
}

/** How the package was built: routes, calibration or weights file, anchors' boundaries and parity. */
function buildRecord(
  options: BuildOptions,
  prep: Prepared,
  runnable: Enumeration['stitches'],
  parity: Record<string, number>,
): Manifest['build'] {
  const { calib, plan, anchors } = prep;
  return {
    tool: 'stitchnet build',
    routes: prep.routes,
    ...(calib && options.stitchWeights === undefined
      ? { calibration: { dataset: calib.name, samples: calib.size }, ridge: options.ridge ?? 1e-6 }
      : {}),
    ...(options.stitchWeights !== undefined ? { stitchWeights: path.basename(options.stitchWeights) } : {}),
    anchors: Object.fromEntries(
      anchors.map((a) => [
        a.id,
        { file: path.basename(a.file), boundaries: a.split.boundaries, parityMaxAbsDiff: parity[a.id] },
      ]),
    ),
    ...(plan.stitches.length > runnable.length
      ? { notRunnable: plan.stitches.filter((s) => !s.runnable).map((s) => s.id) }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// 7. profile: latency of every stitch of the written package on this device

async function addLatency(
  manifest: Manifest,
  options: BuildOptions,
  request: ProfileRequest,
  probeSet: Dataset | undefined,
  progress: BuildProgress,
): Promise<void> {
  const prof = await profileStitches(
    options.out,
    manifest.stitches.map((s) => s.id),
    {
      provider: request.provider,
      batches: request.batches,
      ...(request.warmup !== undefined ? { warmup: request.warmup } : {}),
      ...(request.rounds !== undefined ? { rounds: request.rounds } : {}),
      ...(probeSet ? { sample: probeSet.batch(0, 1) } : {}),
      ...(options.threads ? { threads: options.threads } : {}),
      onRound: (d, t) => progress('profile', d, t),
    },
  );
  const at = new Date().toISOString();
  for (const s of manifest.stitches) {
    const byBatch = prof.latency.get(s.id);
    if (!byBatch) continue;
    s.latency = {
      [prof.provider]: Object.fromEntries(
        [...byBatch].map(([b, l]) => [String(b), { p50Ms: l.p50Ms, p95Ms: l.p95Ms, device: prof.device, at }]),
      ),
    };
  }
}
