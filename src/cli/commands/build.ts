/**
 * `stitchnet build`: from a family of ONNX anchors to a measured stitch package.
 *
 * Progress goes to stderr: a bar with an ETA per step on a terminal, one plain line per finished
 * step (`fit: 22.0 s`) otherwise. stdout carries only the result: a short summary, or with `--json`
 * one JSON document.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type * as CliProgress from 'cli-progress';
import type { Options as BarOptions, Params as BarParams, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import {
  buildPackage,
  type AnchorInput,
  type BuildOptions,
  type BuildProgress,
  type BuildResult,
  type BuildStep,
} from '../../builder/index.js';
import type { RoutesMode } from '../../builder/index.js';
import { requireOptional } from '../../base/optional.js';
import { isStitchnetError, OptionError } from '../../errors.js';
import { messageOf } from '../../base/message.js';
import { PROVIDER_NAMES, type ProviderName } from '../../base/providers.js';
import { intList, nonNegativeInt, numberList, oneOf, positiveInt, positiveNumber } from '../options.js';
import { EXTERNAL_DATA_MODES, type ExternalDataMode } from '../../package/index.js';

const ROUTES: readonly RoutesMode[] = ['v1', 'v2'];
const LAYOUTS = ['NCHW', 'NHWC'] as const;

interface BuildCliOptions {
  anchors: string[];
  ids?: string[];
  boundaries?: string[];
  out: string;
  calib?: string;
  calibSamples?: number;
  eval?: string;
  evalLabels?: string;
  evalSamples?: number;
  routes: RoutesMode;
  stitchWeights?: string;
  layout?: (typeof LAYOUTS)[number];
  mean?: number[];
  std?: number[];
  scale?: number;
  labels?: string;
  name?: string;
  description?: string;
  profile?: ProviderName;
  batch?: number[];
  warmup?: number;
  rounds?: number;
  batchSize?: number;
  ridge?: number;
  threads?: number;
  externalData?: ExternalDataMode;
  json?: boolean;
}

/** A stream progress can be written to; `isTTY` decides between bars and plain lines. */
export type ProgressStream = Writable & { isTTY?: boolean; columns?: number };

/** Reports build progress; `close` ends the step in progress (call it when the build returns or fails). */
export interface StepReporter {
  progress: BuildProgress;
  close(failed?: boolean): void;
}

/**
 * Build progress on `stream`: on a terminal a `cli-progress` bar with an ETA per step, kept on
 * screen when the step ends; elsewhere one line per finished step with its wall time
 * (`fit: 22.0 s`). A step ends when it reports `done ≥ total`, when the next step starts, or on
 * `close` (`failed` marks it so); the time between two steps counts towards the later one, as
 * the builder's own timings do for setup work.
 */
export function stepReporter(stream: ProgressStream): StepReporter {
  const bars = stream.isTTY === true ? progressBars() : undefined;
  let current: { step: BuildStep; bar?: SingleBar } | undefined;
  const ended = new Set<BuildStep>();
  let stepStart = performance.now();
  const end = (failed = false) => {
    if (!current) return;
    const now = performance.now();
    const took = `${((now - stepStart) / 1000).toFixed(1)} s`;
    if (current.bar) current.bar.stop();
    else stream.write(failed ? `${current.step}: failed after ${took}\n` : `${current.step}: ${took}\n`);
    ended.add(current.step);
    current = undefined;
    stepStart = now;
  };
  const progress: BuildProgress = (step, done, total) => {
    if (ended.has(step)) return;
    if (current?.step !== step) {
      end();
      current = { step };
      if (bars) {
        current.bar = new bars.SingleBar({
          stream,
          format: (opts, params) => barLine(bars, step, opts, params),
          barsize: 30,
          etaBuffer: 20,
          fps: 10,
          clearOnComplete: false,
          stopOnComplete: false,
        });
        current.bar.start(Math.max(total, 1), done);
      }
    }
    if (current.bar) {
      current.bar.setTotal(Math.max(total, 1));
      current.bar.update(done);
    }
    if (done >= total) end();
  };
  return { progress, close: end };
}

/** cli-progress (an optional peer dependency), or `undefined` for plain step lines when it is not installed. */
function progressBars(): typeof CliProgress | undefined {
  try {
    return requireOptional<typeof CliProgress>('cli-progress');
  } catch (e) {
    if (isStitchnetError(e) && e.code === 'DEPENDENCY_MISSING') return undefined;
    throw e;
  }
}

