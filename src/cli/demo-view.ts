/**
 * What `stitchnet demo` shows: the running statistics of each stitch, the status line (active
 * stitch, MACs, latency, accuracy, device readings) and the closing summary.
 */
import type { Writable } from 'node:stream';
import { median } from '../base/stats.js';
import type { Decision, StitchCatalog } from '../policy/index.js';
import type { StitchChange } from '../runtime/adaptive.js';
import type { DeviceState } from '../signals/index.js';
import { formatMacs, macsUnit, type MacsUnit } from '../base/macs.js';
import { formatClock, formatShare } from './format.js';

/** How many recent runs of the active stitch its latency median is taken over. */
const LATENCY_WINDOW = 50;

/** Runs, correct answers and recent latencies of one stitch. */
interface StitchStats {
  runs: number;
  labelled: number;
  correct: number;
  recentMs: number[];
  /** Wall time it was active, ms (the current stretch excluded). */
  activeMs: number;
}

/** The demo's running record: every run, every stitch change, the latest device state. */
export class DemoStats {
  readonly perStitch = new Map<number, StitchStats>();
  readonly changes: StitchChange[] = [];
  state: DeviceState | undefined;
  decision: Decision | undefined;
  runs = 0;
  labelled = 0;
  correct = 0;
  private activeSince: number;

  constructor(
    /** The active stitch. */
    public stitch: number,
    /** Wall-clock start, ms. */
    readonly startedAt: number,
  ) {
    this.activeSince = startedAt;
  }

  private stats(id: number): StitchStats {
    let s = this.perStitch.get(id);
    if (!s) {
      s = { runs: 0, labelled: 0, correct: 0, recentMs: [], activeMs: 0 };
      this.perStitch.set(id, s);
    }
    return s;
  }

  /** A finished run of `stitch`: its latency and, for a labelled sample, whether it was right. */
  recordRun(stitch: number, ms: number, correct: boolean | undefined): void {
    const s = this.stats(stitch);
    s.runs++;
    this.runs++;
    s.recentMs.push(ms);
    if (s.recentMs.length > LATENCY_WINDOW) s.recentMs.shift();
    if (correct !== undefined) {
      s.labelled++;
      this.labelled++;
      if (correct) {
        s.correct++;
        this.correct++;
      }
    }
  }

  /** The active stitch changed at wall-clock time `now`. */
  recordChange(change: StitchChange, now: number): void {
    this.stats(this.stitch).activeMs += now - this.activeSince;
    this.activeSince = now;
    this.stitch = change.to;
    this.changes.push(change);
  }

  /** Median latency of the recent runs of `stitch`, ms. */
  p50(stitch: number): number | undefined {
    const recent = this.perStitch.get(stitch)?.recentMs ?? [];
    return recent.length === 0 ? undefined : median(recent);
  }

  /** Wall time each stitch was active until `now`, ms. */
  activeTimes(now: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const [id, s] of this.perStitch) out.set(id, s.activeMs);
    out.set(this.stitch, (out.get(this.stitch) ?? 0) + now - this.activeSince);
    return out;
  }
}

const na = 'n/a';
const fixed = (v: number | undefined, digits: number, unit = '') =>
  v === undefined ? na : `${v.toFixed(digits)}${unit}`;

/** The device readings the demo shows, `n/a` where there is no reading. */
export function formatDevice(state: DeviceState | undefined): string {
  const b = state?.battery;
  const battery =
    b?.percent === undefined
      ? na
      : `${b.percent.toFixed(0)} %${b.charging === undefined ? '' : b.charging ? ' charging' : ' on battery'}`;
  const t = state?.thermal;
  const trend =
    t?.trendCPerMin === undefined ? '' : ` (${t.trendCPerMin >= 0 ? '+' : ''}${t.trendCPerMin.toFixed(1)} °C/min)`;
  return [
    `battery ${battery}`,
    `cpu ${fixed(t?.cpuC, 0, ' °C')}${t?.cpuC === undefined ? '' : trend}`,
    `load ${fixed(state?.cpu.load, 0, ' %')}`,
    `gpu ${fixed(state?.gpu.utilization, 0, ' %')}${t?.gpuC === undefined ? '' : ` ${t.gpuC.toFixed(0)} °C`}`,
    `slowdown ${fixed(state?.inference.slowdown, 2, '×')}`,
  ].join('  ');
}

