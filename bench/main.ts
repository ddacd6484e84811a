/**
 * `npm run bench [-- --json <file>] [-- --provider <name>]`: what stitchnet's runtime costs against
 * running the same stitch as one fused ONNX session, measured side by side in one run.
 *
 * (a) latency ratios, batch 1 and 8, DeiT-S scale (Ti→S at a middle cut) and tiny scale, each a
 *     pair timed side by side with nothing else alive (`latency.ts`): runtime ÷ fused session for
 *     each runtime kind, worker ÷ in-process, `cpuMemArena: false` ÷ `true`; every ratio with its
 *     95% interval, rounds going on until that interval is narrow enough or the budget is spent;
 * (b) switching: the `setStitch()` call, `setStitch()` → first result, and the first run after a
 *     switch minus the next run (against a no-switch control), vs a fresh fused session + its run;
 * (c) memory over a baseline with every piece of a DeiT Ti/S/B family loaded ÷ the weight bytes —
 *     RSS, anonymous memory and PSS — in fresh child processes, as written by default (DeiT pieces
 *     as external data) and with every piece inline, and (when over target) variants;
 *     `--memory-only` runs this section alone;
 * (d) main-thread event-loop lag while inferring back to back, worker vs in-process.
 *
 * Progress goes to stderr, the tables to stdout (`report.ts`).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolveThreads } from '../src/engine/options.js';
import { PROVIDER_NAMES } from '../src/engine/providers.js';
import { cpuMeter, environment } from './env.js';
import {
  DEIT_TS_FAMILY,
  DEIT_TSB_FAMILY,
  type FamilyPackage,
  MICRO_FAMILY,
  TINY_FAMILY,
  routeModelBytes,
  writeFamilyPackage,
} from './families.js';
import { type BenchContext, type Scale, createRuntime, latency, sample } from './latency.js';
import { type SwitchSample, eventLoopLag, freshSessionTrials, switchTrials } from './measure.js';
import {
  buildReport,
  memoryTable,
  printTables,
  TARGETS,
  type BenchOptions,
  type LagResult,
  type ScaleResults,
  type SwitchResult,
} from './report.js';
import {
  INLINE_VARIANT,
  MORE_VARIANTS,
  PROBE_FLAG,
  RUNTIME_VARIANT,
  type RssResult,
  type RssVariant,
  probeInChild,
  runProbe,
} from './rss.js';
import { type Manifest, readPackage, writePackage } from '../src/package/index.js';
import { round, summarize } from './stats.js';

const started = performance.now();
const log = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
const gc = () => (globalThis as { gc?: () => void }).gc?.();

/** (b) at one scale, on a runtime of its own without fast path; `withFresh` adds the fresh-session trials. */
async function switching(
  scale: Scale,
  family: FamilyPackage,
  ctx: BenchContext,
  kind: 'route.worker' | 'route.inProcess',
  withFresh: boolean,
): Promise<SwitchResult> {
  const rt = await createRuntime(kind, scale, family, ctx);
  try {
    const x = sample(scale.spec, 1);
    const [a, b] = scale.switchPair;
    log(
      `${scale.label}: ${scale.switchTrials} switch trials ${a}⇄${b} on the ${rt.mode} runtime (+ as many no-switch controls)`,
    );
    const meter = cpuMeter();
    const pairs = [[a, b] as const, [b, a] as const];
    const { switched, control } = await switchTrials(rt, x.data, pairs, {
      trials: scale.switchTrials,
      settleRuns: scale.settleRuns,
    });
    let fresh: number[] | undefined;
    if (withFresh) {
      log(`${scale.label}: ${scale.freshTrials} fresh fused sessions of stitch ${b} (create + first run)`);
      fresh = await freshSessionTrials(routeModelBytes(family, b), ctx.settings, x, scale.freshTrials);
    }
    const pick = (xs: SwitchSample[], key: keyof SwitchSample) => summarize(xs.map((s) => s[key]));
    return {
      pair: [a, b],
      trials: switched.length,
      setStitchMs: pick(switched, 'setStitchMs'),
      firstRunMs: pick(switched, 'firstRunMs'),
      steadyRunMs: pick(switched, 'steadyRunMs'),
      overheadMs: pick(switched, 'overheadMs'),
      controlOverheadMs: pick(control, 'overheadMs'),
      switchToResultMs: pick(switched, 'switchToResultMs'),
      ...(fresh ? { freshSessionMs: summarize(fresh) } : {}),
      cpu: meter(),
    };
  } finally {
    await rt.close();
  }
}

