/**
 * The bench's report: the JSON figures (stable keys, see docs/performance.md) and the tables
 * printed from them.
 */
import os from 'node:os';
import type { ThreadSettings } from '../src/engine/ort.js';
import type { ProviderName } from '../src/engine/providers.js';
import type { CpuWindow, Environment } from './env.js';
import type { ByBatch, PairResult, RuntimeKind, ScaleLatency } from './latency.js';
import type { Lag } from './measure.js';
import type { OverWeights, RssResult } from './rss.js';
import type { MedianCI, Summary } from './stats.js';

export const TARGETS = { deitS: 1.02, tinyFast: 1.05, switchP99Ms: 1, rssOverWeights: 1.15, lagP99Ms: 10 };

export interface BenchOptions {
  json?: string;
  provider: ProviderName;
  maxRounds: number;
  target: number;
  switchTrials: number;
  deitSwitchTrials: number;
  lagSeconds: number;
  skipDeit: boolean;
  rssVariants: boolean;
  memoryOnly: boolean;
  keep: boolean;
}

export interface SwitchResult {
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

export interface LagResult {
  idle: Lag;
  worker: Lag;
  inProcess: Lag;
  cpu: CpuWindow;
}

export interface ScaleResults {
  latency: ScaleLatency;
  switchWorker: SwitchResult;
  switchInProcess?: SwitchResult;
  lag: LagResult;
}

export interface ReportInput {
  env: Environment;
  opts: BenchOptions;
  threads: ThreadSettings;
  tiny: ScaleResults;
  deitS: ScaleResults | undefined;
  rss: { runtime: RssResult; variants: RssResult[] };
  rssFamilyName: string;
  wallSeconds: number;
}

type Pairs = ByBatch | undefined;
const med = (p: Pairs, b: string) => p?.[b]?.ratio.median ?? null;
const ci = (p: Pairs, b: string) => (p?.[b] ? [p[b].ratio.lo, p[b].ratio.hi] : null);

/** `{b1, b8, b1Fast, b8Fast}` of one scale's runtime ÷ fused pairs, worker or in-process. */
function overFusedKeys(
  l: ScaleLatency | undefined,
  where: 'worker' | 'inProcess',
  pick: (p: Pairs, b: string) => unknown,
) {
  const route = l?.overFused[`route.${where}` as RuntimeKind];
  const fast = l?.overFused[`fast.${where}` as RuntimeKind];
  return { b1: pick(route, 'b1'), b8: pick(route, 'b8'), b1Fast: pick(fast, 'b1'), b8Fast: pick(fast, 'b8') };
}

function byScale(r: ReportInput, pick: (l: ScaleLatency) => Pairs, value: (p: Pairs, b: string) => unknown) {
  const one = (l: ScaleLatency | undefined) => (l ? { b1: value(pick(l), 'b1'), b8: value(pick(l), 'b8') } : null);
  return { tiny: one(r.tiny.latency), deitS: one(r.deitS?.latency) };
}

/** Every pair that stayed wider than the target, as `scale what batch`. */
function noisyPairs(r: ReportInput): string[] {
  const out: string[] = [];
  for (const [scale, res] of [
    ['tiny', r.tiny],
    ['DeiT-S', r.deitS],
  ] as const) {
    if (!res) continue;
    const groups: [string, Pairs][] = [
      ...Object.entries(res.latency.overFused).map(([k, v]) => [`${k} ÷ fused`, v] as [string, Pairs]),
      ['worker ÷ in-process', res.latency.workerOverInProcess],
      ['arena off ÷ on', res.latency.arenaOffOverOn],
      ['prepack off ÷ on', res.latency.prepackOffOverOn],
    ];
    for (const [what, pairs] of groups)
      for (const [b, p] of Object.entries(pairs ?? {}))
        if (p.noisy) out.push(`${scale} ${what} ${b} (±${(p.ratio.halfWidth * 100).toFixed(1)}%)`);
  }
  return out;
}

function memoryKeys(rss: RssResult) {
  const anon: OverWeights | null = rss.anonOverWeights;
  return {
    rssOverWeights: rss.overWeights.loaded,
    rssOverWeightsAfterRun: { b1: rss.overWeights.afterRunB1, b8: rss.overWeights.afterRunB8 ?? null },
    anonOverWeights: anon
      ? { loaded: anon.loaded, afterRunB1: anon.afterRunB1, afterRunB8: anon.afterRunB8 ?? null }
      : null,
    pssOverWeights: rss.pssOverWeights
      ? {
          loaded: rss.pssOverWeights.loaded,
          afterRunB1: rss.pssOverWeights.afterRunB1,
          afterRunB8: rss.pssOverWeights.afterRunB8 ?? null,
        }
      : null,
  };
}

export function buildReport(r: ReportInput) {
  const sw = r.tiny.switchWorker;
  const lagMain = r.deitS?.lag ?? r.tiny.lag;
  return {
    provider: r.opts.provider,
    routeOverFused: {
      deitS: overFusedKeys(r.deitS?.latency, 'worker', med),
      tiny: overFusedKeys(r.tiny.latency, 'worker', med),
    },
    routeOverFusedCI95: {
      deitS: overFusedKeys(r.deitS?.latency, 'worker', ci),
      tiny: overFusedKeys(r.tiny.latency, 'worker', ci),
    },
    routeOverFusedDefinition:
      'median over rounds of (StitchRuntime.run() latency, worker mode ÷ one ORT session of the same stitch built whole by buildRouteModel, same session options, timed in the same round); only those two alive; Fast = after the runtime fused the stitch by itself; CI95 = distribution-free 95% interval of that median',
    routeOverFusedInProcess: {
      tiny: overFusedKeys(r.tiny.latency, 'inProcess', med),
      deitS: overFusedKeys(r.deitS?.latency, 'inProcess', med),
    },
    workerOverInProcess: byScale(r, (l) => l.workerOverInProcess, med),
    workerOverInProcessCI95: byScale(r, (l) => l.workerOverInProcess, ci),
    workerOverInProcessDefinition:
      'median over rounds of (worker runtime ÷ in-process runtime, fast path off, same round), only those two and a bare echo worker alive',
    workerRoundTripMs: byScale(
      r,
      (l) => l.workerOverInProcess,
      (p, b) => p?.[b]?.roundTrip?.median ?? null,
    ),
    arenaOffOverOn: byScale(r, (l) => l.arenaOffOverOn, med),
    arenaOffOverOnCI95: byScale(r, (l) => l.arenaOffOverOn, ci),
    prepackOffOverOn: byScale(r, (l) => l.prepackOffOverOn, med),
    prepackOffOverOnCI95: byScale(r, (l) => l.prepackOffOverOn, ci),
    noisy: noisyPairs(r),
    switchP99Ms: sw.overheadMs.p99,
    switchP99Definition:
      'tiny scale, b1, worker: p99 over trials of (first run after setStitch − the next run of the same stitch); compare with switch.tiny.controlOverheadMs (same measurement without a switch)',
    switchP99NetOfControlMs: sw.overheadMs.p99 - sw.controlOverheadMs.p99,
    switchToResultP99Ms: sw.switchToResultMs.p99,
    setStitchP99Ms: sw.setStitchMs.p99,
    freshSessionMs: (r.deitS?.switchWorker ?? sw).freshSessionMs?.median ?? null,
    ...memoryKeys(r.rss.runtime),
    memoryDefinition: `(reading − baseline) ÷ piece bytes, ${r.rssFamilyName}, StitchRuntime in worker mode with its defaults, every piece loaded; baseline = a micro runtime loaded (ORT and one worker up); rss = RSS, anon = Anonymous and pss = Pss of /proc/self/smaps_rollup; AfterRun b1 = every stitch run once at batch 1, b8 = then every anchor once at batch 8`,
    eventLoopLagP99Ms: { worker: lagMain.worker.p99, inProcess: lagMain.inProcess.p99, idle: lagMain.idle.p99 },
    eventLoopLagScale: r.deitS ? 'deitS' : 'tiny',
    latency: { tiny: r.tiny.latency, deitS: r.deitS?.latency ?? null },
    switch: { tiny: sw, tinyInProcess: r.tiny.switchInProcess ?? null, deitS: r.deitS?.switchWorker ?? null },
    eventLoop: { tiny: r.tiny.lag, deitS: r.deitS?.lag ?? null },
    rss: { family: r.rssFamilyName, ...r.rss },
    targets: TARGETS,
    environment: { ...r.env, loadAverageAtEnd: os.loadavg(), threads: r.threads },
    options: r.opts,
    wallSeconds: r.wallSeconds,
  };
}

export type Report = ReturnType<typeof buildReport>;

// ——— tables ———

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i] as number)).join('  ');
  return [line(cells[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

export function fmt(x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

function verdict(value: number | null | undefined, target: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'not measured';
  return value <= target ? 'met' : `MISSED by ${fmt(value - target)} (${fmt((value / target - 1) * 100)}%)`;
}

/** A ratio with its interval: `1.023 [1.011, 1.030]`, marked `!` when wider than the target. */
function ratioText(c: MedianCI, noisy: boolean): string {
  return `${c.median.toFixed(3)} [${c.lo.toFixed(3)}, ${c.hi.toFixed(3)}]${noisy ? '!' : ''}`;
}

function header(rep: Report): string[] {
  const env = rep.environment;
  const la = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  return [
    `stitchnet bench — ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB, node ${env.node}, onnxruntime-node ${env.onnxruntime}, provider ${rep.provider}, ${env.threads.intraOp} intra-op threads per session, spinning off`,
    `load average at start ${la(env.loadAverageAtStart)}, at end ${la(env.loadAverageAtEnd)}; wall time ${fmt(rep.wallSeconds)} s`,
  ];
}

/** Rows of (a): one per scale, comparison and batch. */
function latencyRows(rep: Report): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const [scale, l] of [
    ['tiny', rep.latency.tiny],
    ['DeiT-S', rep.latency.deitS],
  ] as const) {
    if (!l) continue;
    const groups: [string, ByBatch | undefined][] = [
      ...Object.entries(l.overFused).map(([k, v]) => [`${k} ÷ fused`, v] as [string, ByBatch | undefined]),
      ['route.worker ÷ route.inProcess', l.workerOverInProcess],
      ['cpuMemArena false ÷ true (worker)', l.arenaOffOverOn],
      ['prepackWeights false ÷ true (worker)', l.prepackOffOverOn],
    ];
    for (const [what, pairs] of groups) {
      for (const [b, p] of Object.entries(pairs ?? {}) as [string, PairResult][]) {
        rows.push([
          scale,
          b,
          what,
          p.rounds,
          `${fmt(p.subject.median)} / ${fmt(p.reference.median)}`,
          ratioText(p.ratio, p.noisy),
          p.ratioOfMedians,
          p.roundTrip ? fmt(p.roundTrip.median) : '–',
          p.maxAbsDiff.toExponential(1),
          fmt(p.cpu.otherCores ?? Number.NaN),
        ]);
      }
    }
  }
  return rows;
}

function latencySection(rep: Report): string[] {
  const kick = [rep.latency.tiny, rep.latency.deitS].flatMap((l, i) =>
    l
      ? Object.entries(l.fastPathKickIn).map(
          ([k, v]) => `${i === 0 ? 'tiny' : 'DeiT-S'} ${k} after ${v.runs} runs / ${fmt(v.ms / 1000)} s`,
        )
      : [],
  );
  return [
    '',
    '(a) latency, each pair timed side by side with nothing else alive (ms: medians of subject / reference; ratio = median of per-round ratios [95% interval], ! = wider than the target; "÷ medians" = the unpaired ratio)',
    table(
      [
        'scale',
        'batch',
        'subject ÷ reference',
        'rounds',
        'ms',
        'ratio [95%]',
        '÷ medians',
        'echo ms',
        'max|Δ|',
        'other cores',
      ],
      latencyRows(rep),
    ),
    `fast path kicked in by itself (default thresholds): ${kick.join('; ')}`,
    'echo = a bare worker round trip (input copied and sent, logits-sized reply, no inference), timed along with worker ÷ in-process',
  ];
}

function switchSection(rep: Report): string[] {
  const rows: (string | number)[][] = [];
  for (const [scale, sw] of [
    ['tiny, worker', rep.switch.tiny],
    ['tiny, in-process', rep.switch.tinyInProcess],
    ['DeiT-S, worker', rep.switch.deitS],
  ] as const) {
    if (!sw) continue;
    const fresh = sw.freshSessionMs;
    rows.push([
      `${scale}, ${sw.pair[0]}⇄${sw.pair[1]}`,
      sw.trials,
      `${fmt(sw.setStitchMs.median * 1000)} / ${fmt(sw.setStitchMs.p99 * 1000)} µs`,
      sw.steadyRunMs.median,
      sw.firstRunMs.median,
      `${fmt(sw.overheadMs.median)} / ${fmt(sw.overheadMs.p99)}`,
      `${fmt(sw.controlOverheadMs.median)} / ${fmt(sw.controlOverheadMs.p99)}`,
      `${fmt(sw.switchToResultMs.median)} / ${fmt(sw.switchToResultMs.p99)}`,
      fresh ? `${fmt(fresh.median)} / ${fmt(fresh.p99)} (n=${fresh.n})` : '–',
      fresh ? fresh.median / sw.switchToResultMs.median : '–',
    ]);
  }
  return [
    '',
    '(b) switching, b1, runtimes without fast path (ms; overhead = first run after setStitch − next run; control = same without a switch)',
    table(
      [
        'scale',
        'trials',
        'setStitch p50/p99',
        'steady run',
        'first run',
        'overhead p50/p99',
        'control p50/p99',
        'setStitch→result p50/p99',
        'fresh session+run p50/p99',
        'fresh ÷ switch',
      ],
      rows,
    ),
  ];
}

/** The memory table (c) alone. */
export function memoryTable(rep: Pick<Report, 'rss'>): string {
  return memorySection(rep).join('\n');
}

function memorySection(rep: Pick<Report, 'rss'>): string[] {
  const x = (o: OverWeights | null, k: keyof OverWeights) => (o?.[k] === undefined ? '–' : (o[k] as number));
  const rows = [rep.rss.runtime, ...rep.rss.variants].map((v) => [
    v.variant,
    v.weightMB,
    v.baselineMB,
    `${fmt(v.overWeights.loaded)} / ${fmt(v.overWeights.afterRunB1)} / ${v.overWeights.afterRunB8 === undefined ? '–' : fmt(v.overWeights.afterRunB8)}`,
    `${fmt(x(v.anonOverWeights, 'loaded') as number)} / ${fmt(x(v.anonOverWeights, 'afterRunB1') as number)} / ${x(v.anonOverWeights, 'afterRunB8') === '–' ? '–' : fmt(x(v.anonOverWeights, 'afterRunB8') as number)}`,
    `${fmt(x(v.pssOverWeights, 'loaded') as number)} / ${fmt(x(v.pssOverWeights, 'afterRunB1') as number)} / ${x(v.pssOverWeights, 'afterRunB8') === '–' ? '–' : fmt(x(v.pssOverWeights, 'afterRunB8') as number)}`,
    v.sessions,
    v.loadSeconds,
    v.latencyB1Ms,
    v.latencyB8Ms ?? '–',
    v.description,
  ]);
  const lines = [
    '',
    `(c) memory, ${rep.rss.family}, each row a fresh child process (MB; × = (reading − baseline) ÷ piece bytes, loaded / after b1 / after b8; after b1 = every stitch run once, after b8 = then every anchor once at batch 8)`,
    table(
      [
        'variant',
        'pieces',
        'baseline RSS',
        'RSS ×',
        'anonymous ×',
        'PSS ×',
        'sessions',
        'load s',
        'b1 ms',
        'b8 ms',
        'what',
      ],
      rows,
    ),
  ];
  if (rep.rss.runtime.extraWorkerMB !== undefined)
    lines.push(
      `a second worker runtime (micro package) adds ${fmt(rep.rss.runtime.extraWorkerMB)} MB; the runtime rows include one such worker`,
    );
  return lines;
}

function lagSection(rep: Report): string[] {
  const rows: (string | number)[][] = [];
  for (const [scale, lg] of [
    ['tiny', rep.eventLoop.tiny],
    ['DeiT-S', rep.eventLoop.deitS],
  ] as const) {
    if (!lg) continue;
    for (const w of ['idle', 'worker', 'inProcess'] as const)
      rows.push([scale, w, lg[w].p50, lg[w].p99, lg[w].max, lg[w].runs, lg[w].seconds]);
  }
  return [
    '',
    '(d) main-thread event-loop delay while running b1 back to back (ms)',
    table(['scale', 'mode', 'p50', 'p99', 'max', 'runs', 's'], rows),
  ];
}

function cpuSection(rep: Report): string[] {
  const rows: (string | number)[][] = [];
  const cpuRow = (name: string, c: CpuWindow | undefined) => {
    if (c) rows.push([name, c.seconds, c.ownCores, c.otherCores ?? '–', c.niceCores ?? '–', c.loadAverage1m]);
  };
  cpuRow('tiny (b) worker', rep.switch.tiny.cpu);
  cpuRow('tiny (b) in-process', rep.switch.tinyInProcess?.cpu);
  cpuRow('tiny (d)', rep.eventLoop.tiny.cpu);
  cpuRow('DeiT-S (b)', rep.switch.deitS?.cpu);
  cpuRow('DeiT-S (d)', rep.eventLoop.deitS?.cpu);
  return [
    '',
    'CPU during sections (b) and (d) (cores; other = every other process; (a) shows it per pair)',
    table(['section', 's', 'ours', 'other', 'niced', 'load 1m'], rows),
  ];
}

function targetsSection(rep: Report): string[] {
  const f = rep.routeOverFused;
  const rows: [string, number | null, number][] = [
    ['route ÷ fused, DeiT-S b1 (fast path off)', f.deitS.b1 as number | null, TARGETS.deitS],
    ['route ÷ fused, DeiT-S b8 (fast path off)', f.deitS.b8 as number | null, TARGETS.deitS],
    ['route ÷ fused, tiny b1, fast path', f.tiny.b1Fast as number | null, TARGETS.tinyFast],
    ['route ÷ fused, tiny b8, fast path', f.tiny.b8Fast as number | null, TARGETS.tinyFast],
    ['switch overhead p99 (ms, tiny, worker)', rep.switchP99Ms, TARGETS.switchP99Ms],
    ['  the same minus the no-switch control p99', rep.switchP99NetOfControlMs, TARGETS.switchP99Ms],
    ['RSS ÷ weights, loaded', rep.rssOverWeights, TARGETS.rssOverWeights],
    ['RSS ÷ weights, after one b1 run of every stitch', rep.rssOverWeightsAfterRun.b1, TARGETS.rssOverWeights],
    ['RSS ÷ weights, after one b8 run of every anchor', rep.rssOverWeightsAfterRun.b8, TARGETS.rssOverWeights],
    [`event-loop lag p99, worker (ms, ${rep.eventLoopLagScale})`, rep.eventLoopLagP99Ms.worker, TARGETS.lagP99Ms],
  ];
  return [
    '',
    'targets',
    table(
      ['target', 'value', '≤', 'verdict'],
      rows.map(([name, v, t]) => [name, v ?? 'null', t, verdict(v, t)]),
    ),
  ];
}

function noiseSection(rep: Report): string[] {
  if (rep.noisy.length === 0)
    return ['', `every ratio is known within ±${fmt(rep.options.target * 100)}% (95% interval)`];
  return [
    '',
    `TOO NOISY: ${rep.noisy.length} ratios stayed wider than ±${fmt(rep.options.target * 100)}% within their round budget (other processes were using the cores; see "other cores"): ${rep.noisy.join('; ')}. Read them as their interval, not as the median alone.`,
  ];
}

export function printTables(rep: Report): string {
  return [
    ...header(rep),
    ...latencySection(rep),
    ...switchSection(rep),
    ...memorySection(rep),
    ...lagSection(rep),
    ...cpuSection(rep),
    ...targetsSection(rep),
    ...noiseSection(rep),
  ].join('\n');
}
