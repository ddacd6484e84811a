/**
 * `stitchnet demo`: the first five minutes. Runs a stitch package on sample images under a profile
 * with this machine's real signals (or a recorded trace), and shows live the active stitch, its
 * MACs, the latency, the running accuracy, the device readings and every stitch change with its
 * reason; then a summary.
 *
 * The model is `--model`, else the shipped Fashion-MNIST family (`models/fmnist-vit`) when it is
 * there, else a random-weight package built on the fly into a cache folder — and then the demo
 * says plainly that its accuracy means nothing.
 *
 * On a terminal the status is redrawn in place; otherwise one status line per second.
 */
import { outputClosed } from '../output-closed.js';
import { startRecording } from '../recording.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { openDataset, type Dataset } from '../../data/index.js';
import { OptionError } from '../../errors.js';
import { findInstalledPackage, readPackage, resolveModel, type StitchPackage } from '../../package/index.js';
import { catalogFromManifest, type StitchCatalog } from '../../policy/index.js';
import { PROVIDER_NAMES, seededRandom, type ProviderName } from '../../base/index.js';
import { StitchRuntime } from '../../runtime/stitch-runtime.js';
import { loadTrace, traceDurationMs, traceSource, type Trace } from '../../signals/index.js';
import { defaultCacheDir, randomDemoPackage } from '../demo-package.js';
import { changeLine, DemoStats, LiveOutput, statusLines, summaryJson, summaryText } from '../demo-view.js';
import { formatClock } from '../format.js';
import { oneOf, positiveNumber } from '../options.js';
import { scaledScheduler } from '../scaled-scheduler.js';
import { stepReporter } from './build.js';

interface DemoCliOptions {
  model?: string;
  profile?: string;
  duration: number;
  samples?: string;
  trace?: string;
  speed?: number;
  cache?: string;
  provider?: ProviderName[];
  record?: string;
  json?: boolean;
}

/** The folder holding this installation's package.json (where `profiles/` and, in a checkout, `models/` are). */
export function installRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'profiles'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** The images file of `--samples`: an IDX images file, or a folder holding one (`*images-idx3-ubyte`, gzipped or not). */
export function findSamples(source: string): string | undefined {
  if (!existsSync(source)) return undefined;
  if (!statSync(source).isDirectory()) return source;
  const file = readdirSync(source)
    .sort()
    .find((f) => /images-idx3-ubyte(\.gz)?$/.test(f));
  return file === undefined ? undefined : path.join(source, file);
}

/** Random inputs of the package's input shape (batch 1), for a package that ships no samples. */
function randomInputs(pkg: StitchPackage, count: number): Dataset {
  const shape = pkg.manifest.input.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1));
  const size = shape.reduce((a, b) => a * b, 1);
  const next = seededRandom(7);
  const data = Float32Array.from({ length: size * count }, () => next() * 2 - 1);
  return {
    name: 'random inputs',
    size: count,
    sampleShape: shape,
    batch: (start, n) => data.slice(start * size, (start + n) * size),
  };
}

/** What the demo runs on. */
interface DemoSetup {
  pkg: StitchPackage;
  catalog: StitchCatalog | undefined;
  data: Dataset;
  /** True for the random-weight stand-in. */
  random: boolean;
}

/** The npm package of the trained Fashion-MNIST family. */
export const FAMILY_PACKAGE = '@stitchnet/fmnist-vit';

/** The trained family: the checkout's `models/fmnist-vit`, else the installed `@stitchnet/fmnist-vit`. */
export function trainedFamily(root: string): string | undefined {
  const shipped = path.join(root, 'models', 'fmnist-vit');
  if (existsSync(path.join(shipped, 'stitchnet.json'))) return shipped;
  return findInstalledPackage(FAMILY_PACKAGE, [process.cwd(), root]);
}

