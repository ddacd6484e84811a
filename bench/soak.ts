/**
 * `npm run soak`: a load script (not a timed test) for the runtime, on a tiny family in worker
 * mode with the fast path at its defaults.
 *
 * 1. Warm-up: three stitches in turn stay active long enough for the fast path to fuse them (the
 *    LRU of two evicts the first).
 * 2. Endurance: 100,000 runs, a window of them in flight, while a timer switches the active
 *    stitch every few ms (at least 10,000 switches); a quarter name their stitch per call. Each
 *    result must report the stitch that was active (or named) when it was called, and carry that
 *    stitch's logits: within 1e-5 of a reference computed beforehand by a fused session of the
 *    same stitch built whole (`buildRouteModel`), for the same input. RSS (after a main-thread
 *    GC) after the first 1,000 runs and after the last must be within 5%. This phase comes
 *    before the burst below, whose high-water mark would otherwise sit in the 1k figure.
 * 3. Concurrency: 10,000 `run()` calls issued within about a second, all in flight together,
 *    while the stitch keeps switching; a quarter name their stitch and 1% name one that does not
 *    exist. Every call must settle exactly once; results are checked as above, and bad stitch
 *    ids must reject with STITCH_UNKNOWN.
 *
 * Prints the figures; exits with code 1 when a check fails.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { isStitchnetError, type RunResult, StitchRuntime } from '../src/index.js';
import { resolveThreads } from '../src/engine/options.js';
import { OrtSession } from '../src/engine/ort.js';
import {
  type FamilyPackage,
  type FamilySpec,
  TINY_FAMILY,
  routeModelBytes,
  sampleSize,
  uniform,
  writeFamilyPackage,
} from './families.js';

/** The soak family: the tiny benchmark family at patch 7 (17 tokens), nine stitches. */
const SOAK_FAMILY: FamilySpec = {
  ...TINY_FAMILY,
  name: 'tiny-vit-soak',
  description: 'Random-weight tiny ViT family (soak)',
  image: { ...TINY_FAMILY.image, patchSize: 7 },
  positions: [
    [0, 1],
    [2, 3],
    [4, 5],
  ],
};

interface Options {
  concurrent: number;
  runs: number;
  switches: number;
  switchEveryMs: number;
  window: number;
  inProcess: boolean;
  fastPath: boolean;
  json?: string;
}

