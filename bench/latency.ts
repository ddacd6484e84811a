/**
 * Section (a) of the bench: latency ratios, each measured as a pair side by side, with nothing else
 * alive but the two things compared (and, for worker ÷ in-process, the bare round trip timed along).
 *
 * Per scale: the runtime ÷ a fused ONNX session of the same stitch, for each runtime kind in turn
 * (the fused session is the one thing that stays, as the reference of every such pair); then
 * worker ÷ in-process (fast path off); then `cpuMemArena: false` ÷ the default arena setting.
 * Every pair runs until the 95% interval of its per-round ratio is narrow enough, or its round
 * budget is spent; the result says which (`noisy`).
 */
import { performance } from 'node:perf_hooks';
import { RuntimeError, StitchRuntime, type FastPathOptions, type RunResult } from '../src/index.js';
import type { ProviderName } from '../src/engine/providers.js';
import { OrtSession, type SessionSettings } from '../src/engine/ort.js';
import { type CpuWindow, cpuMeter } from './env.js';
import { type FamilyPackage, type FamilySpec, routeModelBytes, sampleSize, uniform } from './families.js';
import { type Cell, echoWorker, pairedRounds } from './measure.js';
import { type MedianCI, type Summary, median, pairedRatio, summarize } from './stats.js';

export type RuntimeKind =
  | 'route.worker'
  | 'fast.worker'
  | 'route.inProcess'
  | 'fast.inProcess'
  | 'route.worker.arenaOn'
  | 'route.worker.arenaOff'
  | 'route.worker.prepackOn'
  | 'route.worker.prepackOff';

export const RUNTIME_KINDS: Record<
  RuntimeKind,
  { worker: boolean; fast: boolean; cpuMemArena?: boolean; prepackWeights?: boolean }
> = {
  'route.worker': { worker: true, fast: false },
  'fast.worker': { worker: true, fast: true },
  'route.inProcess': { worker: false, fast: false },
  'fast.inProcess': { worker: false, fast: true },
  'route.worker.arenaOn': { worker: true, fast: false, cpuMemArena: true },
  'route.worker.arenaOff': { worker: true, fast: false, cpuMemArena: false },
  'route.worker.prepackOn': { worker: true, fast: false, prepackWeights: true },
  'route.worker.prepackOff': { worker: true, fast: false, prepackWeights: false },
};

/** Round budget of one pair at one batch size. */
export interface RoundBudget {
  min: number;
  max: number;
}

/** One scale: its family, the stitch timed, and the pair switched in (b). */
export interface Scale {
  key: 'tiny' | 'deitS';
  label: string;
  spec: FamilySpec;
  /** The stitch of (a) and (d). */
  stitch: number;
  /** (b) switches between these two. */
  switchPair: [number, number];
  /** Fast-path options of the `fast.*` runtimes. */
  fastPath: FastPathOptions;
  /** Runtime kinds compared with the fused session. */
  overFused: RuntimeKind[];
  rounds: { b1: RoundBudget; b8: RoundBudget };
  warmup: number;
  switchTrials: number;
  settleRuns: number;
  freshTrials: number;
}

/** What every section shares. */
export interface BenchContext {
  provider: ProviderName;
  settings: SessionSettings;
  /** A pair stops once its ratio's 95% interval is within ± this fraction. */
  targetHalfWidth: number;
  log: (message: string) => void;
}

/** One pair at one batch size. */
export interface PairResult {
  subject: Summary;
  reference: Summary;
  /** Median over rounds of subject ÷ reference of the same round, with its 95% interval. */
  ratio: MedianCI;
  /** Median of the subject ÷ median of the reference (the unpaired figure, for comparison). */
  ratioOfMedians: number;
  rounds: number;
  /** The interval stayed wider than the target within the round budget. */
  noisy: boolean;
  /** max |subject − reference logits|. */
  maxAbsDiff: number;
  cpu: CpuWindow;
  /** Worker ÷ in-process only: the bare worker round trip timed along. */
  roundTrip?: Summary;
}

export type ByBatch = Record<string, PairResult>;

export interface ScaleLatency {
  overFused: Partial<Record<RuntimeKind, ByBatch>>;
  workerOverInProcess: ByBatch;
  arenaOffOverOn: ByBatch;
  prepackOffOverOn: ByBatch;
  fastPathKickIn: Partial<Record<RuntimeKind, { runs: number; ms: number }>>;
}

const BATCHES = [1, 8] as const;

export function benchError(message: string): RuntimeError {
  return new RuntimeError('INFERENCE_FAILED', message, {
    hint: 'The benchmark checks that it measures what it claims; this check failed.',
  });
}