/** One bar line: step, bar, percentage, units, ETA (`--` until there is a rate to go by), elapsed. */
function barLine(cliProgress: typeof CliProgress, step: BuildStep, opts: BarOptions, params: BarParams): string {
  const eta = Number(params.eta);
  const running = params.value > 0 && params.value < params.total && Number.isFinite(eta);
  const elapsed = ((params.stopTime ?? Date.now()) - params.startTime) / 1000;
  return [
    `${step.padEnd(8)} ${cliProgress.Format.BarFormat(params.progress, opts)} ${String(Math.floor(params.progress * 100)).padStart(3)}%`,
    `${params.value}/${params.total}`,
    `ETA ${running ? cliProgress.Format.TimeFormat(eta, opts, 5) : params.value >= params.total ? '0s' : '--'}`,
    `${elapsed < 60 ? `${elapsed.toFixed(1)}s` : cliProgress.Format.TimeFormat(Math.round(elapsed), opts, 1)} elapsed`,
  ].join(' | ');
}

/** `--labels`: comma-separated class names, or `@file` with one name per line. */
function parseLabels(value: string): string[] {
  if (!value.startsWith('@')) return value.split(',').map((s) => s.trim());
  const file = value.slice(1);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new OptionError('OPTION_INVALID', `Cannot read the class names file ${file}: ${messageOf(cause)}`, {
      option: '--labels',
      file,
      cause,
      hint: 'Give a text file with one class name per line, or the names comma-separated',
    });
  }
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The builder's options for the command line's. */
export function buildOptionsOf(o: BuildCliOptions): BuildOptions {
  checkAnchorLists(o);
  checkPreprocess(o);
  checkProfilingFlags(o);
  const preprocess = preprocessOf(o);
  return {
    anchors: anchorsOf(o),
    out: o.out,
    routes: o.routes,
    ...(o.calib !== undefined ? { calib: o.calib } : {}),
    ...(o.calibSamples !== undefined ? { calibSamples: o.calibSamples } : {}),
    ...(o.eval !== undefined ? { eval: o.evalLabels ? { images: o.eval, labels: o.evalLabels } : o.eval } : {}),
    ...(o.evalSamples !== undefined ? { evalSamples: o.evalSamples } : {}),
    ...(o.stitchWeights !== undefined ? { stitchWeights: o.stitchWeights } : {}),
    ...(Object.keys(preprocess).length > 0 ? { preprocess } : {}),
    ...(o.labels !== undefined ? { labels: parseLabels(o.labels) } : {}),
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.description !== undefined ? { description: o.description } : {}),
    ...(o.profile !== undefined ? { profile: profileOf(o, o.profile) } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.ridge !== undefined ? { ridge: o.ridge } : {}),
    ...(o.threads !== undefined ? { threads: { intraOp: o.threads } } : {}),
    ...(o.externalData !== undefined ? { externalData: o.externalData } : {}),
  };
}

/** `--ids` and `--boundaries` give one entry per anchor. */
function checkAnchorLists(o: BuildCliOptions): void {
  if (o.ids && o.ids.length !== o.anchors.length) {
    throw new OptionError('OPTION_INVALID', `--ids has ${o.ids.length} names for ${o.anchors.length} anchors`, {
      option: '--ids',
      hint: 'Give one id per anchor, in the same order',
    });
  }
  if (o.boundaries && o.boundaries.length !== o.anchors.length) {
    throw new OptionError(
      'OPTION_INVALID',
      `--boundaries was given ${o.boundaries.length} times for ${o.anchors.length} anchors`,
      {
        option: '--boundaries',
        hint: 'Repeat --boundaries once per anchor, in the anchors’ order; write "auto" for an anchor whose boundaries are detected',
      },
    );
  }
}

/** `--mean` and `--std` come together, `--std` is positive, `--scale` needs both. */
function checkPreprocess(o: BuildCliOptions): void {
  if ((o.mean === undefined) !== (o.std === undefined)) {
    throw new OptionError(
      'OPTION_INVALID',
      `${o.mean ? '--mean' : '--std'} was given without ${o.mean ? '--std' : '--mean'}`,
      {
        option: o.mean ? '--std' : '--mean',
        hint: 'Give --mean and --std together (one value, or one per channel)',
      },
    );
  }
  if (o.std?.some((s) => s <= 0))
    throw new OptionError('OPTION_INVALID', `--std values must be positive, got ${o.std.join(',')}`, {
      option: '--std',
    });
  if (o.scale !== undefined && o.mean === undefined) {
    throw new OptionError(
      'OPTION_INVALID',
      '--scale needs --mean and --std, so that the package declares the whole preprocessing',
      {
        option: '--scale',
        hint: 'For pixels in 0..255 normalised to 0..1, pass --scale 1/255 --mean 0 --std 1',
      },
    );
  }
}

