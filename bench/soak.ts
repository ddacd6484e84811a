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
import { type FamilySpec, TINY_FAMILY, routeModelBytes, sampleSize, uniform, writeFamilyPackage } from './families.js';

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
const log = (message: string) => process.stderr.write(`[soak ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
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
    if (r.stitch !== expectedStitch) return this.problem(`a run called on stitch ${expectedStitch} reported stitch ${r.stitch}`);
    const ref = this.refs.get(r.stitch)?.[input];
    if (!ref || ref.length !== r.logits.length) return this.problem(`stitch ${r.stitch}, input ${input}: ${r.logits.length} logits, expected ${ref?.length}`);
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs((ref[i] as number) - (r.logits[i] as number)));
    this.maxDiff = Math.max(this.maxDiff, d);
    if (!(d <= 1e-5)) return this.problem(`stitch ${r.stitch} (${r.path}), input ${input}: logits differ from the reference by ${d}`);
    if (r.path === 'fused') this.fused++;
    this.ok++;
  }
}

function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

async function main(): Promise<number> {
  const opts = new Command()
    .name('soak')
    .description('Concurrency, switching and memory soak of StitchRuntime on a tiny family.')
    .option('--runs <n>', 'runs of the endurance phase', parsePositive, 100_000)
    .option('--switches <n>', 'minimum stitch switches during the endurance phase', parsePositive, 10_000)
    .option('--concurrent <n>', 'calls in flight together in the concurrency phase', parsePositive, 10_000)
    .option('--switch-every-ms <ms>', 'period of the stitch-switching timer', parsePositive, 3)
    .option('--window <n>', 'runs in flight during the endurance phase', parsePositive, 64)
    .option('--no-fast-path', 'turn the fused fast path off (to tell fused-session churn apart from the rest)')
    .option('--in-process', 'run inference on the main thread instead of the worker (to tell the two heaps apart)', false)
    .option('--json <file>', 'also write the figures as JSON')
    .parse(process.argv)
    .opts<Options>();

  const dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-soak-'));
  try {
    log('writing the package and computing reference logits with fused sessions built whole');
    const family = await writeFamilyPackage(path.join(dir, 'pkg'), SOAK_FAMILY);
    const ids = family.stitches.map((s) => s.id);
    const { channels, imageSize } = SOAK_FAMILY.image;
    const batches = [1, 1, 1, 3];
    const inputs = batches.map((b, k) => uniform(b * sampleSize(SOAK_FAMILY), 100 + k, 1));
    const refs = new Map<number, Float32Array[]>();
    const settings = { provider: 'cpu' as const, threads: resolveThreads(undefined) };
    for (const id of ids) {
      const session = await OrtSession.create(routeModelBytes(family, id), settings, `the fused stitch ${id}`);
      const outs: Float32Array[] = [];
      for (const [k, x] of inputs.entries()) {
        const y = await session.run(session.tensor(x, [batches[k] as number, channels, imageSize, imageSize]), `the fused stitch ${id}`);
        outs.push(new Float32Array(y.data as Float32Array));
      }
      refs.set(id, outs);
      await session.release();
    }
    const check = new Checker(refs);
    const random = rng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

    const rt = await StitchRuntime.create({ model: family.dir, providers: ['cpu'], worker: !opts.inProcess, ...(opts.fastPath ? {} : { fastPath: false as const }) });
    rt.errors$.subscribe((e) => check.problem(`errors$: ${e.message}`));
    const rssLoaded = await rssAfterGc();
    log(`runtime up (${rt.mode}, ${rt.provider}), ${ids.length} stitches, RSS ${rssLoaded.toFixed(1)} MB`);

    // 1. Warm-up: let the fast path fuse three stitches in turn.
    const warm = (opts.fastPath ? [ids[ids.length - 1], ids[4], ids[0]] : []) as number[];
    const fusedSeen: number[] = [];
    for (const id of warm) {
      rt.setStitch(id);
      const t0 = performance.now();
      for (;;) {
        const r = await rt.run(inputs[0] as Float32Array);
        check.result(r, id, 0);
        if (r.path === 'fused') {
          fusedSeen.push(id);
          break;
        }
        if (performance.now() - t0 > 60_000) {
          check.problem(`the fast path did not fuse stitch ${id} within 60 s`);
          break;
        }
      }
    }
    log(`warm-up: fast path fused stitches ${fusedSeen.join(', ')}`);

    // 2. Endurance.
    let switches = 0;
    const switcher = setInterval(() => {
      rt.setStitch(pick(ids));
      switches++;
    }, opts.switchEveryMs);
    const okBefore2 = check.ok;
    const fusedBefore2 = check.fused;
    const rss: { runs: number; switches: number; mb: number; seconds: number }[] = [];
    let done = 0;
    let next = 0;
    const t2 = performance.now();
    const sampleAt = new Set([1_000, ...Array.from({ length: 10 }, (_, k) => Math.round(((k + 1) * opts.runs) / 10))]);
    const one = async (): Promise<void> => {
      while (next < opts.runs || switches < opts.switches) {
        next++;
        const input = Math.floor(random() * inputs.length);
        const named = random() < 0.25;
        const stitch = named ? pick(ids) : rt.stitch;
        try {
          check.result(await rt.run(inputs[input] as Float32Array, named ? { stitch } : {}), stitch, input);
        } catch (e) {
          check.problem(`endurance run rejected: ${e instanceof Error ? e.message : String(e)}`);
        }
        done++;
        if (sampleAt.has(done)) {
          rss.push({ runs: done, switches, mb: await rssAfterGc(), seconds: (performance.now() - t2) / 1000 });
          const last = rss[rss.length - 1] as (typeof rss)[number];
          log(`endurance: ${last.runs} runs, ${last.switches} switches, RSS ${last.mb.toFixed(1)} MB`);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.window }, one));
    const rssEnd = await rssAfterGc();
    rss.push({ runs: done, switches, mb: rssEnd, seconds: (performance.now() - t2) / 1000 });
    const rss1k = rss.find((s) => s.runs === 1_000)?.mb ?? Number.NaN;
    const growth = rssEnd / rss1k - 1;
    // How much of that is still growing once warm: the change over the last 90% of the runs.
    const rss10pc = rss.find((s) => s.runs === Math.round(opts.runs / 10))?.mb ?? Number.NaN;
    const lateGrowth = rssEnd / rss10pc - 1;
    const phase2 = {
      runs: done,
      switches,
      seconds: (performance.now() - t2) / 1000,
      runsPerSecond: done / ((performance.now() - t2) / 1000),
      matched: check.ok - okBefore2,
      fusedResults: check.fused - fusedBefore2,
      rssAfter1kMB: rss1k,
      rssEndMB: rssEnd,
      rssGrowth: growth,
      rssGrowthAfterFirstTenth: lateGrowth,
      rssSamples: rss,
    };
    if (!(Math.abs(growth) <= 0.05)) check.problem(`RSS went from ${rss1k.toFixed(1)} MB after 1k runs to ${rssEnd.toFixed(1)} MB (${(growth * 100).toFixed(1)}%), over 5%`);
    if (phase2.switches < opts.switches) check.problem(`only ${phase2.switches} switches during the endurance phase`);

    // 3. Concurrency.
    const okBefore3 = check.ok;
    const fusedBefore3 = check.fused;
    const switchesBefore3 = switches;
    const settled = new Uint8Array(opts.concurrent);
    let inFlight = 0;
    let maxInFlight = 0;
    const calls: Promise<void>[] = [];
    const t3 = performance.now();
    for (let i = 0; i < opts.concurrent; i++) {
      if (i % 100 === 0) await sleep(1);
      const input = Math.floor(random() * inputs.length);
      const roll = random();
      const bad = roll < 0.01;
      const named = !bad && roll < 0.26;
      const stitch = bad ? ids.length + 7 : named ? pick(ids) : rt.stitch;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const settle = () => {
        inFlight--;
        settled[i] = (settled[i] as number) + 1;
      };
      calls.push(
        rt.run(inputs[input] as Float32Array, bad || named ? { stitch } : {}).then(
          (r) => {
            settle();
            if (bad) check.problem(`a run on unknown stitch ${stitch} resolved`);
            else check.result(r, stitch, input);
          },
          (e: unknown) => {
            settle();
            if (bad && isStitchnetError(e) && e.code === 'STITCH_UNKNOWN') check.rejectedAsExpected++;
            else check.problem(`call ${i} rejected: ${e instanceof Error ? e.message : String(e)}`);
          },
        ),
      );
    }
    const issuedMs = performance.now() - t3;
    const switchesWhileIssuing = switches - switchesBefore3;
    const deadline = sleep(600_000, undefined, { ref: false }).then(() => 'timeout' as const);
    const outcome = await Promise.race([Promise.all(calls).then(() => 'done' as const), deadline]);
    const concurrencyMs = performance.now() - t3;
    let once = 0;
    let never = 0;
    let twice = 0;
    for (const n of settled) {
      if (n === 1) once++;
      else if (n === 0) never++;
      else twice++;
    }
    if (outcome === 'timeout' || never > 0 || twice > 0) check.problem(`settled once: ${once}, never: ${never}, more than once: ${twice}`);
    const phase3 = {
      calls: opts.concurrent,
      issuedMs,
      maxInFlight,
      seconds: concurrencyMs / 1000,
      switches: switches - switchesBefore3,
      switchesWhileIssuing,
      settledOnce: once,
      settledNever: never,
      settledTwice: twice,
      resolvedAndMatched: check.ok - okBefore3,
      rejectedAsExpected: check.rejectedAsExpected,
      fusedResults: check.fused - fusedBefore3,
      rssAfterMB: await rssAfterGc(),
    };
    clearInterval(switcher);
    log(`concurrency: ${once}/${opts.concurrent} settled once (max ${maxInFlight} in flight, issued in ${issuedMs.toFixed(0)} ms), ${phase3.switches} switches, ${check.problemCount} problems`);

    await rt.close();
    const afterClose = await rt.run(inputs[0] as Float32Array).then(
      () => 'resolved',
      (e: unknown) => (isStitchnetError(e) ? e.code : 'other error'),
    );
    if (afterClose !== 'RUNTIME_CLOSED') check.problem(`run() after close() gave ${afterClose}, expected RUNTIME_CLOSED`);

    const report = {
      family: { name: SOAK_FAMILY.name, stitches: ids.length, pieceMB: family.pieceBytes / MB },
      rssLoadedMB: rssLoaded,
      warmupFused: fusedSeen,
      endurance: phase2,
      concurrency: phase3,
      maxAbsDiff: check.maxDiff,
      problems: check.problemCount,
      firstProblems: check.problems,
      ok: check.problemCount === 0,
      wallSeconds: (performance.now() - started) / 1000,
    };
    const f = (x: number, d = 1) => x.toFixed(d);
    const lines = [
      `soak: ${report.family.name}, ${ids.length} stitches, ${f(report.family.pieceMB, 2)} MB of pieces, ${rt.mode}, fast path ${opts.fastPath ? 'defaults' : 'off'}`,
      `  node flags: ${process.execArgv.join(' ') || 'none'}${process.execArgv.some((a) => a.startsWith('--max-semi-space-size')) ? " (a fixed young generation on this thread, so V8 sizing its heap is not read as growth; the runtime's worker has its own 4 MB one)" : ''}`,
      `warm-up: fast path fused stitches ${fusedSeen.join(', ')} (LRU of 2)`,
      `endurance: ${phase2.runs} runs, ${opts.window} in flight (${f(phase2.runsPerSecond, 0)}/s, ${phase2.fusedResults} fused), ${phase2.switches} switches in ${f(phase2.seconds)} s; all matched: ${phase2.matched === phase2.runs}`,
      `  RSS after load ${f(rssLoaded)} MB; after 1k runs ${f(rss1k)} MB; after ${phase2.runs} runs ${f(rssEnd)} MB (${growth >= 0 ? '+' : ''}${f(growth * 100, 2)}%, limit ±5%)`,
      `  RSS samples (runs: MB): ${rss.map((s) => `${s.runs}: ${f(s.mb)}`).join(', ')}`,
      `  over the last 90% of the runs (${Math.round(opts.runs / 10)} → ${phase2.runs}): ${lateGrowth >= 0 ? '+' : ''}${f(lateGrowth * 100, 2)}% (not a check; shows whether growth continues once warm)`,
      `concurrency: ${phase3.calls} calls issued in ${f(phase3.issuedMs, 0)} ms, max ${phase3.maxInFlight} in flight, all settled in ${f(phase3.seconds)} s; ${phase3.switches} switches (${phase3.switchesWhileIssuing} while issuing)`,
      `  settled exactly once: ${phase3.settledOnce}, never: ${phase3.settledNever}, more than once: ${phase3.settledTwice}`,
      `  results with the reported stitch's logits: ${phase3.resolvedAndMatched} (${phase3.fusedResults} on the fused path); bad stitch ids rejected with STITCH_UNKNOWN: ${phase3.rejectedAsExpected}`,
      `  RSS after the burst ${f(phase3.rssAfterMB)} MB`,
      `max |logits − reference| over all results: ${report.maxAbsDiff.toExponential(2)} (limit 1e-5)`,
      `run() after close(): ${afterClose}`,
      report.ok ? 'PASS: every check held' : `FAIL: ${report.problems} problems; first: ${report.firstProblems.join(' | ')}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (opts.json) await writeFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? 0 : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