async function setUp(o: DemoCliOptions, root: string): Promise<DemoSetup> {
  const trained = trainedFamily(root);
  let dir: string;
  let samples: string | undefined;
  let random = false;
  if (o.model !== undefined) {
    dir = resolveModel(o.model);
    samples = o.samples ?? path.join(dir, 'samples');
  } else if (trained !== undefined) {
    dir = trained;
    samples = o.samples ?? path.join(trained, 'samples');
  } else {
    const cache = o.cache ?? defaultCacheDir();
    process.stderr.write(
      `The trained Fashion-MNIST family is not installed (npm install ${FAMILY_PACKAGE}); using a random-weight stand-in from ${cache}.\n`,
    );
    const reporter = stepReporter(process.stderr);
    try {
      const demo = await randomDemoPackage(cache, reporter.progress);
      reporter.close();
      if (demo.built) process.stderr.write(`Built it (first run only): ${demo.dir}\n`);
      dir = demo.dir;
      samples = o.samples ?? demo.samples;
      random = true;
    } catch (e) {
      reporter.close(true);
      throw e;
    }
  }
  const pkg = await readPackage(dir);
  const m = pkg.manifest;
  const images = samples === undefined ? undefined : findSamples(samples);
  if (o.samples !== undefined && images === undefined) {
    throw new OptionError('OPTION_INVALID', `No IDX images at ${o.samples}`, {
      option: '--samples',
      hint: 'Give an IDX images file (…-images-idx3-ubyte, labels next to it) or a folder holding one',
    });
  }
  const data =
    images === undefined
      ? randomInputs(pkg, 64)
      : await openDataset(
          images,
          {
            shape: m.input.shape,
            layout: m.preprocess?.layout ?? 'NCHW',
            ...(m.preprocess ? { preprocess: m.preprocess } : {}),
          },
          { option: '--samples' },
        );
  const catalog = m.stitches.every((s) => s.macs !== undefined && s.macs > 0) ? catalogFromManifest(m) : undefined;
  return { pkg, catalog, data, random };
}

const RANDOM_NOTICE = [
  '┌──────────────────────────────────────────────────────────────────────────────────────┐',
  '│ RANDOM WEIGHTS. This stand-in family has untrained, random weights: its accuracy is   │',
  '│ chance (about 10 %) and means nothing. For the trained Fashion-MNIST family run       │',
  '│ npm install @stitchnet/fmnist-vit. Costs, latencies and stitch switches are real.     │',
  '└──────────────────────────────────────────────────────────────────────────────────────┘',
].join('\n');

/** The demo's first lines: the model, profile, provider and signals, the samples and the run's length. */
function headerText(
  o: DemoCliOptions,
  rt: StitchRuntime,
  m: StitchRuntime['manifest'],
  data: { name: string; size: number; labels?: unknown },
  trace: Trace | undefined,
  speed: number,
  profile: string,
): string {
  const signals = trace
    ? `trace ${o.trace} (${formatClock(traceDurationMs(trace))}${speed !== 1 ? ` played ${speed.toFixed(speed < 10 ? 1 : 0)}× faster` : ''})`
    : "this machine's sensors";
  return [
    `Model ${m.name}: ${m.stitches.length} stitches; profile ${rt.profile?.name ?? profile}; provider ${rt.provider}; signals: ${signals}`,
    `Samples: ${data.name} (${data.size}${data.labels ? ', labelled' : ', no labels: accuracy n/a'}); running for ${o.duration} s, starting on stitch ${rt.stitch}`,
    '',
  ].join('\n');
}