/** `--batch`, `--warmup` and `--rounds` only with `--profile`. */
function checkProfilingFlags(o: BuildCliOptions): void {
  if (o.profile !== undefined) return;
  for (const [flag, v] of [
    ['--batch', o.batch],
    ['--warmup', o.warmup],
    ['--rounds', o.rounds],
  ] as const) {
    if (v !== undefined)
      throw new OptionError('OPTION_INVALID', `${flag} only applies when profiling`, {
        option: flag,
        hint: `Add --profile <provider> (e.g. --profile cpu), or drop ${flag}`,
      });
  }
}

function anchorsOf(o: BuildCliOptions): AnchorInput[] {
  return o.anchors.map((file, i): AnchorInput => {
    const b = o.boundaries?.[i];
    return {
      file,
      ...(o.ids ? { id: o.ids[i] as string } : {}),
      ...(b !== undefined && b !== 'auto' ? { boundaries: b.split(',').map((s) => s.trim()) } : {}),
    };
  });
}

function preprocessOf(o: BuildCliOptions): NonNullable<BuildOptions['preprocess']> {
  return {
    ...(o.layout ? { layout: o.layout } : {}),
    ...(o.mean && o.std ? { mean: o.mean, std: o.std } : {}),
    ...(o.scale !== undefined ? { scale: o.scale } : {}),
  };
}

function profileOf(o: BuildCliOptions, provider: NonNullable<BuildCliOptions['profile']>): BuildOptions['profile'] {
  return {
    provider,
    batches: o.batch ?? [1],
    ...(o.warmup !== undefined ? { warmup: o.warmup } : {}),
    ...(o.rounds !== undefined ? { rounds: o.rounds } : {}),
  };
}

/** The machine-readable result of a build (`--json`). */
export function buildReport(r: BuildResult) {
  const m = r.manifest;
  const profiled = new Map<string, Set<number>>();
  for (const s of m.stitches) {
    for (const [provider, byBatch] of Object.entries(s.latency ?? {})) {
      const batches = profiled.get(provider) ?? new Set<number>();
      for (const b of Object.keys(byBatch)) batches.add(Number(b));
      profiled.set(provider, batches);
    }
  }
  return {
    dir: r.dir,
    name: m.name,
    routes: m.build?.routes ?? 'v1',
    anchors: m.anchors.map((a) => ({ id: a.id, dim: a.dim, depth: a.depth, parityMaxAbsDiff: r.parity[a.id] ?? null })),
    stitches: m.stitches.length,
    stitchLayers: m.stitchLayers.length,
    frontier: m.frontier,
    evaluation: m.evaluation ?? null,
    profiled: [...profiled].map(([provider, batches]) => ({ provider, batches: [...batches].sort((a, b) => a - b) })),
    timingsMs: Object.fromEntries(Object.entries(r.timings).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    totalMs: Math.round(Object.values(r.timings).reduce((a, b) => a + b, 0) * 10) / 10,
  };
}

function summary(r: BuildResult): string {
  const report = buildReport(r);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `Built ${report.dir}: ${report.stitches} stitches from ${report.anchors.length} anchors, ${report.stitchLayers} stitching layers (routes ${report.routes})`,
    report.evaluation
      ? `Frontier by MACs (top-1 on ${report.evaluation.dataset}, ${report.evaluation.samples} samples): ${report.frontier.join(', ')}`
      : 'No accuracy measured (no --eval), so no frontier',
    `Anchor parity (max |whole − pieces|): ${report.anchors.map((a) => `${a.id} ${a.parityMaxAbsDiff === null ? '-' : a.parityMaxAbsDiff.toExponential(1)}`).join(', ')}`,
    ...report.profiled.map((p) => `Latency measured on ${p.provider}, batch ${p.batches.join(', ')}`),
    `Time: ${Object.entries(report.timingsMs)
      .map(([step, ms]) => `${step} ${seconds(ms)}`)
      .join(', ')}; total ${seconds(report.totalMs)}`,
    `See the stitch table with: stitchnet inspect ${path.relative(process.cwd(), report.dir) || '.'}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerBuild(program: Command): void {
  const command = program
    .command('build')
    .description(
      'Build a stitch package from ONNX anchors: split, fit the stitching layers, cost, evaluate, profile, write and verify.',
    )
    .requiredOption('--anchors <files...>', 'anchor ONNX models of one family, smallest first')
    .requiredOption('--out <dir>', 'package folder to write');
  for (const add of [dataOptions, fitOptions, profilingOptions, preprocessOptions, packageOptions]) add(command);
  command.option('--json', 'print the result as JSON on stdout').action(async (o: BuildCliOptions) => {
    const options = buildOptionsOf(o);
    const reporter = stepReporter(process.stderr);
    let result: BuildResult;
    try {
      result = await buildPackage(options, reporter.progress);
    } catch (err) {
      reporter.close(true);
      throw err;
    }
    reporter.close();
    process.stdout.write(o.json ? `${JSON.stringify(buildReport(result), null, 2)}\n` : summary(result));
  });
}

/** Calibration and evaluation data. */
function dataOptions(command: Command): Command {
  return command
    .option(
      '--calib <data>',
      'calibration data for the least-squares fit: an IDX file, a .npy images file, or a folder with a sub-folder of images per class',
    )
    .option(
      '--calib-samples <n>',
      'use at most this many calibration samples (default: all)',
      positiveInt('--calib-samples'),
    )
    .option(
      '--eval <data>',
      'labelled evaluation data for top-1 accuracy and the Pareto frontier (same formats; labels found next to the images)',
    )
    .option('--eval-labels <file>', 'the labels file of --eval, when it is not found by name')
    .option(
      '--eval-samples <n>',
      'use at most this many evaluation samples (default: all)',
      positiveInt('--eval-samples'),
    );
}

/** How the stitches are enumerated and fitted. */
function fitOptions(command: Command): Command {
  return command
    .option(
      '--routes <mode>',
      'v1: SN-Net one-way stitches; v2: SN-Netv2 two-way routes (SL, LS, LSL, SLS)',
      oneOf('--routes', ROUTES),
      'v1',
    )
    .option(
      '--stitch-weights <file>',
      'stitching-layer weights from a training run (stitchnet-stitch-weights/1 JSON) instead of fitting',
    );
}

/** Latency profiling. */
function profilingOptions(command: Command): Command {
  return command
    .option(
      '--profile <provider>',
      `measure every stitch's latency on this provider (${PROVIDER_NAMES.join(', ')})`,
      oneOf('--profile', PROVIDER_NAMES),
    )
    .option('--batch <list>', 'batch sizes to profile, comma-separated (default 1)', intList('--batch'))
    .option('--warmup <n>', 'uncounted profiling rounds (default 3)', nonNegativeInt('--warmup'))
    .option('--rounds <n>', 'counted profiling rounds per batch size (default 20)', positiveInt('--rounds'));
}

