/**
 * `npm run bench [-- --json <file>]`: what stitchnet's runtime costs against running the same
 * stitch as one fused ONNX session, measured side by side in one run.
 *
 * (a) route ÷ fused latency, batch 1 and 8, DeiT-S scale (Ti→S at a middle cut) and tiny scale,
 *     fast path off and on, runs of all cells interleaved in rotating order;
 * (b) switching: the `setStitch()` call, `setStitch()` → first result, and the first run after a
 *     switch minus the next run (against a no-switch control), vs a fresh fused session + its run;
 * (c) RSS over a baseline with every piece of a DeiT Ti/S/B family loaded ÷ the weight bytes,
 *     in fresh child processes, and (when over target) what ORT session options change;
 * (d) main-thread event-loop lag while inferring back to back, worker vs in-process.
 *
 * Progress goes to stderr, the tables to stdout.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { type FastPathOptions, RuntimeError, StitchRuntime, type RunResult } from '../src/index.js';
import { resolveThreads } from '../src/engine/options.js';
import { OrtSession, type SessionSettings } from '../src/engine/ort.js';
import { type CpuWindow, cpuMeter, environment } from './env.js';
import {
  DEIT_TS_FAMILY,
  DEIT_TSB_FAMILY,
  type FamilyPackage,
  type FamilySpec,
  MICRO_FAMILY,
  TINY_FAMILY,
  routeModelBytes,
  sampleSize,
  uniform,
  writeFamilyPackage,
} from './families.js';
import { type Cell, type Lag, type SwitchSample, echoWorker, eventLoopLag, freshSessionTrials, interleaved, switchTrials } from './measure.js';
import { MORE_VARIANTS, PROBE_FLAG, RUNTIME_VARIANT, type RssResult, probeInChild, runProbe } from './rss.js';
import { type Summary, median, round, summarize } from './stats.js';

const TARGETS = { deitS: 1.02, tinyFast: 1.05, switchP99Ms: 1, rssOverWeights: 1.15, lagP99Ms: 10 };

interface Options {
  json?: string;
  rounds: number;
  tinyRounds: number;
  switchTrials: number;
  deitSwitchTrials: number;
  lagSeconds: number;
  skipDeit: boolean;
  rssVariants: boolean;
  keep: boolean;
}

/** One scale: its family, the stitch timed in (a), and the pair switched in (b). */
interface Scale {
  label: string;
  spec: FamilySpec;
  /** The stitch of (a) and (d). */
  stitch: number;
  /** (b) switches between these two. */
  switchPair: [number, number];
  /** Fast-path options of the `fast.*` runtimes. */
  fastPath: FastPathOptions;
  rounds: number;
  warmup: number;
  switchTrials: number;
  settleRuns: number;
  freshTrials: number;
}

type RuntimeKind = 'route.worker' | 'fast.worker' | 'route.inProcess' | 'fast.inProcess' | 'route.worker.noArena';
const RUNTIME_KINDS: Record<RuntimeKind, { worker: boolean; fast: boolean; cpuMemArena?: boolean }> = {
  'route.worker': { worker: true, fast: false },
  'fast.worker': { worker: true, fast: true },
  'route.inProcess': { worker: false, fast: false },
  'fast.inProcess': { worker: false, fast: true },
  // The default runtime with onnxruntime's CPU arena off: what the smaller resident set costs per run.
  'route.worker.noArena': { worker: true, fast: false, cpuMemArena: false },
};

const started = performance.now();
const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
const settings: SessionSettings = { provider: 'cpu', threads: resolveThreads(undefined) };
const gc = () => (globalThis as { gc?: () => void }).gc?.();