/** (d) at one scale: idle, then back-to-back b1 runs on a worker runtime, then on an in-process one (each alone). */
async function lag(scale: Scale, family: FamilyPackage, ctx: BenchContext, seconds: number): Promise<LagResult> {
  const x = sample(scale.spec, 1).data;
  log(`${scale.label}: event-loop lag, ${seconds} s idle / worker / in-process`);
  const meter = cpuMeter();
  const idle = await eventLoopLag(seconds * 1000);
  const during = async (kind: 'route.worker' | 'route.inProcess') => {
    const rt = await createRuntime(kind, scale, family, ctx);
    try {
      await rt.run(x);
      return await eventLoopLag(seconds * 1000, () => rt.run(x));
    } finally {
      await rt.close();
    }
  };
  const worker = await during('route.worker');
  const inProcess = await during('route.inProcess');
  return { idle, worker, inProcess, cpu: meter() };
}

/** The family of (c): where it is and how big. */
interface RssFamily {
  /** Written with `writePackage`'s defaults. */
  dir: string;
  /** The same family with every piece's weights inside its ONNX file. */
  inlineDir: string;
  name: string;
  pieceBytes: number;
  /** The stitch whose b1 latency each variant reports. */
  latencyStitch: number;
}

/** (c): the runtime in a child process, then (when over target) the other variants. */
async function memory(
  family: RssFamily,
  microDir: string,
  ctx: BenchContext,
  withVariants: boolean,
): Promise<{ runtime: RssResult; variants: RssResult[] }> {
  const script = fileURLToPath(import.meta.url);
  const base = {
    microDir,
    weightBytes: family.pieceBytes,
    latencyStitch: family.latencyStitch,
    latencyRuns: 5,
    provider: ctx.provider,
  };
  const probe = (variant: RssVariant) =>
    probeInChild(script, { ...base, dir: variant.inlinePieces ? family.inlineDir : family.dir, variant });
  log(
    `memory: ${family.name} (${(family.pieceBytes / 1024 ** 2).toFixed(0)} MB of pieces) in StitchRuntime, worker mode`,
  );
  const runtime = await probe(RUNTIME_VARIANT);
  log(`memory: variant ${INLINE_VARIANT.name} (${INLINE_VARIANT.description})`);
  const variants: RssResult[] = [await probe(INLINE_VARIANT)];
  const over = Math.max(runtime.overWeights.loaded, runtime.overWeights.afterRunB1) > TARGETS.rssOverWeights;
  if (withVariants && over) {
    for (const variant of MORE_VARIANTS) {
      log(`memory: variant ${variant.name} (${variant.description})`);
      variants.push(await probe(variant));
    }
  }
  return { runtime, variants };
}

function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function parseOptions(): BenchOptions {
  return new Command()
    .name('bench')
    .description("Measures stitchnet's runtime against fused ONNX sessions of the same stitches.")
    .option('--json <file>', 'also write every figure as JSON to this file')
    .addOption(
      new Option('--provider <name>', 'execution provider of every session')
        .choices([...PROVIDER_NAMES])
        .default('cpu'),
    )
    .option('--max-rounds <n>', 'most timed rounds of a DeiT-S b1 pair (b8: a quarter; tiny: ×8)', parsePositive, 80)
    .option(
      '--target <fraction>',
      'stop a pair once its ratio is known within ± this fraction (95% interval)',
      parsePositive,
      0.01,
    )
    .option('--switch-trials <n>', 'switch trials at tiny scale (each with a no-switch control)', parsePositive, 300)
    .option('--deit-switch-trials <n>', 'switch trials at DeiT-S scale', parsePositive, 30)
    .option('--lag-seconds <s>', 'length of each event-loop lag window', parsePositive, 3)
    .option(
      '--skip-deit',
      'tiny scale only (a quick check; DeiT figures are null and memory uses the tiny family)',
      false,
    )
    .option('--no-rss-variants', 'do not compare memory variants when the runtime is over target')
    .option('--memory-only', 'run only the memory section (c) and print its table', false)
    .option('--keep', 'keep the generated packages', false)
    .parse(process.argv)
    .opts<BenchOptions>();
}