async function runDemo(o: DemoCliOptions): Promise<void> {
  const root = installRoot();
  const profile = o.profile ?? 'balanced';
  const trace: Trace | undefined = o.trace === undefined ? undefined : loadTrace(o.trace);
  const durationMs = o.duration * 1000;
  const { pkg, catalog, data, random } = await setUp(o, root);
  if (random) process.stderr.write(`${RANDOM_NOTICE}\n`);

  // A trace is played `speed` times faster than real time (by default, all of it within the
  // duration), and with it the profile's smoothing, dwell and delays.
  const speed = trace ? (o.speed ?? Math.max(1, traceDurationMs(trace) / durationMs)) : 1;
  const scheduler: SchedulerLike | undefined = trace && speed !== 1 ? scaledScheduler(speed) : undefined;
  const rt = await StitchRuntime.create({
    model: pkg,
    profile,
    watchProfile: false,
    ...(o.provider ? { providers: o.provider } : {}),
    ...(trace ? { systemSource: traceSource(trace) } : {}),
    ...(scheduler ? { scheduler } : {}),
  });
  // The runtime warmed every piece up at create(); the policy sees every run from the first.
  const recording = o.record === undefined ? undefined : startRecording(rt, o.record);
  const t0 = (scheduler ?? asyncScheduler).now();
  const started = performance.now();
  const stats = new DemoStats(rt.stitch, started);
  const clock = () => formatClock(scheduler ? scheduler.now() - t0 : performance.now() - started).padStart(7);
  // With --json the live view goes to stderr and stdout holds the summary alone.
  const screen = o.json ? process.stderr : process.stdout;
  screen.write(headerText(o, rt, pkg.manifest, data, trace, speed, profile));

  const live = new LiveOutput(screen);
  const draw = () => live.status(statusLines(stats, catalog, clock()));
  const subs = [
    rt.state$.subscribe((s) => {
      stats.state = s;
    }),
    rt.stitchChanges$.subscribe((c) => {
      stats.recordChange(c, performance.now());
      live.line(changeLine(c, catalog, clock()));
      if (live.tty) draw();
    }),
    rt.errors$.subscribe((e) => process.stderr.write(`warning: ${e.message}\n`)),
  ];
  const ticker = setInterval(draw, live.tty ? 200 : 1000);
  let stop = false;
  const interrupt = () => {
    stop = true;
  };
  process.once('SIGINT', interrupt);
  // A reader that went away (`| head`) stops the demo as Ctrl-C does.
  outputClosed.addEventListener('abort', interrupt);
  try {
    for (let i = 0; !stop && performance.now() - started < durationMs; i = (i + 1) % data.size) {
      const r = await rt.classify(data.batch(i, 1), { topK: 1 });
      const label = data.labels?.[i];
      stats.recordRun(r.stitch, r.ms, label === undefined ? undefined : r.labels[0]?.index === label);
    }
  } finally {
    clearInterval(ticker);
    process.removeListener('SIGINT', interrupt);
    outputClosed.removeEventListener('abort', interrupt);
    for (const s of subs) s.unsubscribe();
    draw();
    live.end();
    await rt.close();
    await recording?.done;
  }
  const end = performance.now();
  if (o.json) process.stdout.write(`${JSON.stringify(summaryJson(stats, catalog, end, t0), null, 2)}\n`);
  else process.stdout.write(`\n${summaryText(stats, catalog, end, random)}`);
  if (o.record !== undefined)
    screen.write(
      `Recorded every reading the policy saw to ${o.record} (replay it on this device's latencies: stitchnet simulate --model ${pkg.dir} --profile ${profile} --trace ${o.record} --latency device)\n`,
    );
  if (random)
    process.stderr.write(
      'Reminder: random weights; the accuracy above means nothing (npm install @stitchnet/fmnist-vit for the trained family).\n',
    );
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run a stitch package live under a profile with this machine’s signals (or a trace): active stitch, MACs, latency, accuracy, device readings and every switch with its reason.',
    )
    .option(
      '--model <dir>',
      'stitch package (default: models/fmnist-vit if present, else a random-weight stand-in built into the cache)',
    )
    .option('--profile <file|name>', 'profile: a file, or a shipped profile by name (default: balanced)')
    .option('--duration <s>', 'seconds to run', positiveNumber('--duration'), 20)
    .option('--samples <path>', 'IDX images (labels next to them) or a folder holding them (default: <model>/samples)')
    .option('--trace <file>', 'drive the signals from a recorded trace instead of the sensors (see examples/traces)')
    .option(
      '--speed <x>',
      'with --trace: replay speed (default: the whole trace within --duration)',
      positiveNumber('--speed'),
    )
    .option(
      '--cache <dir>',
      'where the random-weight stand-in is built (default: $STITCHNET_CACHE_DIR, else the OS cache folder)',
    )
    .option(
      '--record <file.csv>',
      'write every reading the policy saw (inference latencies included) to a trace CSV that simulate replays to the same switches',
    )
    .option(
      '--json',
      'print the summary as JSON on stdout (switches, time and runs per stitch, accuracy); the live view goes to stderr',
    )
    .option(
      '--provider <list>',
      `execution providers in order of preference, comma-separated (${PROVIDER_NAMES.join(', ')})`,
      (v: string) => v.split(',').map((p) => oneOf('--provider', PROVIDER_NAMES)(p.trim())),
    )
    .action(async (o: DemoCliOptions) => {
      if (o.speed !== undefined && o.trace === undefined)
        throw new OptionError('OPTION_INVALID', '--speed only applies to --trace', {
          option: '--speed',
          hint: 'Add --trace <file>, or drop --speed',
        });
      await runDemo(o);
    });
}