/** The accuracy so far, e.g. `91.2 % of 812`, or `n/a` without labels. */
export function formatAccuracy(correct: number, labelled: number): string {
  return labelled === 0 ? na : `${((100 * correct) / labelled).toFixed(1)} % of ${labelled}`;
}

/** The one MACs unit of everything the demo shows: that of the package's costliest stitch. */
function catalogUnit(catalog: StitchCatalog | undefined): MacsUnit {
  return macsUnit(catalog ? [...catalog.stitches.values()].map((s) => s.macs) : []);
}

/** The status: clock, active stitch, its MACs and latency, running accuracy; then the device readings. */
export function statusLines(stats: DemoStats, catalog: StitchCatalog | undefined, clock: string): [string, string] {
  const macs = catalog?.stitches.get(stats.stitch)?.macs;
  const run = [
    clock,
    `stitch ${stats.stitch}`,
    macs === undefined ? 'MACs n/a' : formatMacs(macs, catalogUnit(catalog)),
    `p50 ${fixed(stats.p50(stats.stitch), 2, ' ms')}`,
    `acc ${formatAccuracy(stats.correct, stats.labelled)}`,
  ];
  return [run.join('  '), `${' '.repeat(clock.length)}  ${formatDevice(stats.state)}`];
}

/** A stream the live output writes to; `isTTY` and `columns` as on `process.stdout`. */
export type LiveStream = Writable & { isTTY?: boolean; columns?: number };

/**
 * Live output. On a terminal, a status block is redrawn in place and event lines scroll above it;
 * elsewhere (a pipe, a log file, CI) every status is one plain line and nothing moves the cursor.
 */
export class LiveOutput {
  private shown = 0;

  constructor(private readonly out: LiveStream) {}

  /** Whether the status is redrawn in place. */
  get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** An event line, kept on screen above the status block (which is erased until the next {@link status}). */
  line(text: string): void {
    this.out.write(`${this.erase()}${text}\n`);
    this.shown = 0;
  }

  /** The status: redrawn in place on a terminal (cut to its width), one line otherwise. */
  status(lines: readonly string[]): void {
    if (!this.tty) {
      this.out.write(`${lines.map((l, i) => (i === 0 ? l : l.trim())).join('  ')}\n`);
      return;
    }
    const columns = this.out.columns ?? 0;
    const width = columns > 1 ? columns - 1 : Infinity;
    this.out.write(`${this.erase()}${lines.map((l) => l.slice(0, width)).join('\n')}`);
    this.shown = lines.length;
  }

  /** Leaves the last status block on screen and moves below it. */
  end(): void {
    if (this.tty && this.shown > 0) this.out.write('\n');
    this.shown = 0;
  }

  /** Cursor movements that erase the status block on screen, leaving the cursor where it began. */
  private erase(): string {
    if (!this.tty || this.shown === 0) return '';
    return `\r\x1b[2K${'\x1b[1A\x1b[2K'.repeat(this.shown - 1)}`;
  }
}

/** One stitch change: clock, direction, from → to with MACs, and the reason. */
export function changeLine(change: StitchChange, catalog: StitchCatalog | undefined, clock: string): string {
  const macs = (id: number) => {
    const m = catalog?.stitches.get(id)?.macs;
    return m === undefined ? '' : formatMacs(m, catalogUnit(catalog));
  };
  const direction = change.direction === 'degrade' ? 'down' : change.direction === 'upgrade' ? 'up' : 'switch';
  const cost = catalog ? ` (${macs(change.from)} → ${macs(change.to)})` : '';
  return `${clock}  ${direction.padEnd(4)}  stitch ${change.from} → ${change.to}${cost}: ${change.reason.summary}`;
}

