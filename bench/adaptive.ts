/**
 * `npm run bench:adaptive`: the adaptive loop live on this machine. The shipped family under
 * `profiles/balanced.yaml` runs inference back to back for `--minutes` (default 5) while two busy
 * processes compete for the CPU from 1:00 to 2:00 and from 3:00 to 4:00 (every time scales with
 * `--minutes`). Prints every switch, reversals, time on each stitch, runs over the limits in force,
 * the calibration time (cold and cached) where the runtime calibrates, and how long `simulate`
 * takes on 86,400 and 1,000,000 rows.
 *
 * Targets: no switch in the first minute; at most one step down and one step up per busy phase;
 * no reversal within a minute; back on the profile's choice within 30 s of each phase's end.
 * `--record <file.csv>` writes every reading the policy saw (replay it with `stitchnet simulate`);
 * the live run starts from a fresh calibration cache unless `--cache-dir` names one.
 * Not a timed test: run it on a quiet machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { StitchRuntime, type StitchChange } from '../src/index.js';
import { startRecording } from '../src/cli/recording.js';
import { readPackage } from '../src/package/index.js';
import { emptyState, decide, type LoopDecision, type StitchCatalog } from '../src/policy/index.js';
import { loadProfileSync } from '../src/profiles/load.js';
import { policyCatalog } from '../src/runtime/adaptive.js';
import { simulate } from '../src/runtime/simulate.js';
import type { Trace, TraceRow } from '../src/signals/trace.js';

interface Options {
  minutes: number;
  model: string;
  profile: string;
  simulateRows: number[];
  /** Trace CSV of every reading the policy saw in the live run. */
  record?: string;
  /** Calibration cache of the live run; default a fresh folder (the run starts as a first install does). */
  cacheDir?: string;
}

const positive = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('a positive number');
  return n;
};

/** A stitch change seen live, with its wall time since the start, ms. */
interface Seen {
  t: number;
  change: StitchChange;
}

/** Two CPU-bound processes (one per core of a 2-core machine), until stopped. */
function busy(count = 2): { stop: () => void } {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) children.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  return { stop: () => children.forEach((c) => c.kill('SIGKILL')) };
}

/** The calibration the runtime made at create(), if it calibrates (ms and cache state). */
function calibrationOf(rt: StitchRuntime): string {
  const report = rt.calibration;
  return report ? `${report.ms.toFixed(0)} ms (cache ${report.cache})` : 'n/a (this runtime does not calibrate)';
}

function calibrationTimes(o: Options): Promise<{ cold: string; cached: string }> {
  return inFreshCache(async (cacheDir) => {
    const open = () =>
      StitchRuntime.create({
        model: o.model,
        providers: ['cpu'],
        profile: o.profile,
        watchProfile: false,
        systemSource: false,
        cacheDir,
      });
    const cold = await open();
    const coldText = calibrationOf(cold);
    await cold.close();
    const cached = await open();
    const cachedText = calibrationOf(cached);
    await cached.close();
    return { cold: coldText, cached: cachedText };
  });
}

/** The stitch the profile wants on a quiet machine: its decision before any reading. */
function profileChoice(o: Options, catalog: StitchCatalog): number {
  return decide(emptyState(0), loadProfileSync(o.profile), catalog).stitch;
}

/** Runs inference back to back for the whole span, with the busy phases; returns what happened. */
async function live(o: Options, phases: [number, number][]) {
  return o.cacheDir === undefined ? inFreshCache((dir) => liveIn(o, phases, dir)) : liveIn(o, phases, o.cacheDir);
}