/** The model input's preprocessing and class names. */
function preprocessOptions(command: Command): Command {
  return command
    .option(
      '--mean <list>',
      'per-channel mean subtracted from the input, e.g. 0.485,0.456,0.406 (with --std)',
      numberList('--mean'),
    )
    .option('--std <list>', 'per-channel standard deviation the input is divided by (with --mean)', numberList('--std'))
    .option(
      '--scale <x>',
      'raw values are multiplied by this before (x − mean) / std, e.g. 1/255 (needs --mean, --std)',
      positiveNumber('--scale'),
    )
    .option('--layout <layout>', 'layout of the model input: NCHW or NHWC (default NCHW)', oneOf('--layout', LAYOUTS))
    .option(
      '--labels <names>',
      'class names, comma-separated or @file with one per line (default: the --eval folder’s class names)',
    );
}

/** Anchors, naming, capture and writing. */
function packageOptions(command: Command): Command {
  return command
    .option('--ids <list>', 'anchor ids used in routes, comma-separated (default: the file names)', (v: string) =>
      v.split(',').map((s) => s.trim()),
    )
    .option(
      '--boundaries <tensors>',
      'residual-stream tensor names (depth + 1, comma-separated) when detection fails; repeat once per anchor, "auto" to detect',
      collect,
    )
    .option('--name <name>', 'package name (default: the --out folder name)')
    .option('--description <text>', 'package description')
    .option(
      '--batch-size <n>',
      'samples per run when capturing activations and evaluating (default 32)',
      positiveInt('--batch-size'),
    )
    .option('--ridge <x>', 'relative ridge term of the least-squares fit (default 1e-6)', positiveNumber('--ridge'))
    .option(
      '--threads <n>',
      'ONNX Runtime intra-op threads (default: available cores, at most 4)',
      positiveInt('--threads'),
    )
    .option(
      '--external-data <mode>',
      'pieces whose weights go to a .data file next to them, which onnxruntime maps from disk: auto (1 MiB of weights or more), all, none (default auto)',
      oneOf('--external-data', EXTERNAL_DATA_MODES),
    );
}
