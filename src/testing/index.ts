/**
 * Test helpers, published as `stitchnet/testing`: a fake signal source driven in virtual time,
 * trace builders, a small catalog builder, and a replay of a trace through the real policy.
 * Free of onnxruntime.
 */
import { merge, of, type Observable, type SchedulerLike } from 'rxjs';
import { catalogFromManifest, type StitchCatalog } from '../policy/catalog.js';
import type { PolicyContext } from '../policy/decide.js';
import { replayPolicy, type PolicyReplay } from '../policy/replay.js';
import type { Profile } from '../profiles/schema.js';
import { deviceState$ } from '../signals/derive.js';
import { PushSource, patchFromValues, type SignalValues } from '../signals/push.js';
import type { SignalSource } from '../signals/source.js';
import type { Quality, SignalPatch } from '../signals/state.js';
import { missingReading } from '../signals/state.js';
import { parseTraceJson, traceSource, type Trace, type TraceRow } from '../signals/trace.js';

export { deviceState } from '../signals/state.js';
export { parseTraceCsv, parseTraceJson } from '../signals/trace.js';
// Types the testing helpers' signatures mention.
export type { StitchCatalog, CatalogStitch, CatalogLatency } from '../policy/catalog.js';
export type { PolicyContext } from '../policy/decide.js';
export type { PolicyReplay } from '../policy/replay.js';
export type { StitchSwitch } from '../policy/switching.js';
export type { TraceRow, Where as TraceOrigin } from '../signals/trace.js';

/**
 * A signal source for tests. Readings can be pushed now ({@link FakeSignalSource.push}) or
 * scheduled at a time after subscription ({@link FakeSignalSource.at}), which runs on the
 * scheduler the pipeline passes in — so under `TestScheduler.run` or a `VirtualTimeScheduler`
 * they arrive in virtual time.
 *
 * ```ts
 * const fake = new FakeSignalSource().at(0, { 'battery.percent': 80 }).at(60_000, { 'battery.percent': 15 });
 * ```
 */
export class FakeSignalSource extends PushSource {
  private readonly rows: TraceRow[] = [];

  constructor(name = 'fake') {
    super(name);
  }

  /** Schedules readings `ms` after subscription (`null` marks a signal unavailable). Rows may be added in any order. */
  at(ms: number, values: SignalValues): this {
    patchFromValues(values);
    const clean = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v ?? null]));
    this.rows.push({ tMs: ms, values: clean });
    this.rows.sort((a, b) => a.tMs - b.tMs);
    return this;
  }

  /** Pushes readings to current subscribers now (`null` marks a signal unavailable). */
  push(values: SignalValues): void {
    this.emit(patchFromValues(values));
  }

  /** Reports signals as missing with the given quality now, as a failing probe would. */
  fail(names: readonly string[], quality: Exclude<Quality, 'ok'> = 'error'): void {
    patchFromValues(Object.fromEntries(names.map((n) => [n, null])));
    this.emit(Object.fromEntries(names.map((n) => [n, missingReading(quality)])));
  }

  override readings(scheduler?: SchedulerLike): Observable<SignalPatch> {
    const scheduled = scheduler && this.rows.length > 0 ? traceSource(this.trace()).readings(scheduler) : of();
    return merge(super.readings(), scheduled);
  }

  /** The scheduled readings as a trace. */
  trace(): Trace {
    return {
      name: this.name,
      signals: [...new Set(this.rows.flatMap((r) => Object.keys(r.values)))],
      rows: [...this.rows],
    };
  }
}

/** A trace from rows such as `{ t_ms: 0, 'battery.percent': 80 }` (validated like a JSON trace). */
export function traceFromRows(
  rows: readonly Readonly<Record<string, number | boolean | null>>[],
  name = 'inline',
): Trace {
  return parseTraceJson(JSON.stringify(rows), { file: name });
}

/** A stitch for {@link catalogOf}: cost, accuracy and, optionally, a CPU batch-1 latency. */
export interface FakeStitch {
  id: number;
  macs: number;
  accuracy?: number;
  /** Profiled latency on `cpu` at batch 1, ms. */
  latencyMs?: number;
}

/** A catalog from a few made-up stitches; the frontier is every stitch. */
export function catalogOf(stitches: readonly FakeStitch[]): StitchCatalog {
  return catalogFromManifest({
    stitches: stitches.map((s) => ({
      id: s.id,
      macs: s.macs,
      accuracy: s.accuracy,
      params: undefined,
      latency:
        s.latencyMs === undefined
          ? undefined
          : { cpu: { '1': { p50Ms: s.latencyMs, p95Ms: s.latencyMs, device: 'test', at: '' } } },
    })),
  });
}

/** Inputs of {@link replayTrace}. */
export interface ReplayInputs {
  /** A trace, or sources (e.g. several {@link FakeSignalSource}s). */
  trace: Trace | readonly SignalSource[];
  profile: Profile;
  catalog: StitchCatalog;
  /** Provider and batch for latency profiles. */
  context?: () => Omit<PolicyContext, 'held'>;
}

/** What {@link replayTrace} observed. */
export type Replay = PolicyReplay;

/**
 * Replays a trace through the signal pipeline (smoothing and trend as set in the profile's
 * `sampling`), the engine and the switching discipline, in virtual time: a day-long trace takes
 * milliseconds. Pending switches after the last row are played out.
 */
export function replayTrace(inputs: ReplayInputs): Replay {
  const sources = 'rows' in inputs.trace ? [traceSource(inputs.trace)] : inputs.trace;
  const { smoothing, trendWindowMs } = inputs.profile.sampling;
  return replayPolicy({
    state$: (scheduler) => deviceState$(sources, { scheduler, smoothing, trendWindowMs }),
    profile: inputs.profile,
    catalog: inputs.catalog,
    context: inputs.context,
  });
}
export { VirtualClock } from './virtual-clock.js';