function sample(spec: FamilySpec, batch: number, seed = 3): { data: Float32Array; dims: number[] } {
  const { channels, imageSize } = spec.image;
  return { data: uniform(batch * sampleSize(spec), seed, 1), dims: [batch, channels, imageSize, imageSize] };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function benchError(message: string): RuntimeError {
  return new RuntimeError('INFERENCE_FAILED', message, { hint: 'The benchmark checks that it measures what it claims; this check failed.' });
}

/** Runs the active stitch until the runtime's fast path has kicked in by itself (its own thresholds). */
async function untilFused(rt: StitchRuntime, x: Float32Array, timeoutMs: number): Promise<{ runs: number; ms: number }> {
  const t0 = performance.now();
  for (let runs = 1; ; runs++) {
    const r = await rt.run(x);
    if (r.path === 'fused') return { runs, ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs) throw benchError(`the fast path did not kick in within ${timeoutMs} ms (${runs} runs)`);
  }
}

interface LatencyResult {
  /** Per batch, per cell: summary of the timed runs (ms). */
  cells: Record<string, Record<string, Summary>>;
  /** Per batch, per runtime kind: median ÷ fused median. */
  ratios: Record<string, Record<string, number>>;
  /** Per batch, per runtime kind: median over rounds of (cell ÷ fused of the same round). */
  pairedRatios: Record<string, Record<string, number>>;
  /** Per batch: a bare worker round trip (input copied and transferred, logits-sized reply), interleaved with the cells (ms). */
  workerRoundTrip: Record<string, Summary>;
  /** Per batch, per runtime kind: max |runtime − fused| of the logits. */
  maxAbsDiff: Record<string, Record<string, number>>;
  fastPathKickIn: Record<string, { runs: number; ms: number }>;
  /** Per batch: median over rounds of (arena-off runtime ÷ default runtime of the same round), when both ran. */
  arenaOffRatio: Record<string, number>;
  cpu: CpuWindow;
}

/** (a) at one scale. Leaves the runtimes open for the later sections. */
async function latency(scale: Scale, family: FamilyPackage, kinds: RuntimeKind[], runtimes: Map<RuntimeKind, StitchRuntime>): Promise<LatencyResult> {
  log(`${scale.label}: creating the fused session of stitch ${scale.stitch} and ${kinds.length} runtimes`);
  const fused = await OrtSession.create(routeModelBytes(family, scale.stitch), settings, 'the fused route');
  for (const kind of kinds) {
    const { worker, fast, cpuMemArena } = RUNTIME_KINDS[kind];
    const rt = await StitchRuntime.create({
      model: family.dir,
      providers: ['cpu'],
      worker,
      fastPath: fast ? scale.fastPath : false,
      stitch: scale.stitch,
      ...(cpuMemArena === undefined ? {} : { cpuMemArena }),
    });
    rt.errors$.subscribe((e) => log(`runtime ${kind} reported: ${e.message}`));
    runtimes.set(kind, rt);
  }
  const kickIn: LatencyResult['fastPathKickIn'] = {};
  for (const kind of kinds.filter((k) => RUNTIME_KINDS[k].fast)) {
    kickIn[kind] = await untilFused(runtimes.get(kind) as StitchRuntime, sample(scale.spec, 1).data, 300_000);
    log(`${scale.label}: ${kind} fast path kicked in after ${kickIn[kind].runs} runs, ${(kickIn[kind].ms / 1000).toFixed(1)} s`);
  }
  const result: Omit<LatencyResult, 'cpu'> = { cells: {}, ratios: {}, pairedRatios: {}, workerRoundTrip: {}, maxAbsDiff: {}, fastPathKickIn: kickIn, arenaOffRatio: {} };
  const echo = echoWorker(family.manifest.output.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : 1), 1));
  const meter = cpuMeter();
  for (const batch of [1, 8]) {
    const b = `b${batch}`;
    const x = sample(scale.spec, batch);
    const reference = (await fused.run(fused.tensor(x.data, x.dims), 'the fused route')).data as Float32Array;
    result.maxAbsDiff[b] = {};
    const wrong = new Map<string, number>();
    const cells: Cell[] = [
      {
        name: 'fused',
        run: async () => {
          const y = await fused.run(fused.tensor(x.data, x.dims), 'the fused route');
          if (y.dims[0] !== batch) throw benchError('the fused session returned the wrong batch');
        },
      },
    ];
    for (const kind of kinds) {
      const rt = runtimes.get(kind) as StitchRuntime;
      const want = RUNTIME_KINDS[kind].fast ? 'fused' : 'route';
      const check = (r: RunResult) => {
        if (r.path !== want || r.stitch !== scale.stitch) wrong.set(kind, (wrong.get(kind) ?? 0) + 1);
      };
      const first = await rt.run(x.data);
      check(first);
      result.maxAbsDiff[b][kind] = maxAbsDiff(first.logits, reference);
      cells.push({ name: kind, run: async () => check(await rt.run(x.data)) });
    }
    cells.push({ name: 'workerRoundTrip', run: () => echo.roundTrip(x.data) });
    const rounds = scale.rounds;
    log(`${scale.label} ${b}: ${cells.length} cells × ${rounds} interleaved rounds`);
    const times = await interleaved(cells, {
      warmup: scale.warmup,
      rounds,
      onRound: (r) => {
        if ((r + 1) % Math.max(1, Math.round(rounds / 4)) === 0) log(`${scale.label} ${b}: round ${r + 1}/${rounds}`);
      },
    });
    const [wrongKind, wrongRuns] = [...wrong][0] ?? [];
    if (wrongKind) throw benchError(`${scale.label} ${b}: ${wrongRuns} runs of ${wrongKind} did not take the expected path or stitch`);
    const fusedTimes = times.fused as number[];
    result.workerRoundTrip[b] = summarize(times.workerRoundTrip as number[]);
    result.cells[b] = Object.fromEntries(Object.entries(times).filter(([k]) => k !== 'workerRoundTrip').map(([k, v]) => [k, summarize(v)]));
    result.ratios[b] = Object.fromEntries(kinds.map((k) => [k, median(times[k] as number[]) / median(fusedTimes)]));
    result.pairedRatios[b] = Object.fromEntries(kinds.map((k) => [k, median((times[k] as number[]).map((t, i) => t / (fusedTimes[i] as number)))]));
    const [withArena, noArena] = [times['route.worker'], times['route.worker.noArena']];
    if (withArena && noArena) result.arenaOffRatio[b] = median(noArena.map((t, i) => t / (withArena[i] as number)));
    for (const [kind, d] of Object.entries(result.maxAbsDiff[b])) {
      if (!(d <= 1e-5)) throw benchError(`${scale.label} ${b}: ${kind} differs from the fused session by ${d}`);
    }
  }
  const cpu = meter();
  await fused.release();
  await echo.close();
  return { ...result, cpu };
}