function scales(opts: BenchOptions): { tiny: Scale; deitS: Scale } {
  const max = opts.maxRounds;
  const tiny: Scale = {
    key: 'tiny',
    label: 'tiny',
    spec: TINY_FAMILY,
    stitch: 4, // a0→a1 at [2, 3]
    switchPair: [4, 7], // a0→a1 [2, 3] ⇄ a1→a2 [2, 3]
    fastPath: {},
    overFused: ['route.worker', 'fast.worker', 'route.inProcess', 'fast.inProcess'],
    rounds: { b1: { min: 200, max: max * 8 }, b8: { min: 200, max: max * 8 } },
    warmup: 10,
    switchTrials: opts.switchTrials,
    settleRuns: 3,
    freshTrials: 20,
  };
  const deitS: Scale = {
    key: 'deitS',
    label: 'DeiT-S',
    spec: DEIT_TS_FAMILY,
    stitch: 3, // Ti→S at [5, 6]
    switchPair: [3, 0], // Ti→S [5, 6] ⇄ DeiT-Ti
    fastPath: {},
    overFused: ['route.worker', 'fast.worker', 'route.inProcess'],
    rounds: { b1: { min: 30, max }, b8: { min: 10, max: Math.max(10, Math.round(max / 4)) } },
    warmup: 3,
    switchTrials: opts.deitSwitchTrials,
    settleRuns: 1,
    freshTrials: 8,
  };
  return { tiny, deitS };
}

/** Sections (a), (b) and (d) at one scale. */
async function runScale(
  scale: Scale,
  family: FamilyPackage,
  ctx: BenchContext,
  opts: BenchOptions,
): Promise<ScaleResults> {
  const lat = await latency(scale, family, ctx);
  const switchWorker = await switching(scale, family, ctx, 'route.worker', true);
  const switchInProcess =
    scale.key === 'tiny' ? await switching(scale, family, ctx, 'route.inProcess', false) : undefined;
  const lagResult = await lag(
    scale,
    family,
    ctx,
    scale.key === 'tiny' ? Math.min(2, opts.lagSeconds) : opts.lagSeconds,
  );
  return { latency: lat, switchWorker, ...(switchInProcess ? { switchInProcess } : {}), lag: lagResult };
}

/**
 * The DeiT-Ti/S/B family for (c), or the tiny one with --skip-deit; only its folders and size are
 * kept. It is written with `writePackage`'s defaults (DeiT-scale pieces as external data), then
 * again with every piece's weights inline, for the comparison.
 */
async function memoryFamily(tmp: string, tiny: FamilyPackage | undefined): Promise<RssFamily> {
  const written = tiny ?? (await writeDeitTsb(tmp));
  const inlineDir = path.join(tmp, `${written.manifest.name}-inline`);
  log(`writing ${written.manifest.name} again with every piece's weights inline`);
  await rewriteInline(written.dir, inlineDir);
  const latencyStitch = 7; // S→B at [5, 6] (tiny: a1→a2 at [2, 3])
  return { dir: written.dir, inlineDir, name: written.manifest.name, pieceBytes: written.pieceBytes, latencyStitch };
}

async function writeDeitTsb(tmp: string): Promise<FamilyPackage> {
  log('writing the DeiT-Ti/S/B package');
  return writeFamilyPackage(path.join(tmp, 'deit-tsb'), DEIT_TSB_FAMILY);
}