export function sample(spec: FamilySpec, batch: number, seed = 3): { data: Float32Array; dims: number[] } {
  const { channels, imageSize } = spec.image;
  return { data: uniform(batch * sampleSize(spec), seed, 1), dims: [batch, channels, imageSize, imageSize] };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** A runtime of one kind on the scale's stitch. */
export async function createRuntime(
  kind: RuntimeKind,
  scale: Scale,
  family: FamilyPackage,
  ctx: BenchContext,
): Promise<StitchRuntime> {
  const { worker, fast, cpuMemArena, prepackWeights } = RUNTIME_KINDS[kind];
  const rt = await StitchRuntime.create({
    model: family.dir,
    providers: [ctx.provider],
    worker,
    fastPath: fast ? scale.fastPath : false,
    stitch: scale.stitch,
    ...(cpuMemArena === undefined ? {} : { cpuMemArena }),
    ...(prepackWeights === undefined ? {} : { prepackWeights }),
  });
  rt.errors$.subscribe((e) => ctx.log(`runtime ${kind} reported: ${e.message}`));
  return rt;
}

/** Runs the active stitch until the runtime's fast path has kicked in by itself (its own thresholds). */
async function untilFused(
  rt: StitchRuntime,
  x: Float32Array,
  timeoutMs: number,
): Promise<{ runs: number; ms: number }> {
  const t0 = performance.now();
  for (let runs = 1; ; runs++) {
    const r = await rt.run(x);
    if (r.path === 'fused') return { runs, ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs)
      throw benchError(`the fast path did not kick in within ${timeoutMs} ms (${runs} runs)`);
  }
}

/** A cell that runs the runtime and counts runs that took another path or stitch than expected. */
function runtimeCell(
  name: string,
  rt: StitchRuntime,
  x: Float32Array,
  want: { path: RunResult['path']; stitch: number },
  wrong: Map<string, number>,
): Cell {
  return {
    name,
    run: async () => {
      const r = await rt.run(x);
      if (r.path !== want.path || r.stitch !== want.stitch) wrong.set(name, (wrong.get(name) ?? 0) + 1);
    },
  };
}

function fusedCell(fused: OrtSession, x: { data: Float32Array; dims: number[] }): Cell {
  return {
    name: 'fused',
    run: async () => {
      const y = await fused.run(fused.tensor(x.data, x.dims), 'the fused route');
      if (y.dims[0] !== x.dims[0]) throw benchError('the fused session returned the wrong batch');
    },
  };
}

/** Times `cells` (reference first) side by side and summarizes subject (`cells[1]`) ÷ reference. */
async function measurePair(
  label: string,
  cells: Cell[],
  budget: RoundBudget,
  warmup: number,
  ctx: BenchContext,
  diff: number,
): Promise<PairResult> {
  const [reference, subject] = cells as [Cell, Cell];
  const meter = cpuMeter();
  ctx.log(`${label}: ${subject.name} ÷ ${reference.name}, ${budget.min}–${budget.max} rounds`);
  const times = await pairedRounds(
    cells,
    { warmup, minRounds: budget.min, maxRounds: budget.max, targetHalfWidth: ctx.targetHalfWidth },
    ['echo'],
  );
  const [s, r] = [times[subject.name] as number[], times[reference.name] as number[]];
  const ratio = pairedRatio(s, r);
  ctx.log(
    `${label}: ${ratio.median.toFixed(3)} [${ratio.lo.toFixed(3)}, ${ratio.hi.toFixed(3)}] after ${s.length} rounds`,
  );
  return {
    subject: summarize(s),
    reference: summarize(r),
    ratio,
    ratioOfMedians: median(s) / median(r),
    rounds: s.length,
    noisy: ratio.halfWidth > ctx.targetHalfWidth,
    maxAbsDiff: diff,
    cpu: meter(),
    ...(times.echo ? { roundTrip: summarize(times.echo) } : {}),
  };
}

function checkResults(label: string, wrong: Map<string, number>, diff: number): void {
  const [kind, runs] = [...wrong][0] ?? [];
  if (kind) throw benchError(`${label}: ${runs} runs of ${kind} did not take the expected path or stitch`);
  if (!(diff <= 1e-5)) throw benchError(`${label}: the results differ from the reference by ${diff}`);
}

/** One runtime kind ÷ the fused session, at b1 and b8, the runtime alive only for this pair. */
async function overFused(
  kind: RuntimeKind,
  scale: Scale,
  family: FamilyPackage,
  fused: OrtSession,
  refs: Map<number, Float32Array>,
  ctx: BenchContext,
  kickIn: ScaleLatency['fastPathKickIn'],
): Promise<ByBatch> {
  const rt = await createRuntime(kind, scale, family, ctx);
  try {
    const fast = RUNTIME_KINDS[kind].fast;
    if (fast) {
      kickIn[kind] = await untilFused(rt, sample(scale.spec, 1).data, 300_000);
      ctx.log(`${scale.label}: ${kind} fast path kicked in after ${kickIn[kind]?.runs} runs`);
    }
    const out: ByBatch = {};
    for (const batch of BATCHES) {
      const x = sample(scale.spec, batch);
      const diff = maxAbsDiff((await rt.run(x.data)).logits, refs.get(batch) as Float32Array);
      const wrong = new Map<string, number>();
      const cells = [
        fusedCell(fused, x),
        runtimeCell(kind, rt, x.data, { path: fast ? 'fused' : 'route', stitch: scale.stitch }, wrong),
      ];
      const budget = batch === 1 ? scale.rounds.b1 : scale.rounds.b8;
      out[`b${batch}`] = await measurePair(`${scale.label} b${batch}`, cells, budget, scale.warmup, ctx, diff);
      checkResults(`${scale.label} b${batch} ${kind}`, wrong, diff);
    }
    return out;
  } finally {
    await rt.close();
  }
}

/** `subject` ÷ `reference` runtime (both alive, nothing else), at b1 and b8; `echo` adds the bare round trip. */
async function betweenRuntimes(
  subject: RuntimeKind,
  reference: RuntimeKind,
  scale: Scale,
  family: FamilyPackage,
  refs: Map<number, Float32Array>,
  ctx: BenchContext,
  echo: boolean,
): Promise<ByBatch> {
  const rts = [
    await createRuntime(reference, scale, family, ctx),
    await createRuntime(subject, scale, family, ctx),
  ] as const;
  const outputFloats = family.manifest.output.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : 1), 1);
  const bare = echo ? echoWorker(outputFloats) : undefined;
  try {
    const out: ByBatch = {};
    for (const batch of BATCHES) {
      const x = sample(scale.spec, batch);
      const diff = maxAbsDiff((await rts[1].run(x.data)).logits, refs.get(batch) as Float32Array);
      const wrong = new Map<string, number>();
      const want = { path: 'route' as const, stitch: scale.stitch };
      const cells = [
        runtimeCell(reference, rts[0], x.data, want, wrong),
        runtimeCell(subject, rts[1], x.data, want, wrong),
      ];
      if (bare) cells.push({ name: 'echo', run: () => bare.roundTrip(x.data) });
      const budget = batch === 1 ? scale.rounds.b1 : scale.rounds.b8;
      out[`b${batch}`] = await measurePair(`${scale.label} b${batch}`, cells, budget, scale.warmup, ctx, diff);
      checkResults(`${scale.label} b${batch} ${subject}`, wrong, diff);
    }
    return out;
  } finally {
    await Promise.all([...rts.map((rt) => rt.close()), bare?.close()]);
  }
}