/** The closing summary: runs, throughput, accuracy, and per stitch its time, runs, latency and accuracy. */
export function summaryText(
  stats: DemoStats,
  catalog: StitchCatalog | undefined,
  now: number,
  random: boolean,
): string {
  const wall = now - stats.startedAt;
  const active = stats.activeTimes(now);
  const lines = [
    `Ran ${stats.runs} inferences in ${(wall / 1000).toFixed(1)} s (${((1000 * stats.runs) / Math.max(wall, 1)).toFixed(0)}/s); accuracy ${formatAccuracy(stats.correct, stats.labelled)}${random && stats.labelled > 0 ? ' (random weights: chance level, meaningless)' : ''}`,
    `${stats.changes.length} stitch change${stats.changes.length === 1 ? '' : 's'} (${stats.changes.filter((c) => c.direction === 'degrade').length} down, ${stats.changes.filter((c) => c.direction === 'upgrade').length} up)`,
  ];
  const unit = catalogUnit(catalog);
  const rows = [['stitch', unit.name, 'active', 'share', 'runs', 'p50 ms', 'accuracy']];
  for (const [id, ms] of active) {
    const s = stats.perStitch.get(id);
    const macs = catalog?.stitches.get(id)?.macs;
    rows.push([
      String(id),
      macs === undefined ? na : unit.format(macs),
      formatClock(ms),
      formatShare(ms, wall),
      String(s?.runs ?? 0),
      fixed(stats.p50(id), 2),
      formatAccuracy(s?.correct ?? 0, s?.labelled ?? 0),
    ]);
  }
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  for (const r of rows)
    lines.push(
      `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('  ')}`,
    );
  return `${lines.join('\n')}\n`;
}

/** `demo --json`: the run in one object. Times are ms from the start of the run. */
export interface DemoSummary {
  durationMs: number;
  runs: number;
  /** Share of labelled samples answered right, 0..1; `null` without labels. */
  accuracy: number | null;
  /** Every change of the active stitch, in order. */
  switches: {
    atMs: number;
    from: number;
    to: number;
    direction: 'degrade' | 'upgrade' | null;
    cause: StitchChange['cause'];
    reason: string;
  }[];
  /** Each stitch used: time active, runs, median latency of its recent runs, accuracy. */
  stitches: {
    stitch: number;
    macs: number | null;
    activeMs: number;
    share: number;
    runs: number;
    p50Ms: number | null;
    accuracy: number | null;
  }[];
}

/**
 * The summary of {@link summaryText} as data. `now` is the wall-clock end; `t0` the scheduler time
 * at the start, against which the switches' `at` are taken.
 */
export function summaryJson(
  stats: DemoStats,
  catalog: StitchCatalog | undefined,
  now: number,
  t0: number,
): DemoSummary {
  const wall = now - stats.startedAt;
  const share = (correct: number, labelled: number) => (labelled === 0 ? null : correct / labelled);
  return {
    durationMs: Math.round(wall),
    runs: stats.runs,
    accuracy: share(stats.correct, stats.labelled),
    switches: stats.changes.map((c) => ({
      atMs: Math.round(c.at - t0),
      from: c.from,
      to: c.to,
      direction: c.direction ?? null,
      cause: c.cause,
      reason: c.reason.summary,
    })),
    stitches: [...stats.activeTimes(now)].map(([id, ms]) => {
      const s = stats.perStitch.get(id);
      return {
        stitch: id,
        macs: catalog?.stitches.get(id)?.macs ?? null,
        activeMs: Math.round(ms),
        share: wall > 0 ? ms / wall : 0,
        runs: s?.runs ?? 0,
        p50Ms: stats.p50(id) ?? null,
        accuracy: share(s?.correct ?? 0, s?.labelled ?? 0),
      };
    }),
  };
}