/** Writes the package at `from` again at `to` with `externalData: 'none'`. */
async function rewriteInline(from: string, to: string): Promise<Manifest> {
  const pkg = await readPackage(from);
  const files = new Map<string, Uint8Array>();
  for (const [id, piece] of Object.entries(pkg.manifest.pieces)) files.set(piece.file, await pkg.pieceBytes(id));
  return writePackage(to, { manifest: pkg.manifest, files, externalData: 'none' });
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const env = await environment();
  const ctx: BenchContext = {
    provider: opts.provider,
    settings: { provider: opts.provider, threads: resolveThreads(undefined) },
    targetHalfWidth: opts.target,
    log,
  };
  log(
    `${env.cpu}, ${env.cores} cores, load average ${env.loadAverageAtStart.join(' ')}; node ${env.node}, onnxruntime-node ${env.onnxruntime}; provider ${opts.provider}`,
  );
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-bench-'));
  try {
    if (opts.memoryOnly) {
      await memoryOnly(tmp, ctx, opts);
      return;
    }
    const { tiny, deitS } = scales(opts);
    log('writing the tiny and micro packages');
    const micro = await writeFamilyPackage(path.join(tmp, 'micro'), MICRO_FAMILY);
    const tinyFamily = await writeFamilyPackage(path.join(tmp, 'tiny'), TINY_FAMILY);
    const tinyResults = await runScale(tiny, tinyFamily, ctx, opts);
    let deitResults: ScaleResults | undefined;
    if (!opts.skipDeit) {
      log('writing the DeiT-Ti/S package');
      deitResults = await runScale(
        deitS,
        await writeFamilyPackage(path.join(tmp, 'deit-ts'), DEIT_TS_FAMILY),
        ctx,
        opts,
      );
      await rm(path.join(tmp, 'deit-ts'), { recursive: true, force: true });
    }
    const rssFamily = await memoryFamily(tmp, opts.skipDeit ? tinyFamily : undefined);
    gc();
    const rss = await memory(rssFamily, micro.dir, ctx, opts.rssVariants);
    const wallSeconds = (performance.now() - started) / 1000;
    const report = buildReport({
      env,
      opts,
      threads: ctx.settings.threads,
      tiny: tinyResults,
      deitS: deitResults,
      rss,
      rssFamilyName: rssFamily.name,
      wallSeconds,
    });
    process.stdout.write(`${printTables(report)}\n`);
    if (opts.json) {
      await mkdir(path.dirname(path.resolve(opts.json)), { recursive: true });
      await writeFile(
        opts.json,
        `${JSON.stringify(report, (_, v: unknown) => (typeof v === 'number' ? round(v, 4) : v), 2)}\n`,
      );
      log(`wrote ${opts.json}`);
    }
  } finally {
    if (opts.keep) log(`packages kept in ${tmp}`);
    else await rm(tmp, { recursive: true, force: true });
  }
}

/** `--memory-only`: section (c) alone, its table on stdout (and its figures in `--json`). */
async function memoryOnly(tmp: string, ctx: BenchContext, opts: BenchOptions): Promise<void> {
  log('writing the micro package');
  const micro = await writeFamilyPackage(path.join(tmp, 'micro'), MICRO_FAMILY);
  const tinyFamily = opts.skipDeit ? await writeFamilyPackage(path.join(tmp, 'tiny'), TINY_FAMILY) : undefined;
  const family = await memoryFamily(tmp, tinyFamily);
  gc();
  const rss = await memory(family, micro.dir, ctx, opts.rssVariants);
  const rep = { rss: { family: family.name, ...rss } };
  process.stdout.write(`${memoryTable(rep)}\n`);
  if (opts.json) {
    await mkdir(path.dirname(path.resolve(opts.json)), { recursive: true });
    await writeFile(
      opts.json,
      `${JSON.stringify(rep, (_, v: unknown) => (typeof v === 'number' ? round(v, 4) : v), 2)}\n`,
    );
  }
}

if (process.argv[2] === PROBE_FLAG) {
  await runProbe(JSON.parse(process.argv[3] ?? '{}'));
} else {
  await main();
}
