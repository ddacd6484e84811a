import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { profileFromObject } from '../../src/profiles/parse.js';
import { simulate } from '../../src/runtime/simulate.js';
import { traceSource, type Trace, type TraceRow } from '../../src/signals/trace.js';
import { catalogOf } from '../../src/testing/index.js';

const catalog = catalogOf([
  { id: 0, macs: 1, accuracy: 0.6, latencyMs: 1 },
  { id: 1, macs: 2, accuracy: 0.7, latencyMs: 2 },
  { id: 2, macs: 4, accuracy: 0.8, latencyMs: 4 },
]);
const profile = profileFromObject({
  rules: [
    { name: 'low', when: { 'battery.percent': { below: 30 } }, limit: { maxCostFraction: 0.5 } },
    { name: 'slow', when: { 'inference.slowdown': { above: 1.5 } }, limit: { maxCostFraction: 0.3 } },
  ],
});

/** A day at 1 Hz (or any length): the battery drains and recharges, the slowdown comes and goes. */
function longTrace(rows: number): Trace {
  const list: TraceRow[] = [];
  for (let i = 0; i < rows; i++) {
    list.push({
      tMs: i * 1000,
      values: { 'battery.percent': 100 - ((i / 60) % 100), 'inference.slowdown': i % 3600 < 600 ? 2 : 1 },
    });
  }
  return { name: 'long', signals: ['battery.percent', 'inference.slowdown'], rows: list };
}

describe('simulate on long traces', () => {
  it('replays 100,000 rows in one pass with bounded memory (keep: false)', () => {
    const sim = simulate({ trace: longTrace(100_000), profile, catalog, keep: false });
    expect(sim.endMs).toBe(99_999_000);
    expect(sim.replay.states).toEqual([]);
    expect(sim.replay.decisions).toEqual([]);
    // Slowed down for 10 of every 60 minutes; the battery low for 30 of every 100: switches, but few.
    expect(sim.replay.switches.length).toBeGreaterThan(50);
    expect(sim.replay.switches.length).toBeLessThan(200);
    expect(sim.timePerStitch.reduce((a, s) => a + s.ms, 0)).toBe(99_999_000);
  });

  it('keeps every state and decision when asked (the default), one per row', () => {
    const sim = simulate({ trace: longTrace(5000), profile, catalog });
    expect(sim.replay.states).toHaveLength(5000);
    // One decision per row, plus the profile's own before the first reading.
    expect(sim.replay.decisions).toHaveLength(5001);
  });

  it('schedules one row at a time: never more than one pending action, never nested', () => {
    const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
    let emitted = 0;
    let maxPending = 0;
    traceSource(longTrace(50_000))
      .readings(scheduler)
      .subscribe(() => {
        emitted++;
        maxPending = Math.max(maxPending, scheduler.actions.length);
      });
    scheduler.flush();
    expect(emitted).toBe(50_000);
    expect(maxPending).toBeLessThanOrEqual(1);
  });
});