const MB = 1024 ** 2;
const started = performance.now();
const log = (message: string) =>
  process.stderr.write(`[soak ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function rssAfterGc(): Promise<number> {
  gc();
  await sleep(50);
  gc();
  return process.memoryUsage.rss() / MB;
}

/** mulberry32: a small seeded generator, so a failing soak can be replayed. */
function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Counts results and keeps the first few problems. */
class Checker {
  ok = 0;
  rejectedAsExpected = 0;
  fused = 0;
  maxDiff = 0;
  readonly problems: string[] = [];
  problemCount = 0;

  constructor(private readonly refs: Map<number, Float32Array[]>) {}

  problem(message: string): void {
    this.problemCount++;
    if (this.problems.length < 10) this.problems.push(message);
  }

  result(r: RunResult, expectedStitch: number, input: number): void {
    if (r.stitch !== expectedStitch)
      return this.problem(`a run called on stitch ${expectedStitch} reported stitch ${r.stitch}`);
    const ref = this.refs.get(r.stitch)?.[input];
    if (!ref || ref.length !== r.logits.length)
      return this.problem(`stitch ${r.stitch}, input ${input}: ${r.logits.length} logits, expected ${ref?.length}`);
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs((ref[i] as number) - (r.logits[i] as number)));
    this.maxDiff = Math.max(this.maxDiff, d);
    if (!(d <= 1e-5))
      return this.problem(`stitch ${r.stitch} (${r.path}), input ${input}: logits differ from the reference by ${d}`);
    if (r.path === 'fused') this.fused++;
    this.ok++;
  }
}

function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function parseOptions(): Options {
  return new Command()
    .name('soak')
    .description('Concurrency, switching and memory soak of StitchRuntime on a tiny family.')
    .option('--runs <n>', 'runs of the endurance phase', parsePositive, 100_000)
    .option('--switches <n>', 'minimum stitch switches during the endurance phase', parsePositive, 10_000)
    .option('--concurrent <n>', 'calls in flight together in the concurrency phase', parsePositive, 10_000)
    .option('--switch-every-ms <ms>', 'period of the stitch-switching timer', parsePositive, 3)
    .option('--window <n>', 'runs in flight during the endurance phase', parsePositive, 64)
    .option('--no-fast-path', 'turn the fused fast path off (to tell fused-session churn apart from the rest)')
    .option(
      '--in-process',
      'run inference on the main thread instead of the worker (to tell the two heaps apart)',
      false,
    )
    .option('--json <file>', 'also write the figures as JSON')
    .parse(process.argv)
    .opts<Options>();
}

/** What every phase shares: the runtime, its stitches and inputs, the checker, the random source. */
interface Soak {
  rt: StitchRuntime;
  ids: number[];
  inputs: Float32Array[];
  check: Checker;
  random: () => number;
  pick: <T>(xs: readonly T[]) => T;
  opts: Options;
}

const BATCHES = [1, 1, 1, 3];

/** Writes the package and computes every stitch's reference logits with a fused session built whole. */
async function references(
  dir: string,
): Promise<{ family: FamilyPackage; inputs: Float32Array[]; refs: Map<number, Float32Array[]> }> {
  log('writing the package and computing reference logits with fused sessions built whole');
  const family = await writeFamilyPackage(path.join(dir, 'pkg'), SOAK_FAMILY);
  const { channels, imageSize } = SOAK_FAMILY.image;
  const inputs = BATCHES.map((b, k) => uniform(b * sampleSize(SOAK_FAMILY), 100 + k, 1));
  const refs = new Map<number, Float32Array[]>();
  const settings = { provider: 'cpu' as const, threads: resolveThreads(undefined) };
  for (const { id } of family.stitches) {
    const session = await OrtSession.create(routeModelBytes(family, id), settings, `the fused stitch ${id}`);
    const outs: Float32Array[] = [];
    for (const [k, x] of inputs.entries()) {
      const y = await session.run(
        session.tensor(x, [BATCHES[k] as number, channels, imageSize, imageSize]),
        `the fused stitch ${id}`,
      );
      outs.push(new Float32Array(y.data as Float32Array));
    }
    refs.set(id, outs);
    await session.release();
  }
  return { family, inputs, refs };
}

/** 1. Lets the fast path fuse three stitches in turn (the LRU of two evicts the first). */
async function warmUp(s: Soak): Promise<number[]> {
  const warm = (s.opts.fastPath ? [s.ids[s.ids.length - 1], s.ids[4], s.ids[0]] : []) as number[];
  const fusedSeen: number[] = [];
  for (const id of warm) {
    s.rt.setStitch(id);
    const t0 = performance.now();
    for (;;) {
      const r = await s.rt.run(s.inputs[0] as Float32Array);
      s.check.result(r, id, 0);
      if (r.path === 'fused') {
        fusedSeen.push(id);
        break;
      }
      if (performance.now() - t0 > 60_000) {
        s.check.problem(`the fast path did not fuse stitch ${id} within 60 s`);
        break;
      }
    }
  }
  log(`warm-up: fast path fused stitches ${fusedSeen.join(', ')}`);
  return fusedSeen;
}

/** A timer that switches the active stitch every few ms, counting the switches. */
function switcher(s: Soak): { count(): number; stop(): void } {
  let switches = 0;
  const timer = setInterval(() => {
    s.rt.setStitch(s.pick(s.ids));
    switches++;
  }, s.opts.switchEveryMs);
  return { count: () => switches, stop: () => clearInterval(timer) };
}

type RssSample = { runs: number; switches: number; mb: number; seconds: number };

/** 2. Endurance: `runs` runs, a window in flight, a quarter naming their stitch; RSS sampled along. */
async function endurance(s: Soak, switches: { count(): number }) {
  const okBefore = s.check.ok;
  const fusedBefore = s.check.fused;
  const rss: RssSample[] = [];
  let done = 0;
  let next = 0;
  const t0 = performance.now();
  const sampleAt = new Set([1_000, ...Array.from({ length: 10 }, (_, k) => Math.round(((k + 1) * s.opts.runs) / 10))]);
  const one = async (): Promise<void> => {
    while (next < s.opts.runs || switches.count() < s.opts.switches) {
      next++;
      const input = Math.floor(s.random() * s.inputs.length);
      const named = s.random() < 0.25;
      const stitch = named ? s.pick(s.ids) : s.rt.stitch;
      try {
        s.check.result(await s.rt.run(s.inputs[input] as Float32Array, named ? { stitch } : {}), stitch, input);
      } catch (e) {
        s.check.problem(`endurance run rejected: ${e instanceof Error ? e.message : String(e)}`);
      }
      done++;
      if (sampleAt.has(done)) {
        rss.push({
          runs: done,
          switches: switches.count(),
          mb: await rssAfterGc(),
          seconds: (performance.now() - t0) / 1000,
        });
        const last = rss[rss.length - 1] as RssSample;
        log(`endurance: ${last.runs} runs, ${last.switches} switches, RSS ${last.mb.toFixed(1)} MB`);
      }
    }
  };
  await Promise.all(Array.from({ length: s.opts.window }, one));
  const rssEnd = await rssAfterGc();
  const seconds = (performance.now() - t0) / 1000;
  rss.push({ runs: done, switches: switches.count(), mb: rssEnd, seconds });
  const rss1k = rss.find((x) => x.runs === 1_000)?.mb ?? Number.NaN;
  // How much of the growth goes on once warm: the change over the last 90% of the runs.
  const rss10pc = rss.find((x) => x.runs === Math.round(s.opts.runs / 10))?.mb ?? Number.NaN;
  const phase = {
    runs: done,
    switches: switches.count(),
    seconds,
    runsPerSecond: done / seconds,
    matched: s.check.ok - okBefore,
    fusedResults: s.check.fused - fusedBefore,
    rssAfter1kMB: rss1k,
    rssEndMB: rssEnd,
    rssGrowth: rssEnd / rss1k - 1,
    rssGrowthAfterFirstTenth: rssEnd / rss10pc - 1,
    rssSamples: rss,
  };
  if (!(Math.abs(phase.rssGrowth) <= 0.05))
    s.check.problem(
      `RSS went from ${rss1k.toFixed(1)} MB after 1k runs to ${rssEnd.toFixed(1)} MB (${(phase.rssGrowth * 100).toFixed(1)}%), over 5%`,
    );
  if (phase.switches < s.opts.switches) s.check.problem(`only ${phase.switches} switches during the endurance phase`);
  return phase;
}

/** Issues one concurrency-phase call; `settled[i]` counts how often it settled. */
function concurrentCall(s: Soak, i: number, settled: Uint8Array, onSettle: () => void): Promise<void> {
  const input = Math.floor(s.random() * s.inputs.length);
  const roll = s.random();
  const bad = roll < 0.01;
  const named = !bad && roll < 0.26;
  const stitch = bad ? s.ids.length + 7 : named ? s.pick(s.ids) : s.rt.stitch;
  const settle = () => {
    onSettle();
    settled[i] = (settled[i] as number) + 1;
  };
  return s.rt.run(s.inputs[input] as Float32Array, bad || named ? { stitch } : {}).then(
    (r) => {
      settle();
      if (bad) s.check.problem(`a run on unknown stitch ${stitch} resolved`);
      else s.check.result(r, stitch, input);
    },
    (e: unknown) => {
      settle();
      if (bad && isStitchnetError(e) && e.code === 'STITCH_UNKNOWN') s.check.rejectedAsExpected++;
      else s.check.problem(`call ${i} rejected: ${e instanceof Error ? e.message : String(e)}`);
    },
  );
}

/** 3. Concurrency: `concurrent` calls issued within about a second, all in flight together. */
async function concurrency(s: Soak, switches: { count(): number }) {
  const okBefore = s.check.ok;
  const fusedBefore = s.check.fused;
  const switchesBefore = switches.count();
  const settled = new Uint8Array(s.opts.concurrent);
  let inFlight = 0;
  let maxInFlight = 0;
  const calls: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < s.opts.concurrent; i++) {
    if (i % 100 === 0) await sleep(1);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    calls.push(concurrentCall(s, i, settled, () => inFlight--));
  }
  const issuedMs = performance.now() - t0;
  const switchesWhileIssuing = switches.count() - switchesBefore;
  const deadline = sleep(600_000, undefined, { ref: false }).then(() => 'timeout' as const);
  const outcome = await Promise.race([Promise.all(calls).then(() => 'done' as const), deadline]);
  const seconds = (performance.now() - t0) / 1000;
  const counts = { once: 0, never: 0, twice: 0 };
  for (const n of settled) counts[n === 1 ? 'once' : n === 0 ? 'never' : 'twice']++;
  if (outcome === 'timeout' || counts.never > 0 || counts.twice > 0)
    s.check.problem(`settled once: ${counts.once}, never: ${counts.never}, more than once: ${counts.twice}`);
  const phase = {
    calls: s.opts.concurrent,
    issuedMs,
    maxInFlight,
    seconds,
    switches: switches.count() - switchesBefore,
    switchesWhileIssuing,
    settledOnce: counts.once,
    settledNever: counts.never,
    settledTwice: counts.twice,
    resolvedAndMatched: s.check.ok - okBefore,
    rejectedAsExpected: s.check.rejectedAsExpected,
    fusedResults: s.check.fused - fusedBefore,
    rssAfterMB: await rssAfterGc(),
  };
  log(
    `concurrency: ${counts.once}/${s.opts.concurrent} settled once (max ${maxInFlight} in flight, issued in ${issuedMs.toFixed(0)} ms), ${phase.switches} switches, ${s.check.problemCount} problems`,
  );
  return phase;
}

/** Closes the runtime and checks that a later run fails with RUNTIME_CLOSED. */
async function closeAndCheck(s: Soak): Promise<string> {
  await s.rt.close();
  const afterClose = await s.rt.run(s.inputs[0] as Float32Array).then(
    () => 'resolved',
    (e: unknown) => (isStitchnetError(e) ? e.code : 'other error'),
  );
  if (afterClose !== 'RUNTIME_CLOSED')
    s.check.problem(`run() after close() gave ${afterClose}, expected RUNTIME_CLOSED`);
  return afterClose;
}

type SoakReport = {
  family: { name: string; stitches: number; pieceMB: number };
  rssLoadedMB: number;
  warmupFused: number[];
  endurance: Awaited<ReturnType<typeof endurance>>;
  concurrency: Awaited<ReturnType<typeof concurrency>>;
  afterClose: string;
  maxAbsDiff: number;
  problems: number;
  firstProblems: string[];
  ok: boolean;
  wallSeconds: number;
};

function printReport(report: SoakReport, mode: string, opts: Options): string {
  const f = (x: number, d = 1) => x.toFixed(d);
  const [p2, p3] = [report.endurance, report.concurrency];
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${f(x * 100, 2)}%`;
  return [
    `soak: ${report.family.name}, ${report.family.stitches} stitches, ${f(report.family.pieceMB, 2)} MB of pieces, ${mode}, fast path ${opts.fastPath ? 'defaults' : 'off'}`,
    `  node flags: ${process.execArgv.join(' ') || 'none'}${process.execArgv.some((a) => a.startsWith('--max-semi-space-size')) ? " (a fixed young generation on this thread, so V8 sizing its heap is not read as growth; the runtime's worker has its own 4 MB one)" : ''}`,
    `warm-up: fast path fused stitches ${report.warmupFused.join(', ')} (LRU of 2)`,
    `endurance: ${p2.runs} runs, ${opts.window} in flight (${f(p2.runsPerSecond, 0)}/s, ${p2.fusedResults} fused), ${p2.switches} switches in ${f(p2.seconds)} s; all matched: ${p2.matched === p2.runs}`,
    `  RSS after load ${f(report.rssLoadedMB)} MB; after 1k runs ${f(p2.rssAfter1kMB)} MB; after ${p2.runs} runs ${f(p2.rssEndMB)} MB (${signed(p2.rssGrowth)}, limit ±5%)`,
    `  RSS samples (runs: MB): ${p2.rssSamples.map((x) => `${x.runs}: ${f(x.mb)}`).join(', ')}`,
    `  over the last 90% of the runs (${Math.round(opts.runs / 10)} → ${p2.runs}): ${signed(p2.rssGrowthAfterFirstTenth)} (not a check; shows whether growth continues once warm)`,
    `concurrency: ${p3.calls} calls issued in ${f(p3.issuedMs, 0)} ms, max ${p3.maxInFlight} in flight, all settled in ${f(p3.seconds)} s; ${p3.switches} switches (${p3.switchesWhileIssuing} while issuing)`,
    `  settled exactly once: ${p3.settledOnce}, never: ${p3.settledNever}, more than once: ${p3.settledTwice}`,
    `  results with the reported stitch's logits: ${p3.resolvedAndMatched} (${p3.fusedResults} on the fused path); bad stitch ids rejected with STITCH_UNKNOWN: ${p3.rejectedAsExpected}`,
    `  RSS after the burst ${f(p3.rssAfterMB)} MB`,
    `max |logits − reference| over all results: ${report.maxAbsDiff.toExponential(2)} (limit 1e-5)`,
    `run() after close(): ${report.afterClose}`,
    report.ok
      ? 'PASS: every check held'
      : `FAIL: ${report.problems} problems; first: ${report.firstProblems.join(' | ')}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const opts = parseOptions();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-soak-'));
  try {
    const { family, inputs, refs } = await references(dir);
    const ids = family.stitches.map((x) => x.id);
    const random = rng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const check = new Checker(refs);
    const rt = await StitchRuntime.create({
      model: family.dir,
      providers: ['cpu'],
      worker: !opts.inProcess,
      ...(opts.fastPath ? {} : { fastPath: false as const }),
    });
    rt.errors$.subscribe((e) => check.problem(`errors$: ${e.message}`));
    const rssLoadedMB = await rssAfterGc();
    log(`runtime up (${rt.mode}, ${rt.provider}), ${ids.length} stitches, RSS ${rssLoadedMB.toFixed(1)} MB`);
    const s: Soak = { rt, ids, inputs, check, random, pick, opts };
    const warmupFused = await warmUp(s);
    const switches = switcher(s);
    const enduranceResult = await endurance(s, switches);
    const concurrencyResult = await concurrency(s, switches);
    switches.stop();
    const mode = rt.mode;
    const afterClose = await closeAndCheck(s);
    const report: SoakReport = {
      family: { name: SOAK_FAMILY.name, stitches: ids.length, pieceMB: family.pieceBytes / MB },
      rssLoadedMB,
      warmupFused,
      endurance: enduranceResult,
      concurrency: concurrencyResult,
      afterClose,
      maxAbsDiff: check.maxDiff,
      problems: check.problemCount,
      firstProblems: check.problems,
      ok: check.problemCount === 0,
      wallSeconds: (performance.now() - started) / 1000,
    };
    process.stdout.write(`${printReport(report, mode, opts)}\n`);
    if (opts.json) await writeFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? 0 : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