/** Runs `fn` with a fresh calibration cache folder, removed afterwards. */
async function inFreshCache<T>(fn: (cacheDir: string) => Promise<T>): Promise<T> {
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-bench-cache-'));
  try {
    return await fn(cacheDir);
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

async function liveIn(o: Options, phases: [number, number][], cacheDir: string) {
  const rt = await StitchRuntime.create({
    model: o.model,
    profile: o.profile,
    watchProfile: false,
    providers: ['cpu'],
    cacheDir,
  });
  const recording = o.record === undefined ? undefined : startRecording(rt, o.record);
  const input = new Float32Array(28 * 28).fill(0.5);
  const seen: Seen[] = [];
  const runs = new Map<number, number>();
  let overLimits = 0;
  let latest: LoopDecision | undefined;
  const start = performance.now();
  const subs = [
    rt.stitchChanges$.subscribe((change) => seen.push({ t: performance.now() - start, change })),
    rt.decisions$.subscribe((d) => (latest = d)),
  ];
  const spanMs = o.minutes * 60_000;
  let load: { stop: () => void } | undefined;
  try {
    while (performance.now() - start < spanMs) {
      const t = performance.now() - start;
      const inPhase = phases.some(([a, b]) => t >= a && t < b);
      if (inPhase && !load) load = busy();
      if (!inPhase && load) {
        load.stop();
        load = undefined;
      }
      const r = await rt.run(input);
      runs.set(r.stitch, (runs.get(r.stitch) ?? 0) + 1);
      const feasible = latest?.reason.feasible;
      if (feasible && feasible.length > 0 && !feasible.includes(r.stitch)) overLimits++;
      // Let timers and signal probes run between runs, as an app's event loop would.
      await sleep(0);
    }
  } finally {
    load?.stop();
    for (const s of subs) s.unsubscribe();
  }
  const initial = seen[0]?.change.from ?? rt.stitch;
  const end = performance.now() - start;
  const calibration = rt.calibration;
  await rt.close();
  await recording?.done;
  return { seen, runs, overLimits, initial, end, calibration };
}

function timeOnStitches(initial: number, seen: readonly Seen[], end: number): Map<number, number> {
  const out = new Map<number, number>();
  let stitch = initial;
  let since = 0;
  for (const s of seen) {
    out.set(stitch, (out.get(stitch) ?? 0) + s.t - since);
    [stitch, since] = [s.change.to, s.t];
  }
  out.set(stitch, (out.get(stitch) ?? 0) + end - since);
  return out;
}

/** Consecutive switches in opposite directions less than `windowMs` apart. */
function reversals(seen: readonly Seen[], windowMs: number): number {
  let n = 0;
  for (let i = 1; i < seen.length; i++) {
    const [a, b] = [seen[i - 1] as Seen, seen[i] as Seen];
    if (a.change.direction !== b.change.direction && b.t - a.t < windowMs) n++;
  }
  return n;
}

/** When the runtime was back on `choice` after `phaseEnd` (ms after it), or undefined if never. */
function recovery(initial: number, seen: readonly Seen[], phaseEnd: number, choice: number): number | undefined {
  let stitch = initial;
  for (const s of seen) {
    if (s.t > phaseEnd && stitch === choice) return 0;
    if (s.t > phaseEnd && s.change.to === choice) return s.t - phaseEnd;
    stitch = s.change.to;
  }
  return stitch === choice ? 0 : undefined;
}

/** A synthetic trace at 1 Hz: the battery drains and recharges, the slowdown comes and goes. */
function syntheticTrace(rows: number): Trace {
  const list: TraceRow[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    list[i] = {
      tMs: i * 1000,
      values: {
        'battery.percent': 100 - ((i / 60) % 100),
        'battery.charging': false,
        'inference.slowdown': i % 3600 < 600 ? 2 : 1,
      },
    };
  }
  return {
    name: `synthetic-${rows}`,
    signals: ['battery.percent', 'battery.charging', 'inference.slowdown'],
    rows: list,
  };
}

function simulateTimes(o: Options, catalog: StitchCatalog): string[] {
  const profile = loadProfileSync(o.profile);
  return o.simulateRows.map((rows) => {
    const trace = syntheticTrace(rows);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const sim = simulate({ trace, profile, catalog, keep: false });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    // CPU time beside wall time: on a shared machine the wall time says more about the neighbours.
    return `  ${String(rows).padStart(9)} rows: ${(ms / 1000).toFixed(2)} s wall, ${(cpuMs / 1000).toFixed(2)} s CPU (${((cpuMs * 1000) / rows).toFixed(1)} µs/row), ${sim.replay.switches.length} switches, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB`;
  });
}

const clock = (ms: number) =>
  `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}.${Math.floor((ms % 1000) / 100)}`;

async function main(o: Options): Promise<void> {
  const scale = o.minutes / 5;
  const phases: [number, number][] = [
    [60_000 * scale, 120_000 * scale],
    [180_000 * scale, 240_000 * scale],
  ];
  const pkg = await readPackage(o.model, { verifyHashes: false, loadModels: false });
  const catalog = policyCatalog(pkg.manifest);
  if (!catalog) throw new Error(`${o.model} has no cost figures: no profile can drive it`);
  const choice = profileChoice(o, catalog);
  const out = (line = '') => process.stdout.write(`${line}\n`);

  out(
    `bench:adaptive — ${o.model} × ${o.profile}, ${o.minutes} min live, busy ×2 at ${phases.map(([a, b]) => `${clock(a)}–${clock(b)}`).join(' and ')}; ${os.cpus().length} cores`,
  );
  const calibration = await calibrationTimes(o);
  out(`Calibration: cold ${calibration.cold}; cached ${calibration.cached}`);

  const run = await live(o, phases);
  out(`\nSwitches (${run.seen.length}; started on stitch ${run.initial}, the profile's choice is ${choice}):`);
  for (const s of run.seen)
    out(
      `  ${clock(s.t).padStart(8)}  ${String(s.change.direction ?? '').padEnd(7)} ${s.change.from} → ${s.change.to}  ${s.change.reason.summary}`,
    );
  const firstMinute = run.seen.filter((s) => s.t < 60_000 * scale).length;
  const perPhase = phases.map(([a, b]) => {
    const inside = run.seen.filter((s) => s.t >= a && s.t < b + 30_000);
    return `${inside.filter((s) => s.change.direction === 'degrade').length} down, ${inside.filter((s) => s.change.direction === 'upgrade').length} up`;
  });
  const back = phases.map(([, b]) => recovery(run.initial, run.seen, b, choice));
  out(`\nIn the first ${clock(60_000 * scale)}: ${firstMinute} switch(es) (target 0)`);
  out(`Per busy phase (to 30 s after its end): ${perPhase.join('; ')} (target ≤ 1 down, ≤ 1 up)`);
  out(`Reversals within ${clock(60_000 * scale)}: ${reversals(run.seen, 60_000 * scale)} (target 0)`);
  out(
    `Back on the profile's choice after each phase: ${back.map((b) => (b === undefined ? 'never' : `${(b / 1000).toFixed(1)} s`)).join('; ')} (target ≤ 30 s)`,
  );
  const total = [...run.runs.values()].reduce((a, b) => a + b, 0);
  out(`Runs over the limits in force: ${run.overLimits} of ${total}`);
  const figures = (run.calibration?.stitches ?? []).filter((e) => e.batch === 1 && run.runs.has(e.stitch));
  out(
    `This device's figures at the end (${run.calibration?.refined ?? 0} lowered online): ${figures
      .map(
        (e) =>
          `stitch ${e.stitch} ${e.p50Ms.toFixed(2)} ms${e.fusedRatio ? `, fused ÷ route ${e.fusedRatio.toFixed(2)}` : ''}`,
      )
      .join('; ')}`,
  );
  out('Time on each stitch:');
  for (const [id, ms] of [...timeOnStitches(run.initial, run.seen, run.end)].sort((a, b) => b[1] - a[1])) {
    out(
      `  stitch ${String(id).padStart(3)}: ${clock(ms).padStart(8)} (${((100 * ms) / run.end).toFixed(1)} %), ${run.runs.get(id) ?? 0} runs`,
    );
  }
  if (o.simulateRows.length > 0) {
    out('\nsimulate (virtual time, keep: false):');
    for (const line of simulateTimes(o, catalog)) out(line);
  }
}

const program = new Command('bench:adaptive')
  .option('--minutes <n>', 'length of the live run; every time scales with it (default 5)', positive, 5)
  .option('--model <dir>', 'stitch package', 'models/fmnist-vit')
  .option('--profile <file>', 'profile', 'profiles/balanced.yaml')
  .option(
    '--simulate-rows <list>',
    'trace lengths to time simulate on, comma-separated (empty: none)',
    (v: string) => v.split(',').filter(Boolean).map(positive),
    [86_400, 1_000_000],
  )
  .option('--record <file.csv>', 'write every reading the policy saw in the live run to a trace CSV')
  .option('--cache-dir <dir>', "the live run's calibration cache (default: a fresh folder, as on a first install)")
  .action(async (o: Options) => main(o));
program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