interface SwitchResult {
  pair: [number, number];
  trials: number;
  setStitchMs: Summary;
  firstRunMs: Summary;
  steadyRunMs: Summary;
  overheadMs: Summary;
  controlOverheadMs: Summary;
  switchToResultMs: Summary;
  /** Fresh fused session of the stitch switched to, created from bytes in memory, plus its first run. */
  freshSessionMs?: Summary;
  cpu: CpuWindow;
}

/** (b) at one scale, on a runtime without fast path; `withFresh` adds the fresh-session trials. */
async function switching(scale: Scale, family: FamilyPackage, rt: StitchRuntime, withFresh: boolean): Promise<SwitchResult> {
  const x = sample(scale.spec, 1);
  const [a, b] = scale.switchPair;
  log(`${scale.label}: ${scale.switchTrials} switch trials ${a}⇄${b} on the ${rt.mode} runtime (+ as many no-switch controls)`);
  const meter = cpuMeter();
  const { switched, control } = await switchTrials(
    rt,
    x.data,
    [
      [a, b],
      [b, a],
    ],
    {
      trials: scale.switchTrials,
      settleRuns: scale.settleRuns,
      onTrial: (n) => {
        if (n % Math.max(1, Math.round(scale.switchTrials / 4)) === 0) log(`${scale.label}: switch trial ${n}/${scale.switchTrials}`);
      },
    },
  );
  let fresh: number[] | undefined;
  if (withFresh) {
    log(`${scale.label}: ${scale.freshTrials} fresh fused sessions of stitch ${b} (create + first run)`);
    fresh = await freshSessionTrials(routeModelBytes(family, b), settings, x, scale.freshTrials);
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
}

interface LagResult {
  idle: Lag;
  worker: Lag;
  inProcess: Lag;
  cpu: CpuWindow;
}

/** (d) at one scale: idle, then back-to-back b1 runs on the worker and on the in-process runtime. */
async function lag(scale: Scale, worker: StitchRuntime, inProcess: StitchRuntime, seconds: number): Promise<LagResult> {
  const x = sample(scale.spec, 1).data;
  log(`${scale.label}: event-loop lag, ${seconds} s idle / worker / in-process`);
  const meter = cpuMeter();
  const idle = await eventLoopLag(seconds * 1000);
  worker.setStitch(scale.stitch);
  inProcess.setStitch(scale.stitch);
  const w = await eventLoopLag(seconds * 1000, () => worker.run(x));
  const p = await eventLoopLag(seconds * 1000, () => inProcess.run(x));
  return { idle, worker: w, inProcess: p, cpu: meter() };
}

/** The family of (c): where it is and how big. */
interface RssFamily {
  dir: string;
  name: string;
  pieceBytes: number;
  /** The stitch whose b1 latency each variant reports. */
  latencyStitch: number;
}

/** (c): the runtime in a child process, then (when over target) the other variants. */
async function memory(family: RssFamily, microDir: string, withVariants: boolean): Promise<{ runtime: RssResult; variants: RssResult[] }> {
  const script = fileURLToPath(import.meta.url);
  const base = { dir: family.dir, microDir, latencyStitch: family.latencyStitch, latencyRuns: 5 };
  log(`RSS: ${family.name} (${(family.pieceBytes / 1024 ** 2).toFixed(0)} MB of pieces) in StitchRuntime, worker mode`);
  const runtime = await probeInChild(script, { ...base, variant: RUNTIME_VARIANT });
  const variants: RssResult[] = [];
  const over = Math.max(runtime.overWeights.loaded, runtime.overWeights.afterRunB1) > TARGETS.rssOverWeights;
  if (withVariants && over) {
    for (const variant of MORE_VARIANTS) {
      log(`RSS: variant ${variant.name} (${variant.description})`);
      variants.push(await probeInChild(script, { ...base, variant }));
    }
  }
  return { runtime, variants };
}

// ——— output ———

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i] as number)).join('  ');
  return [line(cells[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function fmt(x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

function verdict(value: number | null | undefined, target: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'not measured';
  return value <= target ? 'met' : `MISSED by ${fmt(value - target)} (${fmt((value / target - 1) * 100)}%)`;
}

function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

async function main(): Promise<void> {
  const opts = new Command()
    .name('bench')
    .description("Measures stitchnet's runtime against fused ONNX sessions of the same stitches.")
    .option('--json <file>', 'also write every figure as JSON to this file')
    .option('--rounds <n>', 'timed interleaved rounds per cell at DeiT-S scale', parsePositive, 30)
    .option('--tiny-rounds <n>', 'timed interleaved rounds per cell at tiny scale', parsePositive, 100)
    .option('--switch-trials <n>', 'switch trials at tiny scale (each with a no-switch control)', parsePositive, 300)
    .option('--deit-switch-trials <n>', 'switch trials at DeiT-S scale', parsePositive, 30)
    .option('--lag-seconds <s>', 'length of each event-loop lag window', parsePositive, 3)
    .option('--skip-deit', 'tiny scale only (a quick check; DeiT figures are null and RSS uses the tiny family)', false)
    .option('--no-rss-variants', 'do not compare ORT session options when RSS is over target')
    .option('--keep', 'keep the generated packages', false)
    .parse(process.argv)
    .opts<Options>();

  const env = await environment();
  log(`${env.cpu}, ${env.cores} cores, load average ${env.loadAverageAtStart.join(' ')}; node ${env.node}, onnxruntime-node ${env.onnxruntime}`);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-bench-'));
  try {
    const tiny: Scale = {
      label: 'tiny',
      spec: TINY_FAMILY,
      stitch: 4, // a0→a1 at [2, 3]
      switchPair: [4, 7], // a0→a1 [2, 3] ⇄ a1→a2 [2, 3]
      fastPath: {},
      rounds: opts.tinyRounds,
      warmup: 10,
      switchTrials: opts.switchTrials,
      settleRuns: 3,
      freshTrials: 20,
    };
    const deitS: Scale = {
      label: 'DeiT-S',
      spec: DEIT_TS_FAMILY,
      stitch: 3, // Ti→S at [5, 6]
      switchPair: [3, 0], // Ti→S [5, 6] ⇄ DeiT-Ti
      // The default maxRunMs (20) keeps stitches this slow off the fast path; lift it to measure it.
      fastPath: { maxRunMs: Number.POSITIVE_INFINITY },
      rounds: opts.rounds,
      warmup: 3,
      switchTrials: opts.deitSwitchTrials,
      settleRuns: 1,
      freshTrials: 8,
    };

    log('writing the tiny and micro packages');
    const micro = await writeFamilyPackage(path.join(tmp, 'micro'), MICRO_FAMILY);
    const tinyFamily = await writeFamilyPackage(path.join(tmp, 'tiny'), TINY_FAMILY);
    const tinyRt = new Map<RuntimeKind, StitchRuntime>();
    const tinyLatency = await latency(tiny, tinyFamily, ['route.worker', 'fast.worker', 'route.inProcess', 'fast.inProcess', 'route.worker.noArena'], tinyRt);
    const tinySwitch = await switching(tiny, tinyFamily, tinyRt.get('route.worker') as StitchRuntime, true);
    const tinySwitchInProcess = await switching(tiny, tinyFamily, tinyRt.get('route.inProcess') as StitchRuntime, false);
    const tinyLag = await lag(tiny, tinyRt.get('route.worker') as StitchRuntime, tinyRt.get('route.inProcess') as StitchRuntime, Math.min(2, opts.lagSeconds));
    for (const rt of tinyRt.values()) await rt.close();

    let deitLatency: LatencyResult | undefined;
    let deitSwitch: SwitchResult | undefined;
    let deitLag: LagResult | undefined;
    if (!opts.skipDeit) {
      log('writing the DeiT-Ti/S package');
      let family: FamilyPackage | undefined = await writeFamilyPackage(path.join(tmp, 'deit-ts'), DEIT_TS_FAMILY);
      const rts = new Map<RuntimeKind, StitchRuntime>();
      deitLatency = await latency(deitS, family, ['route.worker', 'fast.worker', 'route.inProcess', 'route.worker.noArena'], rts);
      await (rts.get('fast.worker') as StitchRuntime).close();
      await (rts.get('route.worker.noArena') as StitchRuntime).close();
      deitSwitch = await switching(deitS, family, rts.get('route.worker') as StitchRuntime, true);
      family = undefined;
      deitLag = await lag(deitS, rts.get('route.worker') as StitchRuntime, rts.get('route.inProcess') as StitchRuntime, opts.lagSeconds);
      for (const rt of rts.values()) await rt.close();
      await rm(path.join(tmp, 'deit-ts'), { recursive: true, force: true });
    }

    // Only the folder and size of the RSS family are kept: its weights are not needed any more.
    let rssFamily: RssFamily;
    if (opts.skipDeit) {
      rssFamily = { dir: tinyFamily.dir, name: tinyFamily.manifest.name, pieceBytes: tinyFamily.pieceBytes, latencyStitch: 7 };
    } else {
      log('writing the DeiT-Ti/S/B package');
      const written = await writeFamilyPackage(path.join(tmp, 'deit-tsb'), DEIT_TSB_FAMILY);
      rssFamily = { dir: written.dir, name: written.manifest.name, pieceBytes: written.pieceBytes, latencyStitch: 7 }; // S→B at [5, 6]
    }
    gc();
    const rss = await memory(rssFamily, micro.dir, opts.rssVariants);
    const rssFamilyName = rssFamily.name;

    const wallSeconds = (performance.now() - started) / 1000;
    const report = buildReport({ env, opts, tinyLatency, tinySwitch, tinySwitchInProcess, tinyLag, deitLatency, deitSwitch, deitLag, rss, rssFamilyName, wallSeconds });
    process.stdout.write(`${printTables(report)}\n`);
    if (opts.json) {
      await mkdir(path.dirname(path.resolve(opts.json)), { recursive: true });
      await writeFile(opts.json, `${JSON.stringify(report, (_, v: unknown) => (typeof v === 'number' ? round(v, 4) : v), 2)}\n`);
      log(`wrote ${opts.json}`);
    }
  } finally {
    if (opts.keep) log(`packages kept in ${tmp}`);
    else await rm(tmp, { recursive: true, force: true });
  }
}

interface ReportInput {
  env: Awaited<ReturnType<typeof environment>>;
  opts: Options;
  tinyLatency: LatencyResult;
  tinySwitch: SwitchResult;
  tinySwitchInProcess: SwitchResult;
  tinyLag: LagResult;
  deitLatency: LatencyResult | undefined;
  deitSwitch: SwitchResult | undefined;
  deitLag: LagResult | undefined;
  rss: { runtime: RssResult; variants: RssResult[] };
  rssFamilyName: string;
  wallSeconds: number;
}

function buildReport(r: ReportInput) {
  const ratio = (l: LatencyResult | undefined, b: string, kind: RuntimeKind) => l?.ratios[b]?.[kind] ?? null;
  const lagMain = r.deitLag ?? r.tinyLag;
  return {
    routeOverFused: {
      deitS: {
        b1: ratio(r.deitLatency, 'b1', 'route.worker'),
        b8: ratio(r.deitLatency, 'b8', 'route.worker'),
        b1Fast: ratio(r.deitLatency, 'b1', 'fast.worker'),
        b8Fast: ratio(r.deitLatency, 'b8', 'fast.worker'),
      },
      tiny: {
        b1: ratio(r.tinyLatency, 'b1', 'route.worker'),
        b8: ratio(r.tinyLatency, 'b8', 'route.worker'),
        b1Fast: ratio(r.tinyLatency, 'b1', 'fast.worker'),
        b8Fast: ratio(r.tinyLatency, 'b8', 'fast.worker'),
      },
    },
    routeOverFusedDefinition:
      'median StitchRuntime.run() latency (worker mode, the default) ÷ median latency of one ORT session of the same stitch built whole by buildRouteModel, run on the main thread with the same session options; Fast = after the runtime fused the stitch by itself',
    routeOverFusedInProcess: {
      tiny: {
        b1: ratio(r.tinyLatency, 'b1', 'route.inProcess'),
        b8: ratio(r.tinyLatency, 'b8', 'route.inProcess'),
        b1Fast: ratio(r.tinyLatency, 'b1', 'fast.inProcess'),
        b8Fast: ratio(r.tinyLatency, 'b8', 'fast.inProcess'),
      },
    },
    arenaOffOverDefault: { tiny: r.tinyLatency.arenaOffRatio, deitS: r.deitLatency?.arenaOffRatio ?? null },
    arenaOffOverDefaultDefinition: 'median over interleaved rounds of (StitchRuntime.run() with cpuMemArena: false ÷ the default runtime in the same round), route, worker mode, fast path off',
    switchP99Ms: r.tinySwitch.overheadMs.p99,
    switchP99Definition:
      'tiny scale, b1, worker: p99 over trials of (first run after setStitch − the next run of the same stitch); compare with switch.tiny.controlOverheadMs (same measurement without a switch)',
    switchP99NetOfControlMs: r.tinySwitch.overheadMs.p99 - r.tinySwitch.controlOverheadMs.p99,
    switchToResultP99Ms: r.tinySwitch.switchToResultMs.p99,
    setStitchP99Ms: r.tinySwitch.setStitchMs.p99,
    freshSessionMs: (r.deitSwitch ?? r.tinySwitch).freshSessionMs?.median ?? null,
    freshSessionDefinition: `median of ORT session create (from bytes in memory) + first b1 run of the fused stitch, ${r.deitSwitch ? 'DeiT-S' : 'tiny'} scale`,
    rssOverWeights: r.rss.runtime.overWeights.loaded,
    rssOverWeightsDefinition: `(RSS − baseline) ÷ piece bytes, ${r.rssFamilyName}, StitchRuntime in worker mode, every piece loaded; baseline = a micro runtime loaded (ORT and one worker up)`,
    rssOverWeightsAfterRun: { b1: r.rss.runtime.overWeights.afterRunB1, b8: r.rss.runtime.overWeights.afterRunB8 ?? null },
    rssOverWeightsAfterRunDefinition: 'the same after every stitch ran once at batch 1 (b1), then every anchor once at batch 8 (b8)',
    eventLoopLagP99Ms: { worker: lagMain.worker.p99, inProcess: lagMain.inProcess.p99, idle: lagMain.idle.p99 },
    eventLoopLagScale: r.deitLag ? 'deitS' : 'tiny',
    latency: { tiny: r.tinyLatency, deitS: r.deitLatency ?? null },
    switch: { tiny: r.tinySwitch, tinyInProcess: r.tinySwitchInProcess, deitS: r.deitSwitch ?? null },
    eventLoop: { tiny: r.tinyLag, deitS: r.deitLag ?? null },
    rss: { family: r.rssFamilyName, ...r.rss },
    targets: TARGETS,
    environment: { ...r.env, loadAverageAtEnd: os.loadavg(), threads: settings.threads },
    options: r.opts,
    wallSeconds: r.wallSeconds,
  };
}

type Report = ReturnType<typeof buildReport>;

function printTables(rep: Report): string {
  const out: string[] = [];
  const env = rep.environment;
  const la = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  out.push(`stitchnet bench — ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB, node ${env.node}, onnxruntime-node ${env.onnxruntime}, ${env.threads.intraOp} intra-op threads per session, spinning off`);
  out.push(`load average at start ${la(env.loadAverageAtStart)}, at end ${la(env.loadAverageAtEnd)}; wall time ${fmt(rep.wallSeconds)} s`);

  out.push('', '(a) route ÷ fused: median ms over interleaved rounds (ratio = median ÷ fused median; paired = median of per-round ratios)');
  const kinds: RuntimeKind[] = ['route.worker', 'fast.worker', 'route.inProcess', 'fast.inProcess'];
  const rowsA: (string | number)[][] = [];
  for (const [scale, l] of [
    ['tiny', rep.latency.tiny],
    ['DeiT-S', rep.latency.deitS],
  ] as const) {
    if (!l) continue;
    for (const b of ['b1', 'b8']) {
      const cells = l.cells[b] ?? {};
      const row: (string | number)[] = [scale, b, `${(cells.fused as Summary).n}`, cells.fused?.median ?? Number.NaN];
      for (const k of kinds) {
        const c = cells[k];
        row.push(c ? `${fmt(c.median)} (p95 ${fmt(c.p95)})` : '–', c ? `${fmt(l.ratios[b]?.[k] ?? Number.NaN)} / ${fmt(l.pairedRatios[b]?.[k] ?? Number.NaN)}` : '–');
      }
      row.push(Math.max(...Object.values(l.maxAbsDiff[b] ?? {})).toExponential(1));
      rowsA.push(row);
    }
  }
  out.push(
    table(
      ['scale', 'batch', 'rounds', 'fused', 'route/worker', 'ratio/paired', 'fast/worker', 'ratio/paired', 'route/in-proc', 'ratio/paired', 'fast/in-proc', 'ratio/paired', 'max|Δ|'],
      rowsA,
    ),
  );
  const kick = [rep.latency.tiny, rep.latency.deitS].flatMap((l, i) =>
    l ? Object.entries(l.fastPathKickIn).map(([k, v]) => `${i === 0 ? 'tiny' : 'DeiT-S'} ${k} after ${v.runs} runs / ${fmt(v.ms / 1000)} s`) : [],
  );
  out.push(`fast path kicked in by itself: ${kick.join('; ')} (tiny: default thresholds; DeiT-S: maxRunMs lifted, the default 20 ms keeps it off)`);
  const rt = [rep.latency.tiny, rep.latency.deitS].flatMap((l, i) =>
    l ? Object.entries(l.workerRoundTrip).map(([b, v]) => `${i === 0 ? 'tiny' : 'DeiT-S'} ${b} ${fmt(v.median)} ms (p95 ${fmt(v.p95)})`) : [],
  );
  out.push(`a bare worker round trip (input copied + transferred, logits back, no inference), interleaved with the cells: ${rt.join('; ')}`);
  const arena = [rep.latency.tiny, rep.latency.deitS].flatMap((l, i) =>
    l
      ? Object.entries(l.arenaOffRatio).map(([b, v]) => {
          const c = l.cells[b]?.['route.worker.noArena'];
          return `${i === 0 ? 'tiny' : 'DeiT-S'} ${b} ${fmt(v)}${c ? ` (${fmt(c.median)} ms, p95 ${fmt(c.p95)})` : ''}`;
        })
      : [],
  );
  out.push(`cpuMemArena: false ÷ the default runtime (route, worker; paired per round), interleaved with the cells: ${arena.join('; ')}`);

  out.push('', '(b) switching, b1, runtimes without fast path (ms; overhead = first run after setStitch − next run; control = same without a switch)');
  const rowsB: (string | number)[][] = [];
  for (const [scale, sw] of [
    ['tiny, worker', rep.switch.tiny],
    ['tiny, in-process', rep.switch.tinyInProcess],
    ['DeiT-S, worker', rep.switch.deitS],
  ] as const) {
    if (!sw) continue;
    rowsB.push([
      `${scale}, ${sw.pair[0]}⇄${sw.pair[1]}`,
      sw.trials,
      `${fmt(sw.setStitchMs.median * 1000)} / ${fmt(sw.setStitchMs.p99 * 1000)} µs`,
      sw.steadyRunMs.median,
      sw.firstRunMs.median,
      `${fmt(sw.overheadMs.median)} / ${fmt(sw.overheadMs.p99)}`,
      `${fmt(sw.controlOverheadMs.median)} / ${fmt(sw.controlOverheadMs.p99)}`,
      `${fmt(sw.switchToResultMs.median)} / ${fmt(sw.switchToResultMs.p99)}`,
      sw.freshSessionMs ? `${fmt(sw.freshSessionMs.median)} / ${fmt(sw.freshSessionMs.p99)} (n=${sw.freshSessionMs.n})` : '–',
      sw.freshSessionMs ? sw.freshSessionMs.median / sw.switchToResultMs.median : '–',
    ]);
  }
  out.push(
    table(
      ['scale', 'trials', 'setStitch p50/p99', 'steady run', 'first run', 'overhead p50/p99', 'control p50/p99', 'setStitch→result p50/p99', 'fresh session+run p50/p99', 'fresh ÷ switch'],
      rowsB,
    ),
  );

  out.push(
    '',
    `(c) RSS, ${rep.rss.family}, each row a fresh child process (MB; × = (RSS − baseline) ÷ piece bytes; after b1 = every stitch run once, after b8 = every anchor run once at batch 8)`,
  );
  const rowsC = [rep.rss.runtime, ...rep.rss.variants].map((v) => [
    v.variant,
    v.weightMB,
    v.baselineMB,
    v.loadedMB,
    v.overWeights.loaded,
    v.afterRunB1MB,
    v.overWeights.afterRunB1,
    v.afterRunB8MB ?? '–',
    v.overWeights.afterRunB8 ?? '–',
    v.sessions,
    v.loadSeconds,
    v.latencyB1Ms,
    v.latencyB8Ms ?? '–',
    v.description,
  ]);
  out.push(table(['variant', 'pieces', 'baseline', 'loaded', '×', 'after b1', '×', 'after b8', '×', 'sessions', 'load s', 'b1 ms', 'b8 ms', 'what'], rowsC));
  if (rep.rss.runtime.extraWorkerMB !== undefined) {
    out.push(`a second worker runtime (micro package) adds ${fmt(rep.rss.runtime.extraWorkerMB)} MB; the runtime rows include one such worker`);
  }

  out.push('', '(d) main-thread event-loop delay while running b1 back to back (ms)');
  const rowsD: (string | number)[][] = [];
  for (const [scale, lg] of [
    ['tiny', rep.eventLoop.tiny],
    ['DeiT-S', rep.eventLoop.deitS],
  ] as const) {
    if (!lg) continue;
    for (const w of ['idle', 'worker', 'inProcess'] as const) rowsD.push([scale, w, lg[w].p50, lg[w].p99, lg[w].max, lg[w].runs, lg[w].seconds]);
  }
  out.push(table(['scale', 'mode', 'p50', 'p99', 'max', 'runs', 's'], rowsD));

  out.push('', 'CPU during each section (cores; other = every other process, niced = background jobs at any nice > 0, ours included none)');
  const rowsE: (string | number)[][] = [];
  const cpuRow = (name: string, c: CpuWindow | undefined) => {
    if (c) rowsE.push([name, c.seconds, c.ownCores, c.otherCores ?? '–', c.niceCores ?? '–', c.loadAverage1m]);
  };
  cpuRow('tiny (a)', rep.latency.tiny.cpu);
  cpuRow('tiny (b) worker', rep.switch.tiny.cpu);
  cpuRow('tiny (b) in-process', rep.switch.tinyInProcess.cpu);
  cpuRow('tiny (d)', rep.eventLoop.tiny.cpu);
  cpuRow('DeiT-S (a)', rep.latency.deitS?.cpu);
  cpuRow('DeiT-S (b)', rep.switch.deitS?.cpu);
  cpuRow('DeiT-S (d)', rep.eventLoop.deitS?.cpu);
  out.push(table(['section', 's', 'ours', 'other', 'niced', 'load 1m'], rowsE));

  out.push('', 'targets');
  const f = rep.routeOverFused;
  const rows: [string, number | null, number][] = [
    ['route ÷ fused, DeiT-S b1 (fast path off)', f.deitS.b1, TARGETS.deitS],
    ['route ÷ fused, DeiT-S b8 (fast path off)', f.deitS.b8, TARGETS.deitS],
    ['route ÷ fused, tiny b1, fast path', f.tiny.b1Fast, TARGETS.tinyFast],
    ['route ÷ fused, tiny b8, fast path', f.tiny.b8Fast, TARGETS.tinyFast],
    ['switch overhead p99 (ms, tiny, worker)', rep.switchP99Ms, TARGETS.switchP99Ms],
    ['  the same minus the no-switch control p99', rep.switchP99NetOfControlMs, TARGETS.switchP99Ms],
    ['RSS ÷ weights, loaded', rep.rssOverWeights, TARGETS.rssOverWeights],
    ['RSS ÷ weights, after one b1 run of every stitch', rep.rssOverWeightsAfterRun.b1, TARGETS.rssOverWeights],
    ['RSS ÷ weights, after one b8 run of every anchor', rep.rssOverWeightsAfterRun.b8, TARGETS.rssOverWeights],
    [`event-loop lag p99, worker (ms, ${rep.eventLoopLagScale})`, rep.eventLoopLagP99Ms.worker, TARGETS.lagP99Ms],
  ];
  out.push(table(['target', 'value', '≤', 'verdict'], rows.map(([name, v, t]) => [name, v ?? 'null', t, verdict(v, t)])));
  return out.join('\n');
}

if (process.argv[2] === PROBE_FLAG) {
  await runProbe(JSON.parse(process.argv[3] ?? '{}'));
} else {
  await main();
}