/** The fused session's logits at each batch: the reference every runtime's results must match. */
async function referenceLogits(fused: OrtSession, spec: FamilySpec): Promise<Map<number, Float32Array>> {
  const refs = new Map<number, Float32Array>();
  for (const batch of BATCHES) {
    const x = sample(spec, batch);
    refs.set(
      batch,
      new Float32Array((await fused.run(fused.tensor(x.data, x.dims), 'the fused route')).data as Float32Array),
    );
  }
  return refs;
}

/** Section (a) at one scale. */
export async function latency(scale: Scale, family: FamilyPackage, ctx: BenchContext): Promise<ScaleLatency> {
  ctx.log(`${scale.label}: the fused session of stitch ${scale.stitch} as the reference`);
  const fused = await OrtSession.create(routeModelBytes(family, scale.stitch), ctx.settings, 'the fused route');
  const refs = await referenceLogits(fused, scale.spec);
  const result: ScaleLatency = {
    overFused: {},
    workerOverInProcess: {},
    arenaOffOverOn: {},
    prepackOffOverOn: {},
    fastPathKickIn: {},
  };
  try {
    for (const kind of scale.overFused)
      result.overFused[kind] = await overFused(kind, scale, family, fused, refs, ctx, result.fastPathKickIn);
  } finally {
    await fused.release();
  }
  result.workerOverInProcess = await betweenRuntimes('route.worker', 'route.inProcess', scale, family, refs, ctx, true);
  result.arenaOffOverOn = await betweenRuntimes(
    'route.worker.arenaOff',
    'route.worker.arenaOn',
    scale,
    family,
    refs,
    ctx,
    false,
  );
  result.prepackOffOverOn = await betweenRuntimes(
    'route.worker.prepackOff',
    'route.worker.prepackOn',
    scale,
    family,
    refs,
    ctx,
    false,
  );
  return result;
}
